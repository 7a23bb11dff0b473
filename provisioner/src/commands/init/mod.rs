//! `mlinfra init --data FILE --label COL`: a commented stack file inferred from a data file —
//! the label's task (binary with its positive class, or multiclass), the integer-coded and text
//! categorical columns, the missing-value markers, a search space and a memory size that suit
//! the data's size. The file is checked as `mlinfra validate` checks it before it appears, and
//! an existing file is never overwritten. With `--ci github`, the project's CI/CD too
//! ([`ci`]).

mod ci;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use mlinfra_core::data::{Frame, Values};
use serde_json::json;

use super::Failure;
use crate::cli::{Global, InitArgs};
use crate::output::Out;
use crate::stack::names;

/// Cells that mean "missing" in many exports, recognised in otherwise numeric columns.
const MISSING_MARKERS: [&str; 10] = [
    "NA", "N/A", "na", "n/a", "NaN", "nan", "null", "NULL", "None", "-",
];

/// An integer column with at most this many distinct values is taken as categorical.
const MAX_CODES: usize = 10;

/// A numeric label with more distinct values than this is a regression's, not classes.
const MAX_CLASSES: usize = 20;

/// What the data says about the stack to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub name: String,
    pub rows: usize,
    pub missing: Vec<String>,
    pub task: Task,
    /// Categorical columns: integer codes first, then text, each in file order.
    pub categorical: Vec<String>,
    pub text_features: Vec<String>,
    pub numeric: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    /// Positive when the numeric label compares so (`> 0`).
    PositiveWhen {
        condition: String,
        note: String,
    },
    /// Positive when the label is this value.
    Positive {
        value: String,
        note: String,
    },
    Multiclass {
        classes: Vec<String>,
    },
    /// The label's value is predicted: a number with many distinct values, or fractions.
    Regression {
        note: String,
    },
}

pub fn run(g: &Global, a: &InitArgs) -> Result<i32, Failure> {
    let out = Out::new(g);
    let target = g
        .file
        .clone()
        .unwrap_or_else(|| PathBuf::from("mlinfra.yaml"));
    let (Some(data), Some(label)) = (&a.data, &a.label) else {
        // `--ci` alone: the CI/CD of the existing stack file.
        return ci::write(&out, &target);
    };
    if target.exists() {
        return Err(Failure::new(format!(
            "`{}` already exists: nothing written\nhint: choose another file with `-f FILE`, or remove it first",
            target.display()
        )));
    }
    let bytes = std::fs::read(data)
        .map_err(|e| Failure::new(format!("cannot read `{}`: {e}", data.display())))?;
    let name = match &a.name {
        Some(n) => {
            names::check_name("--name", n).map_err(|(message, hint)| {
                Failure::new(match hint {
                    Some(h) => format!("{message}\nhint: {h}"),
                    None => message,
                })
            })?;
            n.clone()
        }
        None => name_from(data),
    };
    let p = propose(
        &bytes,
        data,
        label,
        a.positive.as_deref(),
        a.positive_when.as_deref(),
        name,
    )?;
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let source = relative_to(data, dir);
    let text = render(&p, &source, label);
    // Checked as `validate` checks it, from a file beside the target, before the target exists.
    let tmp = dir.join(format!(".mlinfra-init-{}.yaml", std::process::id()));
    std::fs::write(&tmp, &text)
        .map_err(|e| Failure::new(format!("cannot write in `{}`: {e}", dir.display())))?;
    let checked = check(&tmp);
    let linked = checked.and_then(|()| {
        // A hard link does not replace an existing file: a file created meanwhile is kept.
        std::fs::hard_link(&tmp, &target)
            .map_err(|e| Failure::new(format!("cannot create `{}`: {e}", target.display())))
    });
    let _ = std::fs::remove_file(&tmp);
    linked?;
    out.progress(format!(
        "{} rows, {} columns besides the label `{}`",
        p.rows,
        p.categorical.len() + p.numeric.len(),
        label
    ));
    match &p.task {
        Task::PositiveWhen { note, .. }
        | Task::Positive { note, .. }
        | Task::Regression { note } => out.progress(note),
        Task::Multiclass { classes } => out.progress(format!(
            "multiclass: {} classes ({})",
            classes.len(),
            classes.join(", ")
        )),
    }
    if !p.text_features.is_empty() {
        out.progress(format!(
            "text categories (strings in API requests): {}",
            p.text_features.join(", ")
        ));
    }
    let next = "pipeline run";
    out.result(
        format!(
            "wrote `{}`: stack `{}`. Next: `mlinfra -f {0} up`, then `mlinfra -f {0} {next}`\n",
            target.display(),
            p.name
        ),
        &json!({
            "file": target.display().to_string(),
            "stack": p.name,
            "rows": p.rows,
            "categorical": p.categorical,
            "numeric": p.numeric,
            "missing_values": p.missing,
        }),
    );
    if a.ci.is_some() {
        ci::write(&out, &target)?;
    }
    Ok(0)
}

/// Load and check the written stack as `mlinfra validate` does.
fn check(path: &Path) -> Result<(), Failure> {
    let loaded = crate::stack::load(path).map_err(|e| {
        Failure::new(format!(
            "the stack inferred from the data does not validate (a bug in `init`; nothing written):\n{}",
            e.render()
        ))
    })?;
    let data = crate::stack::data::check(&loaded);
    if let Some(e) = data.errors.first() {
        return Err(Failure::new(format!(
            "the stack inferred from the data does not validate (a bug in `init`; nothing written): {}",
            e.message
        )));
    }
    super::desired_graph(&loaded.stack).map_err(|e| Failure::new(e.message))?;
    Ok(())
}

/// A stack name from a file name, valid by the stack's name rules.
fn name_from(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = names::normalize(&stem);
    if name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name
    } else {
        names::normalize(&format!("model-{name}"))
    }
}

/// `path` as written from `dir` (absolute paths stay absolute).
fn relative_to(path: &Path, dir: &Path) -> String {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (p, d) = (abs(path), abs(dir));
    let pc: Vec<_> = p.components().collect();
    let dc: Vec<_> = d.components().collect();
    let common = pc.iter().zip(&dc).take_while(|(a, b)| a == b).count();
    if common <= 1 {
        return p.display().to_string();
    }
    let mut rel = PathBuf::new();
    for _ in common..dc.len() {
        rel.push("..");
    }
    for c in &pc[common..] {
        rel.push(c);
    }
    rel.display().to_string()
}

/// Infer the stack from a data file's bytes.
pub fn propose(
    bytes: &[u8],
    path: &Path,
    label: &str,
    positive: Option<&str>,
    positive_when: Option<&str>,
    name: String,
) -> Result<Proposal, Failure> {
    let file = path.display();
    let converted = mlinfra_core::data::parquet::to_csv(bytes)
        .map_err(|e| Failure::new(format!("`{file}`: {e}")))?;
    let bytes = &converted[..];
    let head = &bytes[..bytes.len().min(64 * 1024)];
    if head.contains(&0)
        || (std::str::from_utf8(head).is_err() && std::str::from_utf8(bytes).is_err())
    {
        return Err(Failure::new(format!(
            "`{file}` is neither CSV nor Parquet: it holds binary data\nhint: `init` reads a CSV file with a header row, or a Parquet file"
        )));
    }
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let header: Vec<String> = String::from_utf8_lossy(first)
        .trim_end_matches('\r')
        .split(',')
        .map(|h| h.trim().trim_matches('"').to_string())
        .collect();
    if !header.is_empty() && header.iter().all(|h| h.parse::<f64>().is_ok()) {
        return Err(Failure::new(format!(
            "`{file}` has no header row: its first line holds only numbers ({})\nhint: add a first line naming the columns, e.g. `age,sex,...,{label}`",
            header
                .iter()
                .take(4)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut options = mlinfra_core::data::ReadOptions::default();
    let read = |o: &mlinfra_core::data::ReadOptions| {
        mlinfra_core::data::read_csv(bytes, o)
            .map_err(|e| Failure::new(format!("`{file}` cannot be read as CSV: {e}")))
    };
    let mut frame = read(&options)?;
    let markers = missing_markers(&frame);
    if !markers.is_empty() {
        options.missing.extend(markers);
        frame = read(&options)?;
    }
    if frame.column(label).is_none() {
        return Err(Failure::new(format!(
            "label column `{label}` is not in `{file}`; its columns are {}",
            frame
                .names()
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let task = task(&frame, label, positive, positive_when)?;
    let mut codes = Vec::new();
    let mut text_features = Vec::new();
    let mut numeric = Vec::new();
    for c in frame.columns.iter().filter(|c| c.name != label) {
        match &c.values {
            Values::Text(_) => text_features.push(c.name.clone()),
            Values::Number(v) => {
                let present: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
                let distinct: BTreeSet<i64> = present.iter().map(|x| *x as i64).collect();
                if !present.is_empty()
                    && present.iter().all(|x| x.fract() == 0.0 && x.abs() < 1e15)
                    && distinct.len() <= MAX_CODES
                {
                    codes.push(c.name.clone());
                } else {
                    numeric.push(c.name.clone());
                }
            }
        }
    }
    let mut categorical = codes;
    categorical.extend(text_features.iter().cloned());
    Ok(Proposal {
        name,
        rows: frame.rows,
        missing: options.missing,
        task,
        categorical,
        text_features,
        numeric,
    })
}

/// Markers such as `NA` that sit in otherwise numeric columns.
fn missing_markers(frame: &Frame) -> Vec<String> {
    let mut found = BTreeSet::new();
    for c in &frame.columns {
        let Values::Text(cells) = &c.values else {
            continue;
        };
        let mut markers = BTreeSet::new();
        let mut numbers = 0;
        let numeric = cells.iter().flatten().all(|cell| {
            if MISSING_MARKERS.contains(&cell) {
                markers.insert(cell.to_string());
                true
            } else {
                numbers += 1;
                cell.trim().parse::<f64>().is_ok()
            }
        });
        if numeric && numbers > 0 {
            found.extend(markers);
        }
    }
    found.into_iter().collect()
}

/// The label's task, said in words too.
fn task(
    frame: &Frame,
    label: &str,
    positive: Option<&str>,
    positive_when: Option<&str>,
) -> Result<Task, Failure> {
    let col = frame
        .column(label)
        .ok_or_else(|| Failure::new("no label"))?;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..col.values.len() {
        if let Some(c) = col.values.cell(i) {
            *counts.entry(c).or_default() += 1;
        }
    }
    let numeric = matches!(col.values, Values::Number(_));
    let listed = || {
        counts
            .iter()
            .map(|(c, n)| format!("`{c}` ({n})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if counts.len() < 2 {
        return Err(Failure::new(match counts.keys().next() {
            Some(c) => format!(
                "label column `{label}` holds a single class `{c}`: a classifier needs at least two"
            ),
            None => format!("label column `{label}` has no values"),
        }));
    }
    if let Some(condition) = positive_when {
        if !numeric {
            return Err(Failure::new(format!(
                "`--positive-when` compares numbers, but label column `{label}` holds text ({})\nhint: name the positive class with `--positive VALUE`",
                listed()
            )));
        }
        return Ok(Task::PositiveWhen {
            condition: condition.trim().to_string(),
            note: format!("binary: positive when `{label}` {}", condition.trim()),
        });
    }
    if let Some(value) = positive {
        if !counts.contains_key(value) {
            return Err(Failure::new(format!(
                "`--positive {value}`: label column `{label}` has no such value; its values are {}",
                listed()
            )));
        }
        if counts.len() != 2 {
            return Err(Failure::new(format!(
                "`--positive` names one of two classes, but label column `{label}` has {} values ({})\nhint: with numbers, `--positive-when \"> 0\"` splits them in two; without either flag the task is multiclass",
                counts.len(),
                listed()
            )));
        }
        return Ok(Task::Positive {
            value: value.to_string(),
            note: format!("binary: the positive class is `{value}` (as asked)"),
        });
    }
    if counts.len() == 2 {
        let (a, b) = {
            let mut k = counts.keys();
            (
                k.next().cloned().unwrap_or_default(),
                k.next().cloned().unwrap_or_default(),
            )
        };
        if numeric {
            let lo = if a.parse::<f64>().unwrap_or(0.0) <= b.parse::<f64>().unwrap_or(0.0) {
                a
            } else {
                b
            };
            return Ok(Task::PositiveWhen {
                condition: format!("> {lo}"),
                note: format!("binary: positive when `{label}` > {lo}"),
            });
        }
        // The rarer value is usually the one to find (a disease, a fraud); on a tie, the last.
        let value = if counts[&a] < counts[&b] { a } else { b };
        return Ok(Task::Positive {
            note: format!(
                "binary: the positive class is `{value}`, the rarer of {} (choose with `--positive VALUE`)",
                listed()
            ),
            value,
        });
    }
    // A number with fractions, or with more distinct values than a coded category has: its
    // value is what to predict.
    if numeric {
        let fractional = counts
            .keys()
            .any(|c| c.parse::<f64>().is_ok_and(|x| x.fract() != 0.0));
        if fractional || counts.len() > MAX_CLASSES {
            return Ok(Task::Regression {
                note: format!(
                    "regression: `{label}` is a number with {} distinct values{} (for classes, `--positive-when \"> VALUE\"`)",
                    counts.len(),
                    if fractional {
                        ", fractions among them"
                    } else {
                        ""
                    }
                ),
            });
        }
    }
    Ok(Task::Multiclass {
        classes: counts.keys().cloned().collect(),
    })
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn list(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|i| quoted(i))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The stack file's text.
pub fn render(p: &Proposal, source: &str, label: &str) -> String {
    let label_rule = match &p.task {
        Task::PositiveWhen { condition, .. } => format!(
            "    # A binary task: a row is positive (class 1) when the label compares so.\n    positive_when: {}\n",
            quoted(condition)
        ),
        Task::Positive { value, .. } => format!(
            "    # A binary task: this value is the positive class (the other is the negative one).\n    positive: {}\n",
            quoted(value)
        ),
        Task::Multiclass { classes } => format!(
            "    # Multiclass ({} classes). For a binary task add `positive_when: \"> 0\"` (numbers)\n    # or `positive: VALUE` (one of two values).\n",
            classes.len()
        ),
        Task::Regression { note } => format!(
            "    # A regression ({note}): the model predicts the label's value (`model.task`).\n"
        ),
    };
    let (metric, min_metric) = match p.task {
        Task::Regression { .. } => (
            "rmse",
            "0              # the largest RMSE registered (0: no limit)",
        ),
        Task::Multiclass { .. } => ("f1", "0.5       # a model below this is not registered"),
        _ => (
            "roc_auc",
            "0.75       # a model below this is not registered",
        ),
    };
    let (task, linear) = match p.task {
        Task::Regression { .. } => (
            "\n  task: regression               # predicts the label's value, with a 90% interval\n  interval_level: 0.9            # the share of true values the interval covers\n  loss: squared_error            # or huber, absolute_error: robust to wild targets",
            "early_stopping_rounds: 10      # trees stop 10 rounds after their best on the validation fold\n    ridge:\n      l2: [0.1, 1.0, 10.0, 100.0]",
        ),
        _ => ("", "logistic_regression:\n      l2: [0.01, 0.1, 1.0, 10.0]"),
    };
    let family = if matches!(p.task, Task::Regression { .. }) {
        "ridge"
    } else {
        "logistic_regression"
    };
    // Smaller searches for larger data; the train function's memory grows with it.
    let (trials, folds, rounds) = match p.rows {
        0..=999 => (20, 5, "[50, 100, 200]"),
        1_000..=99_999 => (20, 5, "[100, 200]"),
        _ => (10, 3, "[100, 200]"),
    };
    let memory = (p.rows / 1000 * 4 + 1024).div_ceil(512) * 512;
    let memory = memory.clamp(1024, 10_240);
    format!(
        r#"# Written by `mlinfra init` from `{source}` ({rows} rows). Every field is described in
# docs/stack.md; `mlinfra validate` checks this file, `mlinfra diff` shows what `up` would do.
version: 1
name: {name}
default_env: local

environments:
  local: {{}}                     # the platform under .mlinfra/{name}, beside this file
  localstack:
    endpoint: http://localhost:4566
    region: us-east-1
  aws:
    region: us-east-1

lake:
  bucket: mlinfra-{name}-lake    # S3 bucket names are global: make it yours before `up --env aws`
  prediction_log_days: 90

dataset:
  source: {source_q}
  missing_values: {missing}       # cells that mean "no value"
  label:
    column: {label_q}
{label_rule}  # Columns whose values are categories, not quantities (integer codes or text).
  categorical: {categorical}
  split:
    eval_fraction: 0.2           # held out to evaluate the chosen model
    seed: 42

model:
  name: {name}{task}
  families: [{family}, gradient_boosted_trees]
  tuning:
    strategy: random
    trials: {trials}
    folds: {folds}
    metric: {metric}
    seed: 42
    {linear}
    gradient_boosted_trees:
      max_depth: [2, 3, 4, 6]
      learning_rate: [0.05, 0.1, 0.2]
      rounds: {rounds}
      min_leaf: [5, 10, 20]

promotion:
  metric: {metric}
  min_metric: {min_metric}
  min_improvement: 0.0           # over the model in Production
  staging: automatic
  production: approval           # a second, signed-in person approves

functions:
  etl:
    memory_mb: 512
    timeout_s: 120
  train:
    memory_mb: {memory}
    timeout_s: 900
    depends_on: [etl]
  predict:
    memory_mb: 256
    timeout_s: 10
  monitor:
    memory_mb: 512
    timeout_s: 300
    depends_on: [predict]

schedules:
  retrain:
    expression: cron(0 3 ? * MON *)   # weekly, Monday 03:00 UTC
    function: train
  monitor:
    expression: rate(1 day)
    function: monitor

api:
  stage: v1
  auth: api_key
  max_batch: 1000
  model_refresh_s: 30

monitoring:
  window_days: 7
  sample_rate: 1.0               # share of predictions logged for monitoring
  retrain_on: [drift, accuracy]
  cooldown_hours: 24
"#,
        source = source,
        rows = p.rows,
        name = p.name,
        source_q = quoted(source),
        missing = list(&p.missing),
        label_q = quoted(label),
        label_rule = label_rule,
        categorical = list(&p.categorical),
        trials = trials,
        folds = folds,
        metric = metric,
        task = task,
        rounds = rounds,
        min_metric = min_metric,
        memory = memory,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stack_name_from_any_file_name_is_valid() {
        for file in [
            "processed.cleveland.csv",
            "2024 Patients — Cleveland (processed, final version of the export).csv",
            "__.csv",
            "Data_Set.CSV",
        ] {
            let name = name_from(Path::new(file));
            assert!(names::check_name("name", &name).is_ok(), "{file}: `{name}`");
        }
        assert_eq!(
            name_from(Path::new("processed.cleveland.csv")),
            "processed-cleveland"
        );
    }
}
