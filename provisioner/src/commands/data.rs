//! `mlinfra data stats|schema|validate`: look at a dataset in the terminal, as JSON, or as a
//! self-contained HTML page.

use std::path::{Path, PathBuf};

use mlinfra_core::data::{Frame, Labels, read_csv, take_label};
use mlinfra_core::schema::Schema;
use mlinfra_core::stats::{self, Statistics};
use mlinfra_core::validate::{Anomalies, Severity, validate};

use super::Failure;
use crate::app::input::{
    as_csv, data_path, label_rule, load_schema, optional_stack, read_bytes, read_options,
};
use crate::cli::{DataArgs, DataCommand, Global, OutputFormat, ValidateDataArgs};
use crate::output::Out;
use crate::report::{html, num, table};
use crate::stack::Stack;

/// Read the data and split off the label when one is known.
fn load(
    args: &DataArgs,
    stack: Option<&Stack>,
) -> Result<(PathBuf, Frame, Option<Labels>), Failure> {
    let path = data_path(args, stack)?;
    let raw = read_bytes(&path)?;
    let bytes = as_csv(&path, &raw)?;
    let mut frame = read_csv(&bytes[..], &read_options(stack))
        .map_err(|e| Failure::new(format!("`{}`: {e}", crate::stack::shown(&path))))?;
    let label = args
        .label
        .clone()
        .or_else(|| stack.map(|s| s.dataset.label.column.clone()));
    let labels = match label {
        Some(col) => {
            let (l, _) = take_label(&mut frame, &col, &label_rule(stack))
                .map_err(|e| Failure::new(format!("`{}`: {e}", crate::stack::shown(&path))))?;
            Some(l)
        }
        None => None,
    };
    Ok((path, frame, labels))
}

pub async fn run(g: &Global, cmd: &DataCommand) -> Result<i32, Failure> {
    let out = Out::new(g);
    let stack = optional_stack(g)?;
    let stack = stack.as_ref();
    match cmd {
        DataCommand::Stats(args) => {
            let (path, frame, labels) = load(args, stack)?;
            let s = stats::compute(&frame, labels.as_ref());
            let title = format!("Statistics of {}", crate::stack::shown(&path));
            emit(&out, || stats_text(&s), &s, || html::statistics(&title, &s));
            Ok(0)
        }
        DataCommand::Schema(args) => {
            let (path, frame, labels) = load(args, stack)?;
            let schema = Schema::infer(&stats::compute(&frame, labels.as_ref()));
            let title = format!("Schema of {}", crate::stack::shown(&path));
            emit(
                &out,
                || schema_text(&schema),
                &schema,
                || html::schema(&title, &schema),
            );
            Ok(0)
        }
        DataCommand::Validate(ValidateDataArgs { data, schema }) => {
            let schema = match (schema, stack.and_then(|s| s.dataset.schema.as_ref())) {
                (Some(p), _) => load_schema(p)?,
                (None, Some(p)) => load_schema(Path::new(p))?,
                (None, None) => {
                    // The reference is the stack's dataset; the data checked is `--data`.
                    let reference = DataArgs {
                        data: None,
                        label: data.label.clone(),
                    };
                    let (_, frame, labels) = load(&reference, stack).map_err(|f| {
                        Failure::new(format!(
                            "{}\nhint: pass `--schema FILE` to check against a schema",
                            f.text()
                        ))
                    })?;
                    Schema::infer(&stats::compute(&frame, labels.as_ref()))
                }
            };
            let (path, frame, _) = load(data, stack)?;
            let a = validate(&frame, &schema);
            let title = format!("Anomalies of {}", crate::stack::shown(&path));
            emit(
                &out,
                || anomalies_text(&a),
                &a,
                || html::anomalies(&title, &a),
            );
            Ok(if a.has_errors() { 1 } else { 0 })
        }
        DataCommand::Ingest(a) => ingest(g, &a.input).await,
    }
}

/// `mlinfra data ingest FILE`: copy the file to `raw/` and run the `etl` job on it.
async fn ingest(g: &Global, file: &Path) -> Result<i32, Failure> {
    use mlinfra_core::jobs::{self, etl};
    use mlinfra_core::lake::Lake as _;
    let cx = super::Context::any_env(g)?;
    let stack = &cx.loaded.stack;
    let (lake, _, _) = crate::app::platform::platform(&cx, &None).await?;
    let settings = crate::app::settings::jobs(stack)?;
    let bytes = read_bytes(file)?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .filter(|n| !n.starts_with('.'))
        .ok_or_else(|| Failure::new(format!("`{}` has no file name", file.display())))?;
    let key = etl::upload(&lake, &name, &bytes).await?;
    let job = settings.etl_job(jobs::now());
    let notifier = crate::alerts::WebhookNotifier::new(stack);
    let outcome = etl::ingest_and_notify(&lake, &key, &job, &notifier).await?;
    match &outcome {
        etl::Ingested::Curated {
            data_key,
            rows_added,
            rows,
            warnings,
            ..
        } => {
            cx.out.result(
                format!(
                    "curated   {rows_added} rows added: {} now has {rows} rows ({warnings} warnings)\nhint: `mlinfra retrain --as NAME` trains on it (the weekly schedule does too)\n",
                    lake.uri(data_key)
                ),
                &outcome,
            );
            Ok(0)
        }
        etl::Ingested::Quarantined {
            quarantined,
            anomalies_key,
            anomalies,
            ..
        } => {
            cx.out.result(
                format!(
                    "quarantined `{}`: {}\nanomalies in {}\n",
                    lake.uri(quarantined),
                    anomalies
                        .errors()
                        .map(|a| a.message.clone())
                        .collect::<Vec<_>>()
                        .join("; "),
                    lake.uri(anomalies_key)
                ),
                &outcome,
            );
            Ok(1)
        }
        etl::Ingested::Skipped { reason, .. } => Err(Failure::new(reason.clone())),
    }
}

fn emit<T: serde::Serialize>(
    out: &Out,
    text: impl Fn() -> String,
    value: &T,
    page: impl Fn() -> String,
) {
    match out.format {
        OutputFormat::Html => crate::output::print(page()),
        _ => out.result(text(), value),
    }
}

fn stats_text(s: &Statistics) -> String {
    let rows: Vec<Vec<String>> = s
        .features
        .iter()
        .map(|f| {
            let mut r = vec![
                f.name.clone(),
                f.kind.to_string(),
                f.count.to_string(),
                f.missing.to_string(),
            ];
            match &f.numeric {
                Some(n) => r.extend([
                    num(n.mean),
                    num(n.std),
                    num(n.min),
                    num(n.quantiles[1]),
                    num(n.quantiles[3]),
                    num(n.quantiles[5]),
                    num(n.max),
                ]),
                None => r.extend(std::iter::repeat_n(String::new(), 7)),
            }
            let cats = f
                .categories
                .iter()
                .take(6)
                .map(|(c, n)| format!("{c}:{n}"))
                .collect::<Vec<_>>()
                .join(" ");
            r.push(cats);
            r
        })
        .collect();
    let mut t = format!("{} rows\n\n", s.rows);
    t.push_str(&table(
        &[
            "feature",
            "kind",
            "count",
            "missing",
            "mean",
            "std",
            "min",
            "p5",
            "p50",
            "p95",
            "max",
            "top categories",
        ],
        &rows,
    ));
    if let Some(l) = &s.label {
        let dist = l
            .classes
            .iter()
            .zip(&l.counts)
            .map(|(c, n)| format!("{c}: {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        t.push_str(&format!("\nlabel: {dist}\n"));
    }
    t
}

fn schema_text(s: &Schema) -> String {
    let rows: Vec<Vec<String>> = s
        .features
        .iter()
        .map(|f| {
            let allowed = match (&f.range, &f.domain) {
                (Some([lo, hi]), _) => format!("[{}, {}]", num(*lo), num(*hi)),
                (_, Some(d)) => format!("{{{}}}", d.join(", ")),
                _ => String::new(),
            };
            vec![
                f.name.clone(),
                f.kind.to_string(),
                f.dtype.clone(),
                if f.required {
                    "yes".into()
                } else {
                    "no".into()
                },
                allowed,
                format!("{}%", num(f.max_missing_share * 100.0)),
            ]
        })
        .collect();
    let mut t = format!("schema {}\n\n", s.version());
    t.push_str(&table(
        &[
            "feature",
            "kind",
            "type",
            "required",
            "range or domain",
            "max missing",
        ],
        &rows,
    ));
    if let Some(l) = &s.label {
        t.push_str(&format!("\nlabel classes: {}\n", l.classes.join(", ")));
    }
    t
}

fn anomalies_text(a: &Anomalies) -> String {
    if a.anomalies.is_empty() {
        return format!("No anomalies in {} rows.\n", a.rows);
    }
    let rows: Vec<Vec<String>> = a
        .anomalies
        .iter()
        .map(|x| {
            vec![
                match x.severity {
                    Severity::Error => "error".into(),
                    Severity::Warning => "warning".into(),
                },
                x.column.clone(),
                serde_json::to_string(&x.kind)
                    .unwrap_or_default()
                    .replace('"', ""),
                x.count.to_string(),
                x.examples.join(", "),
            ]
        })
        .collect();
    let errors = a.errors().count();
    let mut t = table(
        &["severity", "column", "anomaly", "count", "examples"],
        &rows,
    );
    t.push_str(&format!(
        "\n{} anomalies in {} rows: {errors} error{} (block training), {} warning{}.\n",
        a.anomalies.len(),
        a.rows,
        if errors == 1 { "" } else { "s" },
        a.anomalies.len() - errors,
        if a.anomalies.len() - errors == 1 {
            ""
        } else {
            "s"
        }
    ));
    t
}
