//! `mlinfra runs list|show|compare`: the training history kept in the lake. A run (a content
//! hash of data, settings and code) may be executed many times; every execution is listed with
//! who or what started it, its blessing against the Production model of that moment and what
//! became of it in the registry. Runs the user's own code logged through the MLflow API are
//! listed beside them ([`crate::app::tracked`]): their params, metric histories, artifacts and
//! the registry versions made from their models.

use std::fmt::Write as _;

use mlinfra_core::jobs::runs::{self, Execution};
use mlinfra_core::metrics::{Evaluated, Evaluation, Metric};
use mlinfra_core::pipeline::RunRecord;
use serde_json::json;

use super::{Context, Failure};
use crate::app::runs::{params_text, read_run, resolve};
use crate::app::tracked::{self, TrackedRun};
use crate::cli::{Global, RunsCommand};
use crate::report::{num, table};

pub async fn run(g: &Global, cmd: &RunsCommand) -> Result<i32, Failure> {
    let cx = Context::any_env(g)?;
    let (lake, _, _) = crate::app::platform::platform(&cx, &None).await?;
    let executions = runs::list(&lake)
        .await
        .map_err(|e| Failure::new(e.to_string()))?;
    let tracking = mlinfra_core::tracking::Tracking::new(lake.clone());
    let tracked = tracked::list(&tracking).await?;
    // A run id names a pipeline run first, else a run of the user's code.
    let tracked_run = |id: &str| -> Result<Option<&TrackedRun>, Failure> {
        if resolve(&executions, id).is_ok() {
            return Ok(None);
        }
        tracked::find(&tracked, id)
    };
    match cmd {
        RunsCommand::List => {
            let mut text = if executions.is_empty() {
                "no training runs yet: `mlinfra pipeline run` trains one\n".to_string()
            } else {
                list_text(&executions)
            };
            let mut value = json!({ "executions": executions });
            if !tracked.is_empty() {
                text.push_str("\nruns of your own code (the MLflow API)\n");
                text.push_str(&tracked_list_text(&tracked));
                value["tracked"] = tracked.iter().map(tracked_json).collect();
            }
            cx.out.result(text, &value);
        }
        RunsCommand::Show { id } if tracked_run(id)?.is_some() => {
            let Some(r) = tracked_run(id)? else {
                return Ok(1);
            };
            let histories = tracked::histories(&tracking, r).await?;
            let files = tracked::artifacts(&tracking, r).await?;
            let text = tracked_show_text(r, &histories, &files);
            let mut value = tracked_json(r);
            value["history"] = histories
                .iter()
                .map(|(k, p)| (k.clone(), json!(p)))
                .collect::<serde_json::Map<_, _>>()
                .into();
            value["artifacts"] = files
                .iter()
                .map(|(p, n)| json!({"path": p, "bytes": n}))
                .collect();
            cx.out.result(text, &value);
        }
        RunsCommand::Compare { ids } if tracked_run(&ids[0])?.is_some() => {
            let mut chosen = Vec::new();
            for id in ids {
                match tracked_run(id)? {
                    Some(r) => chosen.push(r),
                    None => {
                        return Err(Failure::new(format!(
                            "`{id}` is not a run of your own code: compare runs of the pipeline with each other, and runs of your code with each other\nhint: `mlinfra runs list` shows both"
                        )));
                    }
                }
            }
            cx.out.result(
                tracked_compare_text(&chosen),
                &json!({ "runs": chosen.iter().map(|r| tracked_json(r)).collect::<Vec<_>>() }),
            );
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

fn tracked_json(r: &TrackedRun) -> serde_json::Value {
    json!({
        "run_id": r.id(),
        "run_name": r.run.info.run_name,
        "experiment": r.experiment,
        "user": r.run.info.user_id,
        "status": r.run.info.status,
        "start_time": r.run.info.start_time,
        "end_time": r.run.info.end_time,
        "params": r.run.params,
        "metrics": r.run.metrics.iter().map(|(k, p)| (k.clone(), json!(p.value))).collect::<serde_json::Map<_, _>>(),
        "tags": r.run.tags,
        "inputs": r.run.inputs,
        "models": r.models.iter().map(|m| json!({"model_id": m.model_id, "name": m.name, "status": m.status})).collect::<Vec<_>>(),
        "registered": r.versions.iter().map(|(m, v)| json!({"model": m, "version": v})).collect::<Vec<_>>(),
    })
}

fn time_text(ms: i64) -> String {
    mlinfra_core::clock::rfc3339(u64::try_from(ms / 1000).unwrap_or(0))
}

/// The latest value of a run's first metrics, `key value`.
fn metrics_text(r: &TrackedRun, n: usize) -> String {
    let shown: Vec<String> = r
        .run
        .metrics
        .iter()
        .take(n)
        .map(|(k, p)| format!("{k} {}", num(p.value)))
        .collect();
    let more = r.run.metrics.len().saturating_sub(n);
    if more > 0 {
        format!("{} (+{more})", shown.join(", "))
    } else if shown.is_empty() {
        "-".into()
    } else {
        shown.join(", ")
    }
}

fn tracked_list_text(runs: &[TrackedRun]) -> String {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                time_text(r.run.info.start_time),
                r.id().chars().take(12).collect(),
                r.run.info.run_name.clone(),
                r.experiment.clone(),
                r.run.info.user_id.clone(),
                r.run.info.status.clone(),
                metrics_text(r, 3),
                r.versions_text(),
            ]
        })
        .collect();
    table(
        &[
            "started",
            "run",
            "name",
            "experiment",
            "by",
            "status",
            "metrics",
            "registered",
        ],
        &rows,
    )
}

fn tracked_show_text(
    r: &TrackedRun,
    histories: &[(String, Vec<mlinfra_core::tracking::Point>)],
    files: &[(String, usize)],
) -> String {
    let i = &r.run.info;
    let mut t = String::new();
    let _ = writeln!(t, "run        {} ({})", i.run_id, i.run_name);
    let _ = writeln!(t, "experiment {}", r.experiment);
    let _ = writeln!(t, "by         {} (authenticated)", i.user_id);
    let _ = writeln!(
        t,
        "status     {}, started {}{}",
        i.status,
        time_text(i.start_time),
        r.seconds()
            .map_or(String::new(), |s| format!(", {} s", num(s)))
    );
    if !r.run.params.is_empty() {
        let _ = writeln!(t, "\nparams");
        for (k, v) in &r.run.params {
            let _ = writeln!(t, "  {k} = {v}");
        }
    }
    if !histories.is_empty() {
        let _ = writeln!(t, "\nmetrics (step: value)");
        for (k, points) in histories {
            let shown: Vec<String> = points
                .iter()
                .take(12)
                .map(|p| format!("{}: {}", p.step, num(p.value)))
                .collect();
            let more = points.len().saturating_sub(12);
            let _ = writeln!(
                t,
                "  {k:<28} {}{}",
                shown.join("  "),
                if more > 0 {
                    format!("  (+{more} more)")
                } else {
                    String::new()
                }
            );
        }
    }
    let tags: Vec<(&String, &String)> = r
        .run
        .tags
        .iter()
        .filter(|(k, _)| !k.starts_with("mlflow."))
        .collect();
    if !tags.is_empty() {
        let _ = writeln!(t, "\ntags");
        for (k, v) in tags {
            let _ = writeln!(t, "  {k} = {v}");
        }
    }
    for d in &r.run.inputs {
        let _ = writeln!(
            t,
            "\ninput      {} ({}, digest {})",
            d.name, d.source_type, d.digest
        );
    }
    if !files.is_empty() {
        let _ = writeln!(t, "\nartifacts");
        for (p, n) in files {
            let _ = writeln!(t, "  {p} ({n} bytes)");
        }
    }
    for m in &r.models {
        let _ = writeln!(
            t,
            "\nmodel      {} `{}` ({})",
            m.model_id,
            m.name,
            m.status.trim_start_matches("LOGGED_MODEL_").to_lowercase()
        );
    }
    let _ = writeln!(t, "registered {}", r.versions_text());
    t
}

fn tracked_compare_text(runs: &[&TrackedRun]) -> String {
    let mut keys: Vec<(bool, String)> = Vec::new();
    for r in runs {
        keys.extend(r.run.params.keys().map(|k| (false, k.clone())));
        keys.extend(r.run.metrics.keys().map(|k| (true, k.clone())));
    }
    keys.sort();
    keys.dedup();
    let mut rows: Vec<Vec<String>> = vec![
        std::iter::once("experiment".to_string())
            .chain(runs.iter().map(|r| r.experiment.clone()))
            .collect(),
        std::iter::once("by".to_string())
            .chain(runs.iter().map(|r| r.run.info.user_id.clone()))
            .collect(),
    ];
    for (metric, k) in &keys {
        rows.push(
            std::iter::once(if *metric {
                format!("metric {k}")
            } else {
                format!("param {k}")
            })
            .chain(runs.iter().map(|r| {
                if *metric {
                    r.run.metrics.get(k).map_or("-".into(), |p| num(p.value))
                } else {
                    r.run.params.get(k).cloned().unwrap_or_else(|| "-".into())
                }
            }))
            .collect(),
        );
    }
    rows.push(
        std::iter::once("registered".to_string())
            .chain(runs.iter().map(|r| r.versions_text()))
            .collect(),
    );
    let ids: Vec<String> = runs
        .iter()
        .map(|r| r.id().chars().take(12).collect())
        .collect();
    let mut headers = vec!["run"];
    headers.extend(ids.iter().map(String::as_str));
    table(&headers, &rows)
}
