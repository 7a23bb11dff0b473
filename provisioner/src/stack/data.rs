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
                d.source
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
                d.source
            ));
            return out;
        }
    };
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
                loaded.stack.dataset.source
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
