//! Reading a data file the user names (or the stack's `dataset.source`): its size bounded, a
//! Parquet file as the CSV it converts to, the read options and label rule from the stack; an
//! image model's evaluation pictures, each bounded.

use std::path::{Path, PathBuf};

use mlinfra_core::data::{LabelRule, ReadOptions};
use mlinfra_core::schema::Schema;

use super::Failure;
use crate::cli::{DataArgs, Global};
use crate::stack::Stack;

/// The largest picture file an image model's evaluation reads.
const MAX_PICTURE_BYTES: u64 = 64 * 1024 * 1024;

/// The reader of an image model's evaluation pictures, by their paths relative to `base` (the
/// manifest's directory): each file at most [`MAX_PICTURE_BYTES`].
pub fn pictures_under(base: PathBuf) -> impl Fn(&str) -> Result<Vec<u8>, String> {
    move |p: &str| {
        let path = base.join(p);
        let size = std::fs::metadata(&path)
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?
            .len();
        if size > MAX_PICTURE_BYTES {
            return Err(format!(
                "`{}` is {size} bytes; the largest picture read is {MAX_PICTURE_BYTES}",
                path.display()
            ));
        }
        std::fs::read(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
    }
}

/// The stack, when there is one to take defaults from.
pub fn optional_stack(g: &Global) -> Result<Option<Stack>, Failure> {
    if g.file.is_none() && super::default_stack_file().is_err() {
        return Ok(None);
    }
    super::load_stack(g).map(|l| Some(l.stack))
}

/// How to read data, from the stack's `dataset` (or the defaults without a stack).
pub fn read_options(stack: Option<&Stack>) -> ReadOptions {
    match stack {
        Some(s) => ReadOptions {
            missing: s.dataset.missing_values.clone(),
            categorical: s.dataset.categorical.clone(),
        },
        None => ReadOptions::default(),
    }
}

pub fn label_rule(stack: Option<&Stack>) -> LabelRule {
    let Some(label) = stack.map(|s| &s.dataset.label) else {
        return LabelRule::Multiclass;
    };
    match (&label.positive_when, &label.positive) {
        (Some(c), _) => LabelRule::Binary {
            op: c.op,
            threshold: c.value,
        },
        (None, Some(value)) => LabelRule::Positive {
            value: value.clone(),
        },
        (None, None) => LabelRule::Multiclass,
    }
}

pub fn data_path(args: &DataArgs, stack: Option<&Stack>) -> Result<PathBuf, Failure> {
    match (&args.data, stack) {
        (Some(p), _) => Ok(p.clone()),
        (None, Some(s)) => Ok(PathBuf::from(&s.dataset.source)),
        (None, None) => Err(Failure::new(
            "no data: pass `--data FILE`, or run where a stack file names `dataset.source`",
        )),
    }
}

/// The largest data file read (the pipeline holds the data in memory): 1 GiB, or
/// `MLINFRA_MAX_DATA_BYTES`.
pub fn max_data_bytes() -> u64 {
    std::env::var("MLINFRA_MAX_DATA_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 30)
}

pub fn read_bytes(path: &Path) -> Result<Vec<u8>, Failure> {
    let len = std::fs::metadata(path)
        .map_err(|e| Failure::new(format!("cannot read `{}`: {e}", crate::stack::shown(path))))?
        .len();
    let max = max_data_bytes();
    if len > max {
        return Err(Failure::new(format!(
            "`{}` is {len} bytes; mlinfra reads data into memory and takes files up to {max} bytes\nhint: split the file, or raise the limit with MLINFRA_MAX_DATA_BYTES if this machine has the memory (training takes 4 to 7 times a CSV file's size: 0.42 GiB for 1M rows of 13 features in 64 MB, 4.1 GiB for 15M rows in 948 MiB, as `bench/train_1m.sh` measures)",
            crate::stack::shown(path)
        )));
    }
    std::fs::read(path)
        .map_err(|e| Failure::new(format!("cannot read `{}`: {e}", crate::stack::shown(path))))
}

/// The data file's bytes as CSV: a Parquet file converted (see [`mlinfra_core::data::parquet`]),
/// a CSV file as it is.
pub fn as_csv<'a>(path: &Path, bytes: &'a [u8]) -> Result<std::borrow::Cow<'a, [u8]>, Failure> {
    mlinfra_core::data::parquet::to_csv(bytes)
        .map_err(|e| Failure::new(format!("`{}`: {e}", crate::stack::shown(path))))
}

pub fn load_schema(path: &Path) -> Result<Schema, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::new(format!(
            "cannot read schema `{}`: {e}",
            crate::stack::shown(path)
        ))
    })?;
    Schema::from_json(&text)
        .map_err(|e| Failure::new(format!("schema `{}`: {e}", crate::stack::shown(path))))
}
