//! Checks of a stack against its data file: the dataset exists and has the label and the
//! categorical columns the stack names. Not part of [`super::load`] (which reads only the stack
//! file): `validate` and `up` run it, so that a misspelt column is found before anything is built.

use std::path::Path;

use super::Loaded;
use super::yaml::{self, Node, Value};
use crate::diag::{Diagnostic, did_you_mean};

/// What the data check found: errors (with their position in the stack file) and warnings.
#[derive(Debug, Default)]
pub struct DataCheck {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<String>,
}

/// The node at a path of mapping keys and list indexes (`["dataset", "label", "column"]`).
fn node_at<'a>(root: &'a Node, path: &[&str]) -> Option<&'a Node> {
    let mut n = root;
    for key in path {
        n = match &n.value {
            Value::Map(m) => &m.get(*key)?.1,
            Value::Seq(items) => items.get(key.parse::<usize>().ok()?)?,
            Value::Scalar { .. } => return None,
        };
    }
    Some(n)
}

/// The diagnostic for a field of the stack file, at the field's value.
fn at(src_root: Option<&Node>, path: &[&str], width: usize, message: String) -> Diagnostic {
    let pos = src_root
        .and_then(|r| node_at(r, path))
        .map(|n| n.pos)
        .unwrap_or(yaml::Pos { line: 1, col: 1 });
    Diagnostic::new(pos, width, message)
}

/// Check the stack's dataset: a missing file is a warning (the data may be elsewhere, e.g. only
/// in the cloud lake); a label or categorical column that the file does not have is an error,
/// with the closest column name as a hint.
/// A warning when training on the CSV file at `path` would need more memory than the train
/// function has (the function would refuse the data; see `jobs::train::check_memory`).
fn memory_warning(loaded: &Loaded, path: &Path) -> Option<String> {
    use std::io::Read as _;
    let train = loaded
        .stack
        .functions
        .get(&mlinfra_core::FunctionName::Train)?;
    let size = std::fs::metadata(path).ok()?.len();
    let mut magic = [0u8; 4];
    let n = std::fs::File::open(path).ok()?.read(&mut magic).ok()?;
    if mlinfra_core::data::parquet::is_parquet(&magic[..n]) {
        // The lake keeps it as CSV, of a size not known here.
        return None;
    }
    let need = mlinfra_core::jobs::train::training_memory_mib(usize::try_from(size).ok()?);
    (need > train.memory_mb).then(|| {
        format!(
            "`dataset.source` `{}` is {} MiB: training on it takes about {need} MiB, more than `functions.train.memory_mb` ({}), so the train function would refuse it\nhint: set `functions.train.memory_mb` to {} or more",
            super::shown(&loaded.stack.dataset.source),
            size.div_ceil(1 << 20),
            train.memory_mb,
            mlinfra_core::jobs::train::memory_setting_mb(need)
        )
    })
}

pub fn check(loaded: &Loaded) -> DataCheck {
    let mut out = DataCheck::default();
    let d = &loaded.stack.dataset;
    let src = std::fs::read_to_string(&loaded.path).unwrap_or_default();
    let root = yaml::parse(&src).ok();
    let path = Path::new(&d.source);
    let header = match csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .and_then(|mut r| r.records().next().transpose())
    {
        Ok(Some(h)) => h,
        Ok(None) => {
            out.warnings.push(format!(
                "`dataset.source` `{}` is empty: its columns cannot be checked",
                super::shown(&d.source)
            ));
            return out;
        }
        Err(e) => {
            let why = match e.kind() {
                csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                    "does not exist".to_string()
                }
                _ => format!("cannot be read ({e})"),
            };
            out.warnings.push(format!(
                "`dataset.source` `{}` {why} (relative paths are relative to the stack file's directory): the label and categorical columns are not checked, and `data` and `pipeline` need the file",
                super::shown(&d.source)
            ));
            return out;
        }
    };
    if let Some(w) = memory_warning(loaded, path) {
        out.warnings.push(w);
    }
    let columns: Vec<&str> = header.iter().map(str::trim).collect();
    let list = columns
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut missing = |name: &str, field: &str, path: &[&str]| {
        if columns.contains(&name) {
            return;
        }
        let d = at(
            root.as_ref(),
            path,
            name.chars().count(),
            format!(
                "`{field}` is `{name}`, which is not a column of `{}`",
                super::shown(&loaded.stack.dataset.source)
            ),
        );
        out.errors
            .push(match did_you_mean(name, columns.iter().copied()) {
                Some(c) => d.with_hint(format!("did you mean `{c}`?")),
                None => d.with_hint(format!("the columns are {list}")),
            });
    };
    missing(
        &d.label.column,
        "dataset.label.column",
        &["dataset", "label", "column"],
    );
    for (i, c) in d.categorical.iter().enumerate() {
        let idx = i.to_string();
        missing(c, "dataset.categorical", &["dataset", "categorical", &idx]);
    }
    out
}
