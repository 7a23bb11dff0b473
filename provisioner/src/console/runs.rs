//! Runs: every training execution with its parameters, scores, data and schema versions and
//! duration; two or more runs side by side; one run's search trials and evaluation charts. Runs
//! the user's own code logged through the MLflow API are listed below them, each with its
//! params, its metrics' histories as charts, its artifacts and the registry versions made from
//! its models.

use std::fmt::Write as _;

use mlinfra_core::any::AnyLake;
use mlinfra_core::jobs::read_json;
use mlinfra_core::jobs::runs::{self, Execution};
use mlinfra_core::keys;
use mlinfra_core::metrics::{Curves, Evaluated, Evaluation, Metric};
use mlinfra_core::pipeline::{Points, RunRecord, Timings};
use mlinfra_core::stats::Statistics;
use mlinfra_core::tune::SearchResult;

use super::Console;
use super::page::{Page, confusion, esc, history, num, scatter, table, unit_chart};
use crate::app::runs::params_text;

/// What `evaluation.json` holds.
#[derive(serde::Deserialize)]
struct EvaluationFile {
    candidate: Evaluated,
    #[serde(default)]
    baseline: Option<Evaluated>,
    /// A classification's; absent for runs trained before the curves were recorded.
    #[serde(default)]
    curves: Option<Curves>,
    /// A regression's evaluation rows.
    #[serde(default)]
    points: Option<Points>,
}

/// A classification's metric of a run, or `–` for a regression.
fn class_metric(e: &Evaluated, f: impl Fn(&Evaluation) -> f64) -> String {
    e.classification().map_or("–".to_string(), |m| num(f(m)))
}

fn short(s: &str, n: usize) -> String {
    s.trim_start_matches("sha256:").chars().take(n).collect()
}

fn run_link(id: &str) -> String {
    format!("<a href=\"/ui/runs/{0}\"><code>{0}</code></a>", esc(id))
}

async fn duration_ms(lake: &AnyLake, run_id: &str) -> Option<f64> {
    read_json::<Timings>(lake, &keys::run_timings(run_id))
        .await
        .ok()
        .flatten()
        .map(|t| t.total_ms)
}

fn seconds(ms: Option<f64>) -> String {
    ms.map_or("–".into(), |ms| format!("{:.1} s", ms / 1000.0))
}

/// The runs of the user's own code, with a link to each.
async fn tracked_section(c: &Console) -> String {
    let t = mlinfra_core::tracking::Tracking::new(c.lake.clone());
    let Ok(runs) = crate::app::tracked::list(&t).await else {
        return String::new();
    };
    if runs.is_empty() {
        return String::new();
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let metrics: Vec<String> = r
                .run
                .metrics
                .iter()
                .take(4)
                .map(|(k, p)| format!("{} {}", esc(k), num(p.value)))
                .collect();
            vec![
                esc(&mlinfra_core::clock::rfc3339(
                    u64::try_from(r.run.info.start_time / 1000).unwrap_or(0),
                )),
                run_link(r.id()),
                esc(&r.run.info.run_name),
                esc(&r.experiment),
                esc(&r.run.info.user_id),
                esc(&r.run.info.status),
                metrics.join("<br>"),
                esc(&r.versions_text()),
            ]
        })
        .collect();
    format!(
        "<h2 id=\"tracked\">Runs of your own code (the MLflow API)</h2>{}",
        table(
            "tracked-runs",
            &[
                "started",
                "run",
                "name",
                "experiment",
                "by",
                "status",
                "metrics",
                "registered"
            ],
            &rows,
        )
    )
}

/// One run of the user's code.
async fn tracked_page(c: &Console, id: &str) -> Option<Page> {
    let t = mlinfra_core::tracking::Tracking::new(c.lake.clone());
    let runs = crate::app::tracked::list(&t).await.ok()?;
    let r = crate::app::tracked::find(&runs, id).ok()??;
    let mut b = String::new();
    let i = &r.run.info;
    let rows = vec![
        vec!["experiment".into(), esc(&r.experiment)],
        vec!["by".into(), esc(&i.user_id)],
        vec!["status".into(), esc(&i.status)],
        vec![
            "duration".into(),
            r.seconds().map_or("–".into(), |s| format!("{} s", num(s))),
        ],
        vec!["registered".into(), esc(&r.versions_text())],
    ];
    b.push_str(&table("run-info", &["", ""], &rows));
    let params: Vec<Vec<String>> = r
        .run
        .params
        .iter()
        .map(|(k, v)| vec![esc(k), esc(v)])
        .collect();
    b.push_str("<h2>Params</h2>");
    b.push_str(&table("params", &["param", "value"], &params));
    b.push_str("<h2>Metrics</h2><div class=\"charts\">");
    for (k, points) in crate::app::tracked::histories(&t, r)
        .await
        .unwrap_or_default()
    {
        let pts: Vec<[f64; 2]> = points.iter().map(|p| [p.step as f64, p.value]).collect();
        if pts.len() > 1 {
            b.push_str(&history(&k, &pts));
        } else if let Some(p) = points.first() {
            let _ = write!(b, "<p><strong>{}</strong> {}</p>", esc(&k), num(p.value));
        }
    }
    b.push_str("</div>");
    let files: Vec<Vec<String>> = crate::app::tracked::artifacts(&t, r)
        .await
        .unwrap_or_default()
        .iter()
        .map(|(p, n)| vec![format!("<code>{}</code>", esc(p)), n.to_string()])
        .collect();
    if !files.is_empty() {
        b.push_str("<h2>Artifacts</h2>");
        b.push_str(&table("artifacts", &["path", "bytes"], &files));
    }
    let models: Vec<Vec<String>> = r
        .models
        .iter()
        .map(|m| {
            vec![
                format!("<code>{}</code>", esc(&m.model_id)),
                esc(&m.name),
                esc(&m.status),
            ]
        })
        .collect();
    if !models.is_empty() {
        b.push_str("<h2>Models</h2>");
        b.push_str(&table("models", &["model", "name", "status"], &models));
    }
    Some(Page::ok(&format!("Run {} ({})", i.run_id, i.run_name), b))
}

pub async fn list(c: &Console) -> Page {
    let executions = match runs::list(&c.lake).await {
        Ok(e) => e,
        Err(e) => return Page::error(500, "Runs", &e.to_string()),
    };
    if executions.is_empty() {
        return Page::ok(
            "Runs",
            "<p id=\"no-runs\">No training runs yet: <code>mlinfra pipeline run</code> trains one.</p>"
                .to_string()
                + &tracked_section(c).await,
        );
    }
    let mut rows = Vec::with_capacity(executions.len());
    for e in executions.iter().rev() {
        let schema = crate::app::runs::read_run(&c.lake, &e.run_id)
            .await
            .map(|r| r.schema_version)
            .unwrap_or_default();
        rows.push(row(e, &schema, duration_ms(&c.lake, &e.run_id).await));
    }
    let mut b = String::from(
        "<form method=\"get\" action=\"/ui/runs/compare\" id=\"compare-form\"><p>Tick two or more runs, then <button id=\"compare\">Compare</button></p>",
    );
    b.push_str(&table(
        "runs",
        &[
            "",
            "at",
            "run",
            "started by",
            "params",
            "cv score",
            "roc_auc",
            "accuracy",
            "f1",
            "data",
            "schema",
            "duration",
            "blessed",
            "registered",
        ],
        &rows,
    ));
    b.push_str("</form>");
    b.push_str(&tracked_section(c).await);
    Page::ok("Runs", b)
}

fn row(e: &Execution, schema: &str, ms: Option<f64>) -> Vec<String> {
    vec![
        format!(
            "<input type=\"checkbox\" name=\"run\" value=\"{0}\" aria-label=\"compare {0}\">",
            esc(&e.run_id)
        ),
        esc(&e.at),
        run_link(&e.run_id),
        format!("{} <small>({})</small>", esc(&e.actor), esc(&e.trigger)),
        format!(
            "{}<br><small>{}</small>",
            e.params.family(),
            esc(&params_text(&e.params))
        ),
        format!("{} {}", e.search_metric, num(e.cv_score)),
        match &e.metrics {
            Evaluated::Classification(m) => num(m.roc_auc),
            Evaluated::Regression(m) => format!("rmse {}", num(m.rmse)),
        },
        match &e.metrics {
            Evaluated::Classification(m) => num(m.accuracy),
            Evaluated::Regression(m) => format!("mae {}", num(m.mae)),
        },
        match &e.metrics {
            Evaluated::Classification(m) => num(m.f1_score),
            Evaluated::Regression(m) => format!("r2 {}", num(m.r2)),
        },
        format!("<code>{}</code>", esc(&short(&e.data_hash, 12))),
        format!("<code>{}</code>", esc(&short(schema, 12))),
        seconds(ms),
        if e.blessing.blessed { "yes" } else { "no" }.into(),
        e.registered_version.map_or("–".into(), |v| format!("v{v}")),
    ]
}

async fn run_record(c: &Console, id: &str) -> Result<RunRecord, String> {
    let ok_id = !id.is_empty() && id.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-');
    if !ok_id {
        return Err(format!("`{id}` is not a run id"));
    }
    // A whole run id is read at once; a prefix or an execution id needs the history.
    if let Ok(r) = crate::app::runs::read_run(&c.lake, id).await {
        return Ok(r);
    }
    let executions = runs::list(&c.lake).await.map_err(|e| e.to_string())?;
    let run_id = crate::app::runs::resolve(&executions, id).map_err(|e| e.text())?;
    crate::app::runs::read_run(&c.lake, &run_id)
        .await
        .map_err(|e| e.text())
}

async fn evaluated(lake: &AnyLake, run_id: &str) -> Option<EvaluationFile> {
    read_json(lake, &keys::run_evaluation(run_id))
        .await
        .ok()
        .flatten()
}

async fn classes(lake: &AnyLake, data_hash: &str) -> Vec<String> {
    read_json::<Statistics>(lake, &keys::statistics(data_hash))
        .await
        .ok()
        .flatten()
        .and_then(|s| s.label)
        .map(|l| l.classes)
        .unwrap_or_default()
}

/// A regression's charts: predicted against actual values, and the residuals against the
/// predicted values (with the interval's half-width either side, when it has one).
fn regression_charts(r: &RunRecord, points: Option<&Points>) -> String {
    let Some(p) = points else {
        return String::new();
    };
    let rows = r.metrics.regression().map_or(0, |e| e.rows);
    let against: Vec<[f64; 2]> = p
        .actual
        .iter()
        .zip(&p.predicted)
        .map(|(a, b)| [*a, *b])
        .collect();
    let residuals: Vec<[f64; 2]> = p
        .actual
        .iter()
        .zip(&p.predicted)
        .map(|(a, b)| [*b, a - b])
        .collect();
    let band = r.interval.as_ref().map(|i| i.half_width);
    let mut h = scatter(
        &format!(
            "predicted against actual ({} of {rows} evaluation rows)",
            p.actual.len()
        ),
        "actual",
        "predicted",
        &against,
        None,
    );
    h.push_str(&scatter(
        "residuals (actual − predicted)",
        "predicted",
        "residual",
        &residuals,
        band,
    ));
    h
}

/// The charts of one run's evaluation.
async fn charts(c: &Console, r: &RunRecord) -> String {
    let mut h = String::new();
    let Evaluated::Classification(m) = &r.metrics else {
        let points = evaluated(&c.lake, &r.run_id).await.and_then(|e| e.points);
        return regression_charts(r, points.as_ref());
    };
    let mut names = classes(&c.lake, &r.data_hash).await;
    if names.len() != m.confusion.len() {
        names = (0..m.confusion.len()).map(|i| i.to_string()).collect();
    }
    let _ = write!(
        h,
        "<figure class=\"chart\">{}<figcaption>confusion matrix ({} evaluation rows)</figcaption></figure>",
        confusion(&names, &m.confusion),
        m.rows
    );
    if let Some(curves) = evaluated(&c.lake, &r.run_id).await.and_then(|e| e.curves) {
        if !curves.roc.is_empty() {
            h.push_str(&unit_chart(
                &format!("ROC curve (AUC {})", num(m.roc_auc)),
                "false positive rate",
                "true positive rate",
                &curves.roc,
            ));
        }
        let points: Vec<[f64; 2]> = curves
            .calibration
            .iter()
            .map(|b| [b.confidence, b.accuracy])
            .collect();
        h.push_str(&unit_chart(
            &format!("calibration (ECE {})", num(m.ece)),
            "confidence",
            "share right",
            &points,
        ));
    } else {
        h.push_str("<p><small>This run was trained before ROC and calibration curves were recorded.</small></p>");
    }
    h
}

/// Runs as columns.
fn side_by_side(runs: &[RunRecord], durations: &[Option<f64>]) -> String {
    let row = |name: &str, f: &dyn Fn(&RunRecord) -> String| -> Vec<String> {
        std::iter::once(format!("<strong>{}</strong>", esc(name)))
            .chain(runs.iter().map(f))
            .collect()
    };
    let mut rows = vec![
        row("data", &|r| {
            format!("<code>{}</code>", esc(&short(&r.data_hash, 16)))
        }),
        row("rows", &|r| r.rows.to_string()),
        row("schema", &|r| {
            format!("<code>{}</code>", esc(&short(&r.schema_version, 16)))
        }),
        row("family", &|r| r.best.family().to_string()),
        row("params", &|r| esc(&params_text(&r.best))),
        row("search", &|r| {
            format!(
                "{} {} trials, {} folds",
                esc(&r.search.strategy.to_string()),
                r.search.trials,
                r.search.folds
            )
        }),
        row("cv score", &|r| {
            format!("{} {}", r.search.metric, num(r.cv_score))
        }),
    ];
    if runs.iter().any(|r| r.metrics.classification().is_some()) {
        rows.extend([
            row("roc_auc", &|r| class_metric(&r.metrics, |m| m.roc_auc)),
            row("accuracy", &|r| class_metric(&r.metrics, |m| m.accuracy)),
            row("f1", &|r| class_metric(&r.metrics, |m| m.f1_score)),
            row("log_loss", &|r| class_metric(&r.metrics, |m| m.log_loss)),
            row("brier", &|r| class_metric(&r.metrics, |m| m.brier)),
            row("ece", &|r| class_metric(&r.metrics, |m| m.ece)),
        ]);
    }
    if runs.iter().any(|r| r.metrics.regression().is_some()) {
        let value = |r: &RunRecord, m: Metric| {
            r.metrics
                .regression()
                .map_or("–".to_string(), |e| num(e.metric(m)))
        };
        rows.extend([
            row("rmse", &|r| value(r, Metric::Rmse)),
            row("mae", &|r| value(r, Metric::Mae)),
            row("r2", &|r| value(r, Metric::R2)),
            row("mape", &|r| value(r, Metric::Mape)),
            row("interval", &|r| {
                r.interval.as_ref().map_or("–".to_string(), |i| {
                    format!(
                        "{:.0}% ± {} (covers {:.1}% of eval rows)",
                        i.level * 100.0,
                        num(i.half_width),
                        i.coverage * 100.0
                    )
                })
            }),
        ]);
    }
    rows.extend([
        row("blessing", &|r| esc(&r.blessing.reason)),
        row("model", &|r| {
            format!("<code>sha256:{}</code>", esc(&short(&r.model_sha256, 16)))
        }),
        row("code", &|r| esc(&r.code_version.crate_version)),
    ]);
    rows.push(
        std::iter::once("<strong>duration</strong>".to_string())
            .chain(durations.iter().map(|d| seconds(*d)))
            .collect(),
    );
    let ids: Vec<String> = runs.iter().map(|r| r.run_id.clone()).collect();
    let mut headers = vec!["run"];
    headers.extend(ids.iter().map(String::as_str));
    table("compare", &headers, &rows)
}

pub async fn compare(c: &Console, ids: &[&str]) -> Page {
    if ids.len() < 2 {
        return Page::error(
            400,
            "Compare runs",
            &format!(
                "{} run{} ticked: tick two or more runs on the Runs page",
                ids.len(),
                if ids.len() == 1 { "" } else { "s" }
            ),
        );
    }
    let mut records = Vec::new();
    let mut durations = Vec::new();
    for id in ids {
        match run_record(c, id).await {
            Ok(r) => {
                durations.push(duration_ms(&c.lake, &r.run_id).await);
                records.push(r);
            }
            Err(e) => return Page::error(404, "Compare runs", &e),
        }
    }
    let mut b = side_by_side(&records, &durations);
    b.push_str("<h2>Evaluation</h2>");
    for r in &records {
        let _ = write!(b, "<h3>{}</h3>{}", run_link(&r.run_id), charts(c, r).await);
    }
    Page::ok("Compare runs", b)
}

pub async fn show(c: &Console, id: &str) -> Page {
    let r = match run_record(c, id).await {
        Ok(r) => r,
        Err(e) => {
            return match tracked_page(c, id).await {
                Some(p) => p,
                None => Page::error(404, "Run", &e),
            };
        }
    };
    let ms = duration_ms(&c.lake, &r.run_id).await;
    let mut b = side_by_side(std::slice::from_ref(&r), &[ms]);
    b.push_str("<h2>Evaluation</h2>");
    b.push_str(&charts(c, &r).await);
    if let Some(base) = evaluated(&c.lake, &r.run_id)
        .await
        .and_then(|e| e.baseline.map(|b| (e.candidate, b)))
    {
        let (cand, base) = base;
        let metrics = if cand.regression().is_some() {
            [Metric::Rmse, Metric::Mae, Metric::R2, Metric::Mape]
        } else {
            [
                Metric::RocAuc,
                Metric::Accuracy,
                Metric::F1,
                Metric::LogLoss,
            ]
        };
        let rows: Vec<Vec<String>> = metrics
            .into_iter()
            .map(|m| vec![m.to_string(), num(cand.metric(m)), num(base.metric(m))])
            .collect();
        b.push_str("<h3>Against the Production model of that moment (same evaluation rows)</h3>");
        b.push_str(&table(
            "baseline",
            &["metric", "this run", "Production"],
            &rows,
        ));
    }
    if let Ok(Some(search)) = read_json::<SearchResult>(&c.lake, &keys::run_search(&r.run_id)).await
    {
        let rows: Vec<Vec<String>> = search
            .trials
            .iter()
            .enumerate()
            .map(|(i, t)| {
                vec![
                    (i + 1).to_string(),
                    t.params.family().to_string(),
                    esc(&params_text(&t.params)),
                    format!(
                        "{}{}",
                        num(t.score),
                        if i == search.best {
                            " <strong>best</strong>"
                        } else {
                            ""
                        }
                    ),
                    t.fold_scores
                        .iter()
                        .map(|s| num(*s))
                        .collect::<Vec<_>>()
                        .join(", "),
                ]
            })
            .collect();
        let _ = write!(
            b,
            "<h2>Search: {} trials ({}, {} folds)</h2>",
            search.trials.len(),
            r.search.metric,
            r.search.folds
        );
        b.push_str(&table(
            "trials",
            &["trial", "family", "params", "cv score", "fold scores"],
            &rows,
        ));
    }
    if let Ok(executions) = runs::list(&c.lake).await {
        let rows: Vec<Vec<String>> = executions
            .iter()
            .filter(|e| e.run_id == r.run_id)
            .map(|e| {
                vec![
                    esc(&e.at),
                    esc(&e.id),
                    format!("{} ({})", esc(&e.actor), esc(&e.trigger)),
                    esc(&e.outcome),
                ]
            })
            .collect();
        b.push_str("<h2>Executions</h2>");
        b.push_str(&table(
            "executions",
            &["at", "execution", "started by", "outcome"],
            &rows,
        ));
    }
    Page::ok(&format!("Run {}", r.run_id), b)
}
