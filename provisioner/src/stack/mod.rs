//! The stack file: parse, decode and check, all without touching the network.
//!
//! [`load`] reads a file and returns a [`Stack`] or every problem found, each a [`Diagnostic`]
//! with a position. Validation is pure: no filesystem beyond reading the file itself, no network,
//! no credentials; checks against the environment belong to `plan`.

pub mod data;
pub mod decode;
pub mod names;
pub mod schedule;
pub mod schema;
pub mod yaml;

use std::path::{Path, PathBuf};

pub use schema::{EnvKind, Stack};

use crate::diag::{Diagnostic, render_all};

/// A stack file that failed to load: the file, its text and every problem found.
#[derive(Debug)]
pub struct StackError {
    pub file: String,
    pub src: String,
    pub diags: Vec<Diagnostic>,
    /// Set when the file could not be read at all.
    pub io: Option<String>,
}

impl StackError {
    /// Render for people: each diagnostic with its snippet, then a count.
    pub fn render(&self) -> String {
        match &self.io {
            Some(e) => format!("error: cannot read stack file `{}`: {e}\n", self.file),
            None => render_all(&self.diags, &self.file, &self.src),
        }
    }
}

impl std::fmt::Display for StackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.render().trim_end())
    }
}

impl std::error::Error for StackError {}

/// A stack together with where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: PathBuf,
    pub stack: Stack,
}

impl Loaded {
    /// The stack file's directory, where its relative paths start (`.` for a bare file name).
    pub fn dir(&self) -> &Path {
        dir_of(&self.path)
    }
}

fn dir_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Parse and check stack source text; `file` is only used in messages.
pub fn parse_str(file: &str, src: &str) -> Result<Stack, StackError> {
    // YAML counts a lone CR as a line break; `str::lines` does not. Normalise so that the line
    // numbers of diagnostics and the snippets they show agree.
    let normalized;
    let src = if src.contains('\r') {
        normalized = src.replace("\r\n", "\n").replace('\r', "\n");
        normalized.as_str()
    } else {
        src
    };
    let fail = |diags| StackError {
        file: file.to_string(),
        src: src.to_string(),
        diags,
        io: None,
    };
    let root = yaml::parse(src).map_err(|errs| {
        fail(
            errs.into_iter()
                .map(|e| Diagnostic::new(e.pos, e.len, e.message).with_hint_opt(e.hint))
                .collect(),
        )
    })?;
    let mut cx = decode::Cx::default();
    match schema::decode(&root, &mut cx) {
        Some(stack) if cx.diags.is_empty() => Ok(stack),
        _ => {
            let mut diags = cx.diags;
            diags.sort_by_key(|d| (d.line, d.column));
            diags.dedup();
            Err(fail(diags))
        }
    }
}

/// Read and check a stack file.
pub fn load(path: &Path) -> Result<Loaded, StackError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| StackError {
        file: file.clone(),
        src: String::new(),
        diags: Vec::new(),
        io: Some(e.to_string()),
    })?;
    let src = String::from_utf8(bytes).map_err(|e| StackError {
        file: file.clone(),
        src: String::new(),
        diags: Vec::new(),
        io: Some(format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )),
    })?;
    let mut stack = parse_str(&file, &src)?;
    // Absolute once, here: every path derived from the stack file (the data, the environment's
    // directory, the packages unpacked in it, the programs started from it) stays right whatever
    // a later step takes as its working directory.
    let base = std::path::absolute(dir_of(path)).map_err(|e| StackError {
        file: file.clone(),
        src: String::new(),
        diags: Vec::new(),
        io: Some(format!("cannot resolve its directory: {e}")),
    })?;
    resolve_paths(&mut stack, &base);
    Ok(Loaded {
        path: path.to_path_buf(),
        stack,
    })
}

/// Resolve the stack's relative paths (the dataset, its schema, the local environment's
/// directory) against the directory of the stack file, as Compose and Terraform do, so that every
/// command finds the same files and the same platform from any working directory. The local
/// environment's directory defaults to `.mlinfra/<name>` beside the stack file.
pub fn resolve_paths(stack: &mut Stack, base: &Path) {
    let resolve = |p: &str| join_lexically(base, Path::new(p)).display().to_string();
    stack.dataset.source = resolve(&stack.dataset.source);
    if let Some(s) = &stack.dataset.schema {
        stack.dataset.schema = Some(resolve(s));
    }
    let dir = stack
        .environments
        .local
        .dir
        .clone()
        .unwrap_or_else(|| format!(".mlinfra/{}", stack.name));
    stack.environments.local.dir = Some(resolve(&dir));
}

/// A path as messages show it: relative to the working directory when it is under it (as the
/// user wrote it, usually), else as it is.
pub fn shown(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok())
        .filter(|rel| !rel.as_os_str().is_empty())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// `base/path` with `.` and `dir/..` removed without reading the filesystem (`stacks/../x` is
/// `x`); an absolute `path` is kept as it is.
pub fn join_lexically(base: &Path, path: &Path) -> PathBuf {
    use std::path::Component;
    if path.is_absolute() {
        return path.to_path_buf();
    }
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in base.components().chain(path.components()) {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

/// Every field path the schema knows, as the reference page names them. Decoding a full stack
/// visits every field (absent sections are read with their defaults), so this is complete for
/// the sections with fixed keys and for user-named entries present in `src`.
pub fn known_fields(src: &str) -> std::collections::BTreeSet<String> {
    let mut cx = decode::Cx::default();
    if let Ok(root) = yaml::parse(src) {
        let _ = schema::decode(&root, &mut cx);
    }
    cx.fields
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    /// Issue 30: the paths derived from a relative stack path are absolute, so a program
    /// started from the environment's directory with another working directory finds them.
    #[test]
    fn a_relative_stack_path_resolves_to_absolute_paths() {
        use std::path::Path;
        // cargo runs unit tests in the package's directory: this path is relative to it.
        let given = Path::new("../stacks/heart-disease.yaml");
        let l = super::load(given).unwrap();
        let source = Path::new(&l.stack.dataset.source);
        assert!(source.is_absolute(), "{}", source.display());
        assert!(source.is_file(), "{}", source.display());
        assert!(source.ends_with("examples/heart-disease/processed.cleveland.csv"));
        let dir = l.stack.environments.local.dir.unwrap();
        assert!(Path::new(&dir).is_absolute(), "{dir}");
        assert!(!dir.contains(".."), "{dir}");
        assert!(dir.ends_with(".mlinfra/heart-disease"), "{dir}");
        // Messages still name the file as it was given.
        assert_eq!(l.path, given);
    }

    #[test]
    fn paths_under_the_working_directory_are_shown_relative_to_it() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(super::shown(cwd.join(".mlinfra/x")), ".mlinfra/x");
        assert_eq!(super::shown("/elsewhere/x"), "/elsewhere/x");
        assert_eq!(super::shown("relative/x"), "relative/x");
        assert_eq!(super::shown(&cwd), cwd.display().to_string());
    }

    #[test]
    fn carriage_returns_do_not_shift_snippets() {
        let e = super::parse_str(
            "s.yaml",
            "version: 1\rname: Bad_Name\r\nlake:\n  bucket: ok-lake\n",
        )
        .unwrap_err();
        let text = e.render();
        assert!(text.contains("2 | name: Bad_Name"), "{text}");
    }

    /// The example stack with its label section replaced.
    fn with_label(label: &str) -> String {
        let src = include_str!("../../../stacks/heart-disease.yaml");
        let from = src.find("  label:\n").unwrap();
        let to = src.find("  categorical:").unwrap();
        format!("{}{label}{}", &src[..from], &src[to..])
    }

    #[test]
    fn a_label_names_its_positive_class_or_compares_but_not_both() {
        let s = super::parse_str(
            "s.yaml",
            &with_label("  label:\n    column: diagnosis\n    positive: malignant\n"),
        )
        .unwrap();
        assert_eq!(s.dataset.label.positive.as_deref(), Some("malignant"));
        assert_eq!(s.dataset.label.positive_when, None);
        let e = super::parse_str(
            "s.yaml",
            &with_label(
                "  label:\n    column: num\n    positive_when: \"> 0\"\n    positive: \"1\"\n",
            ),
        )
        .unwrap_err();
        let text = e.render();
        assert!(
            text.contains("`dataset.label.positive` and `dataset.label.positive_when` both say which rows are positive"),
            "{text}"
        );
    }
}
