//! `mlinfra runs list|show|compare`: the training history kept in the lake. A run (a content
//! hash of data, settings and code) may be executed many times; every execution is listed with
//! who or what started it, its blessing against the Production model of that moment and what
//! became of it in the registry.

use std::fmt::Write as _;

use mlinfra_core::jobs::runs::{self, Execution};
use mlinfra_core::metrics::{Evaluated, Evaluation, Metric};
use mlinfra_core::pipeline::RunRecord;
use serde_json::json;

use super::{Context, Failure};
use crate::app::runs::{params_text, read_run, resolve};
use crate::cli::{Global, RunsCommand};
use crate::report::{num, table};

pub async fn run(g: &Global, cmd: &RunsCommand) -> Result<i32, Failure> {
    let cx = Context::any_env(g)?;
    let (lake, _, _) = crate::app::platform::platform(&cx, &None).await?;
    let executions = runs::list(&lake)
        .await
        .map_err(|e| Failure::new(e.to_string()))?;
    match cmd {
        RunsCommand::List => {
            let text = if executions.is_empty() {
                "no training runs yet: `mlinfra pipeline run` trains one\n".to_string()
            } else {
                list_text(&executions)
            };
            cx.out.result(text, &json!({ "executions": executions }));
        }
        RunsCommand::Show { id } => {
            let run_id = resolve(&executions, id)?;
            let record = read_run(&lake, &run_id).await?;
            let search: serde_json::Value =
                mlinfra_core::jobs::read_json(&lake, &mlinfra_core::keys::run_search(&run_id))
                    .await
                    .map_err(|e| Failure::new(e.to_string()))?
                    .unwrap_or(serde_json::Value::Null);
            let of_run: Vec<&Execution> =
                executions.iter().filter(|e| e.run_id == run_id).collect();
            let mut t = compare_text(&[&record]);
            let _ = writeln!(t, "\nexecutions");
            for e in &of_run {
                let _ = writeln!(
                    t,
                    "  {}  {} by {} ({}): {}",
                    e.at, e.id, e.actor, e.trigger, e.outcome
                );
            }
            if let Some(trials) = search["trials"].as_array() {
                let _ = writeln!(
                    t,
                    "\nsearch    {} trials ({})",
                    trials.len(),
                    record.search.metric
                );
            }
            cx.out.result(
                t,
                &json!({ "run": record, "executions": of_run, "search": search }),
            );
        }
        RunsCommand::Compare { ids } => {
            let mut records = Vec::new();
            for id in ids {
                let run_id = resolve(&executions, id)?;
                records.push(read_run(&lake, &run_id).await?);
            }
            let refs: Vec<&RunRecord> = records.iter().collect();
            cx.out
                .result(compare_text(&refs), &json!({ "runs": records }));
        }
    }
    Ok(0)
}

fn list_text(executions: &[Execution]) -> String {
    let rows: Vec<Vec<String>> = executions
        .iter()
        .map(|e| {
            vec![
                e.at.clone(),
                e.run_id.clone(),
                format!("{} ({})", e.actor, e.trigger),
                e.params.family().to_string(),
                num(e.cv_score),
                match &e.metrics {
                    Evaluated::Classification(m) => num(m.roc_auc),
                    Evaluated::Regression(m) => format!("rmse {}", num(m.rmse)),
                },
                if e.blessing.blessed { "yes" } else { "no" }.to_string(),
                e.registered_version
                    .map_or("-".to_string(), |v| format!("v{v}")),
            ]
        })
        .collect();
    table(
        &[
            "at",
            "run",
            "started by",
            "family",
            "cv",
            "roc_auc",
            "blessed",
            "registered",
        ],
        &rows,
    )
}

/// Runs as columns: what they were trained on, with what, and how they scored.
fn compare_text(runs: &[&RunRecord]) -> String {
    let row = |name: &str, f: &dyn Fn(&RunRecord) -> String| -> Vec<String> {
        std::iter::once(name.to_string())
            .chain(runs.iter().map(|r| f(r)))
            .collect()
    };
    let shown = |r: &RunRecord, m: Metric| {
        r.metrics
            .regression()
            .map_or("-".to_string(), |e| num(e.metric(m)))
    };
    let mut rows = vec![
        row("data", &|r| r.data_hash.chars().take(19).collect()),
        row("rows", &|r| r.rows.to_string()),
        row("schema", &|r| r.schema_version.chars().take(19).collect()),
        row("family", &|r| r.best.family().to_string()),
        row("params", &|r| params_text(&r.best)),
        row("search", &|r| {
            format!(
                "{} {} trials, {} folds",
                r.search.strategy, r.search.trials, r.search.folds
            )
        }),
        row("cv score", &|r| {
            format!("{} {}", r.search.metric, num(r.cv_score))
        }),
    ];
    if runs.iter().any(|r| r.metrics.classification().is_some()) {
        let of = |r: &RunRecord, f: &dyn Fn(&Evaluation) -> f64| {
            r.metrics
                .classification()
                .map_or("-".to_string(), |m| num(f(m)))
        };
        rows.extend([
            row("roc_auc", &|r| of(r, &|m| m.roc_auc)),
            row("accuracy", &|r| of(r, &|m| m.accuracy)),
            row("f1", &|r| of(r, &|m| m.f1_score)),
            row("log_loss", &|r| of(r, &|m| m.log_loss)),
            row("brier", &|r| of(r, &|m| m.brier)),
            row("ece", &|r| of(r, &|m| m.ece)),
        ]);
    }
    if runs.iter().any(|r| r.metrics.regression().is_some()) {
        rows.extend([
            row("rmse", &|r| shown(r, Metric::Rmse)),
            row("mae", &|r| shown(r, Metric::Mae)),
            row("r2", &|r| shown(r, Metric::R2)),
            row("mape", &|r| shown(r, Metric::Mape)),
            row("interval", &|r| {
                r.interval.as_ref().map_or("-".to_string(), |i| {
                    format!(
                        "{:.0}% ± {} (covers {:.1}%)",
                        i.level * 100.0,
                        num(i.half_width),
                        i.coverage * 100.0
                    )
                })
            }),
        ]);
    }
    rows.extend([
        row("blessing", &|r| r.blessing.reason.clone()),
        row("model", &|r| {
            format!(
                "sha256:{}",
                r.model_sha256.chars().take(16).collect::<String>()
            )
        }),
    ]);
    let mut headers = vec!["run"];
    headers.extend(runs.iter().map(|r| r.run_id.as_str()));
    table(&headers, &rows)
}
