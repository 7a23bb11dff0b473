//! `mlinfra monitor check|report|ignore` and `mlinfra retrain` on any environment: the jobs of
//! the `monitor` and `train` functions (`mlinfra_core::jobs`), run by the CLI on the
//! environment's lake and registry ([`crate::app::platform`]), alerts delivered to the log and
//! the stack's webhooks ([`crate::alerts::WebhookNotifier`]).

use std::fmt::Write as _;

use mlinfra_core::any::AnyLake;
use mlinfra_core::any::AnyStore;
use mlinfra_core::jobs::{self, monitor as mjob, train};
use mlinfra_core::monitor::{Report, html};
use mlinfra_core::registry::Registry;
use serde_json::json;

use super::{Context, Failure};
use crate::cli::{Global, MonitorCheckArgs, MonitorCommand, MonitorReportArgs, RetrainArgs};
use crate::report::num;

fn fail(e: impl std::fmt::Display) -> Failure {
    Failure::new(e.to_string())
}

/// Train on the curated data of `lake` as `actor`, for `reason`; the result's text and JSON.
pub async fn retrain_as(
    cx: &Context,
    lake: &AnyLake,
    registry: &Registry<AnyStore>,
    actor: &str,
    reason: &str,
) -> Result<(String, serde_json::Value), Failure> {
    let stack = &cx.loaded.stack;
    // An imported model is trained again by the user's own code.
    if let Some(t) = &stack.training {
        let place = crate::app::training::Place::of(cx)?;
        return crate::app::training::retrain(&place, lake, registry, t, actor, reason, &|m| {
            cx.out.progress(m)
        })
        .await;
    }
    let s = crate::app::settings::jobs(stack)?;
    let r = train::retrain_and_notify(
        lake,
        registry,
        &s.train_job(actor, reason),
        &crate::alerts::WebhookNotifier::new(stack),
        jobs::now(),
    )
    .await
    .map_err(fail)?;
    let t = &r.trained;
    let e = &t.out.evaluation;
    let mut text = String::new();
    let metrics = match e {
        mlinfra_core::metrics::Evaluated::Classification(e) => format!(
            "roc_auc {}  accuracy {}  f1 {}",
            num(e.roc_auc),
            num(e.accuracy),
            num(e.f1_score)
        ),
        mlinfra_core::metrics::Evaluated::Regression(e) => {
            format!("rmse {}  mae {}  r2 {}", num(e.rmse), num(e.mae), num(e.r2))
        }
    };
    let _ = writeln!(
        text,
        "trained   run {} on {} ({} rows): {metrics}",
        t.out.run.run_id, t.data_key, t.out.run.rows,
    );
    let _ = writeln!(
        text,
        "blessing  {}: {}",
        if t.out.run.blessing.blessed {
            "blessed"
        } else {
            "not blessed"
        },
        t.out.run.blessing.reason
    );
    match (&t.registered, &t.not_registered) {
        (Some(v), _) => {
            let _ = writeln!(
                text,
                "registry  registered as version {} ({}) by {actor}",
                v.version, v.stage
            );
        }
        (None, Some(why)) => {
            let _ = writeln!(text, "registry  not registered: {why}");
        }
        _ => {}
    }
    if let Some(r) = &t.request {
        let _ = writeln!(
            text,
            "promotion requested Production as {r}; it waits for approval by someone other than {actor}\nhint: `mlinfra models approve {r} --as NAME`"
        );
    }
    let value = json!({
        "run": t.out.run,
        "data": t.data_key,
        "registered_version": t.registered.as_ref().map(|v| v.version),
        "stage": t.registered.as_ref().map(|v| v.stage.to_string()),
        "not_registered": t.not_registered,
        "request": t.request,
        "reason": reason,
    });
    Ok((text, value))
}

pub async fn retrain(g: &Global, a: &RetrainArgs) -> Result<i32, Failure> {
    let cx = Context::any_env(g)?;
    // On `aws` the caller's ARN; elsewhere `--as`.
    let (lake, registry, who) = crate::app::platform::platform(&cx, &a.identity.actor).await?;
    let actor = who.get()?;
    let mirror = crate::app::mirror::sagemaker(&cx).await?;
    cx.out.progress("training on the curated data");
    let (text, value) = retrain_as(&cx, &lake, &registry, &actor, "on demand").await?;
    cx.out.result(text, &value);
    if let Some(s) = &mirror {
        s.follow(&registry, &cx.loaded.stack.model.name).await;
    }
    Ok(0)
}

pub async fn run(g: &Global, c: &MonitorCommand) -> Result<i32, Failure> {
    match c {
        MonitorCommand::Check(a) => check(g, a).await,
        MonitorCommand::Report(a) => report(g, a).await,
        MonitorCommand::Ignore(a) => ignore(g, a).await,
    }
}

/// One monitoring run, its alert delivered through `notifier`; the lake and the registry it ran
/// on, for what follows (a retraining).
async fn monitor_once(
    cx: &Context,
    record: bool,
    notifier: &crate::alerts::WebhookNotifier<'_>,
) -> Result<(AnyLake, Registry<AnyStore>, mjob::Monitored), Failure> {
    let (lake, registry, _) = crate::app::platform::platform(cx, &None).await?;
    let s = crate::app::settings::jobs(&cx.loaded.stack)?;
    let job = s.monitor_job(jobs::now(), record);
    let (m, _) = mjob::run_and_notify(&lake, &registry.store, &job, notifier)
        .await
        .map_err(fail)?;
    Ok((lake, registry, m))
}

fn report_text(r: &Report) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "window    {} days: {} requests, {} instances; reference {} training rows of version {}",
        r.window_days,
        r.requests,
        r.current_rows,
        r.reference_rows,
        r.version.map_or("-".into(), |v| v.to_string())
    );
    // The name column is as wide as the longest name, so long names keep the columns aligned.
    let width = r
        .features
        .iter()
        .map(|f| f.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(10);
    for f in &r.features {
        let _ = writeln!(
            t,
            "  {:<width$} {:<12} {:<19} {:>10} (threshold {}){}{}",
            f.name,
            f.kind.to_string(),
            f.test.to_string(),
            num(f.value),
            num(f.threshold),
            if f.drifted { "  DRIFT" } else { "" },
            if f.new_categories.is_empty() {
                String::new()
            } else {
                format!("  new categories: {}", f.new_categories.join(", "))
            }
        );
    }
    if !r.dataset.judged {
        let _ = writeln!(
            t,
            "dataset   not judged: {} instances in the window, drift is judged from {} on",
            r.current_rows,
            mlinfra_core::monitor::MIN_CURRENT
        );
    }
    let _ = writeln!(
        t,
        "dataset   {} of {} features drift ({}; dataset drift at >= {}): {}",
        r.dataset.drifted_features.len(),
        r.dataset.features,
        num(r.dataset.share),
        num(r.dataset.threshold),
        if r.dataset.drifted {
            "DRIFT"
        } else {
            "no drift"
        }
    );
    let p = &r.performance;
    if let Some(q) = &p.regression {
        let limit = |v: f64, what: &str| {
            if v > 0.0 {
                format!(" ({what} {})", num(v))
            } else {
                String::new()
            }
        };
        let coverage = match (q.coverage, q.level) {
            (Some(c), Some(l)) => format!(
                ", interval coverage {:.1}% of a {:.0}% interval{}",
                c * 100.0,
                l * 100.0,
                limit(q.min_coverage, "min")
            ),
            _ => String::new(),
        };
        let _ = writeln!(
            t,
            "quality   {} labelled: rmse {}{}, mae {}{}{coverage}{}",
            p.labelled,
            q.rmse.map_or("-".into(), num),
            limit(q.max_rmse, "max"),
            q.mae.map_or("-".into(), num),
            limit(q.max_mae, "max"),
            if p.judged { "" } else { ", too few to judge" }
        );
        return t;
    }
    let _ = writeln!(
        t,
        "quality   {} labelled: accuracy {} (min {}), f1 {}{} (min {}){}",
        p.labelled,
        p.accuracy.map_or("-".into(), num),
        num(p.min_accuracy),
        p.f1.map_or("-".into(), num),
        p.f1_average
            .as_ref()
            .map_or(String::new(), |a| format!(" ({a})")),
        num(p.min_f1),
        if p.judged { "" } else { ", too few to judge" }
    );
    t
}

/// What ETL did with the labelled feedback, in a line.
fn feedback_text(f: &mlinfra_core::jobs::etl::Ingested) -> String {
    use mlinfra_core::jobs::etl::Ingested;
    match f {
        Ingested::Curated {
            rows_added,
            rows,
            data_key,
            ..
        } => format!(
            "{rows_added} labelled predictions added to the training data ({rows} rows, {data_key})"
        ),
        Ingested::Quarantined {
            quarantined,
            anomalies_key,
            ..
        } => format!(
            "labelled predictions failed validation: moved to {quarantined} (see {anomalies_key})"
        ),
        Ingested::Skipped { reason, .. } => format!("labelled predictions not added: {reason}"),
    }
}

async fn check(g: &Global, a: &MonitorCheckArgs) -> Result<i32, Failure> {
    let cx = Context::any_env(g)?;
    let stack = &cx.loaded.stack;
    let notifier = crate::alerts::WebhookNotifier::new(stack);
    let (lake, registry, m) = monitor_once(&cx, true, &notifier).await?;
    let mut text = report_text(&m.report);
    let d = &m.report.decision;
    if let Some(f) = &m.feedback {
        let _ = writeln!(text, "feedback  {}", feedback_text(f));
    }
    let deliveries = m.alert.as_ref().map(|_| notifier.deliveries());
    if let Some(al) = &m.alert {
        let _ = writeln!(
            text,
            "alert     {} ({})",
            al.summary,
            mlinfra_core::keys::alert(&al.id)
        );
    }
    let mut retrained = None;
    if m.retrain {
        let why = d.retrain_reasons.join(", ");
        if a.no_retrain {
            let _ = writeln!(text, "retrain   due ({why}), not started (--no-retrain)");
        } else {
            let _ = writeln!(text, "retrain   triggered ({why})");
            match retrain_as(&cx, &lake, &registry, mjob::ACTOR, &why).await {
                Ok((t, v)) => {
                    text.push_str(&t);
                    retrained = Some(v);
                }
                Err(e) => {
                    // The report and the alert are recorded; say what failed.
                    return Err(Failure::new(format!(
                        "{text}retraining failed: {}",
                        e.text()
                    )));
                }
            }
        }
    } else if let Some(why) = &d.retrain_skipped {
        let _ = writeln!(
            text,
            "retrain   due ({}) but skipped: {why}",
            d.retrain_reasons.join(", ")
        );
    } else if let Some(u) = &d.cooldown_until {
        let _ = writeln!(
            text,
            "retrain   due ({}) but the last retraining was less than {} h ago: waiting until {u}",
            d.retrain_reasons.join(", "),
            stack.monitoring.cooldown_hours
        );
    }
    cx.out.result(
        text,
        &json!({
            "report": m.report,
            "report_key": m.report_key,
            "alert": m.alert,
            "deliveries": deliveries,
            "retrain": m.retrain && !a.no_retrain,
            "retrained": retrained,
            "feedback": m.feedback,
        }),
    );
    Ok(
        if a.detailed_exitcode && !m.report.decision.violations.is_empty() {
            2
        } else {
            0
        },
    )
}

async fn report(g: &Global, a: &MonitorReportArgs) -> Result<i32, Failure> {
    let cx = Context::any_env(g)?;
    let notifier = crate::alerts::WebhookNotifier::new(&cx.loaded.stack);
    let (lake, _, m) = monitor_once(&cx, false, &notifier).await?;
    let mut history = mjob::history(&lake).await.map_err(fail)?;
    history.push(m.report.clone());
    let page = || html::render(&m.report, &history);
    match &a.out {
        Some(path) => {
            let is_html = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"));
            let body = if is_html {
                page()
            } else {
                serde_json::to_string_pretty(&m.report).map_err(fail)? + "\n"
            };
            crate::engine::state::write_atomic(path, body.as_bytes())
                .map_err(|e| Failure::new(format!("cannot write `{}`: {e}", path.display())))?;
            // The report is in the file; stdout says where, and the one-line verdict.
            cx.out.result(
                format!(
                    "wrote {}: {} of {} features drift{}\n",
                    path.display(),
                    m.report.dataset.drifted_features.len(),
                    m.report.dataset.features,
                    if m.report.dataset.drifted {
                        " (dataset drift)"
                    } else {
                        ""
                    }
                ),
                &json!({"out": path, "report": m.report}),
            );
        }
        None if cx.out.format == crate::cli::OutputFormat::Html => crate::output::print(page()),
        None => cx.out.result(report_text(&m.report), &m.report),
    }
    Ok(0)
}

/// `mlinfra monitor ignore`: record (or list) the ranges of traffic the monitor leaves out.
async fn ignore(g: &Global, a: &crate::cli::MonitorIgnoreArgs) -> Result<i32, Failure> {
    let cx = Context::any_env(g)?;
    let (lake, _, _) = crate::app::platform::platform(&cx, &None).await?;
    let time = |field: &str, v: &str| -> Result<u64, Failure> {
        humantime::parse_rfc3339_weak(v)
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .ok_or_else(|| {
                Failure::new(format!(
                    "`--{field}` is `{v}`, not a time\nhint: write it in RFC 3339, e.g. `2026-11-28T10:00:00Z`"
                ))
            })
    };
    let all = match (&a.from, &a.to) {
        (Some(from), Some(to)) => {
            let (from, to) = (time("from", from)?, time("to", to)?);
            if from > to {
                return Err(Failure::new(format!(
                    "`--from` ({}) is after `--to` ({})",
                    mlinfra_core::clock::rfc3339(from),
                    mlinfra_core::clock::rfc3339(to)
                )));
            }
            let by = crate::app::platform::actor(&a.identity.actor)?;
            mjob::ignore(
                &lake,
                mjob::Ignored {
                    from,
                    to,
                    reason: a.reason.clone(),
                    by,
                    at: mlinfra_core::clock::rfc3339(jobs::now()),
                },
            )
            .await
            .map_err(fail)?
        }
        _ => mjob::ignored(&lake).await.map_err(fail)?,
    };
    let mut text = String::new();
    if all.is_empty() {
        text.push_str("no traffic is left out of monitoring\n");
    }
    for r in &all {
        let _ = writeln!(
            text,
            "ignored   {} .. {} by {} ({}){}",
            mlinfra_core::clock::rfc3339(r.from),
            mlinfra_core::clock::rfc3339(r.to),
            r.by,
            r.at,
            if r.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", r.reason)
            }
        );
    }
    cx.out.result(text, &json!({ "ignored": all }));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use mlinfra_core::data::{Column, Frame, Kind, Values};
    use mlinfra_core::monitor::{Logged, Policy, Reference, Thresholds, check};
    use serde_json::json;

    #[test]
    fn the_drift_table_keeps_its_columns_with_long_feature_names() {
        let names = ["x", "a_rather_long_feature_name_from_a_warehouse"];
        let frame = Frame {
            columns: names
                .iter()
                .map(|n| Column {
                    name: (*n).to_string(),
                    kind: Kind::Numeric,
                    values: Values::Number((0..100).map(f64::from).collect()),
                })
                .collect(),
            rows: 100,
        };
        let reference = Reference {
            frame: &frame,
            labels: vec!["0".into(); 100],
            classes: vec!["0".into(), "1".into()],
            positive: Some("1".into()),
            regression: None,
        };
        let logs: Vec<Logged> = (0..100)
            .map(|i| Logged {
                request_id: format!("r{i}"),
                at: None,
                version: 1,
                instances: vec![json!({names[0]: i, names[1]: i})],
                labels: vec![json!(0)],
                probabilities: Vec::new(),
            })
            .collect();
        let policy = Policy {
            window_days: 7,
            drift: Thresholds {
                psi: 0.2,
                ks_p_value: 0.05,
                wasserstein: 0.1,
                jensen_shannon: 0.1,
                chi2_p_value: 0.05,
                dataset_drift_share: 0.5,
            },
            min_accuracy: 0.75,
            min_f1: 0.7,
            max_rmse: 0.0,
            max_mae: 0.0,
            min_coverage: 0.0,
            retrain_on: vec![],
            cooldown_hours: 24,
        };
        let report = check("m", &reference, &logs, &BTreeMap::new(), &policy, None, 0);
        let text = super::report_text(&report);
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("  ")).collect();
        assert_eq!(rows.len(), 2, "{text}");
        // The kind column starts at the same place on every row.
        let starts: Vec<usize> = rows
            .iter()
            .map(|r| r.find("numeric").expect("the kind"))
            .collect();
        assert_eq!(starts[0], starts[1], "{text}");
    }
}
