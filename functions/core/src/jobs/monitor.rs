//! One monitoring run over the lake: the Production model's training rows as the reference,
//! the window's `predictions/` and `feedback/` as the current data, [`crate::monitor::check`]
//! for the numbers and the decision, then the records: the report, an alert when a threshold
//! is crossed, and the retraining time (written before retraining starts, so an interrupted
//! retrain is not started again before the cooldown ends). Each retraining is claimed first
//! with a conditional create of the next number under [`keys::RETRAINS`], so that of two monitors
//! running at once only one starts it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Alert, JobError, alert_id, json_bytes, read_json, record_alert};
use crate::data::{LabelRule, ReadOptions, read_csv, take_label};
use crate::keys::{
    self, IGNORED, MONITORING_REPORTS as REPORTS, MONITORING_STATE as STATE, RETRAINS,
};
use crate::lake::Lake;
use crate::monitor::{Logged, Policy, Reference, Report, check};
use crate::registry::{Stage, Store};

/// The identity retraining triggered by the monitor registers as (Production still waits
/// for a person to approve).
pub const ACTOR: &str = "mlinfra-monitor";

/// A retraining the monitor started: when, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    pub at: u64,
    pub reasons: Vec<String>,
}

/// Claim the retraining after the `seen` ones this run read at its start: `Ok(None)` when it is
/// ours, else the key of the claim another monitor made first (it saw the same ones).
pub async fn claim_retrain(
    lake: &impl Lake,
    seen: usize,
    claim: &Claim,
) -> Result<Option<String>, JobError> {
    let key = format!("{RETRAINS}{:06}.json", seen + 1);
    if lake.put_if_absent(&key, &json_bytes(claim)).await? {
        Ok(None)
    } else {
        Ok(Some(key))
    }
}

/// How many retrainings were claimed, and when the last one was.
async fn claims(lake: &impl Lake) -> Result<(usize, Option<u64>), JobError> {
    let keys = lake.list(RETRAINS).await?;
    let last = match keys.last() {
        Some(k) => read_json::<Claim>(lake, k).await?.map(|c| c.at),
        None => None,
    };
    Ok((keys.len(), last))
}

/// What the monitor remembers between runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// When retraining was last triggered (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_retrain_at: Option<u64>,
    #[serde(default)]
    pub last_retrain_reasons: Vec<String>,
    #[serde(default)]
    pub retrains: u64,
}

pub struct Job<'a> {
    pub model: &'a str,
    pub policy: &'a Policy,
    pub read: &'a ReadOptions,
    pub label: &'a str,
    pub rule: &'a LabelRule,
    pub now: u64,
    /// Write the report, the alert and the retraining time (`false`: look only).
    pub record: bool,
    /// When recording: put labelled feedback through this ETL first, so that it becomes
    /// training data.
    pub etl: Option<super::etl::Job<'a>>,
}

#[derive(Debug)]
pub struct Monitored {
    pub report: Report,
    pub report_key: Option<String>,
    pub alert: Option<Alert>,
    /// Retraining is due now (the caller starts it: in-process locally, an invocation on AWS).
    pub retrain: bool,
    /// What became of the labelled feedback put through ETL (when there was new feedback).
    pub feedback: Option<super::etl::Ingested>,
}

/// The day (`YYYY-MM-DD`) of a `predictions/<day>/…` key.
fn day_of(key: &str) -> Option<&str> {
    key.strip_prefix(keys::PREDICTIONS)?.split('/').next()
}

/// One ignored range of traffic: requests answered from `from` to `to` (seconds since the
/// epoch, inclusive).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ignored {
    pub from: u64,
    pub to: u64,
    pub reason: String,
    pub by: String,
    pub at: String,
}

/// The ranges of traffic to leave out.
pub async fn ignored(lake: &impl Lake) -> Result<Vec<Ignored>, JobError> {
    Ok(read_json(lake, IGNORED).await?.unwrap_or_default())
}

/// Leave out a range of traffic from every later monitoring run.
pub async fn ignore(lake: &impl Lake, range: Ignored) -> Result<Vec<Ignored>, JobError> {
    let mut all = ignored(lake).await?;
    all.push(range);
    lake.put(IGNORED, &super::json_bytes(&all)).await?;
    Ok(all)
}

/// The prediction logs of the last `days` days up to `now`, without those answered in an
/// ignored range.
pub async fn window_logs(lake: &impl Lake, days: u32, now: u64) -> Result<Vec<Logged>, JobError> {
    let skip = ignored(lake).await?;
    let mut logs = all_window_logs(lake, days, now).await?;
    logs.retain(|l| {
        l.at.is_none_or(|t| !skip.iter().any(|r| r.from <= t && t <= r.to))
    });
    Ok(logs)
}

async fn all_window_logs(lake: &impl Lake, days: u32, now: u64) -> Result<Vec<Logged>, JobError> {
    let first = crate::clock::rfc3339(now.saturating_sub(u64::from(days.max(1) - 1) * 86_400))
        [..10]
        .to_string();
    let mut out = vec![];
    for key in lake.list(keys::PREDICTIONS).await? {
        if day_of(&key).is_none_or(|d| d < first.as_str()) {
            continue;
        }
        let Some(bytes) = lake.get(&key).await? else {
            continue;
        };
        for line in String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            // A line that is not a prediction log (a partial write from a crash) is skipped.
            if let Ok(l) = serde_json::from_str::<Logged>(line) {
                out.push(l);
            }
        }
    }
    Ok(out)
}

/// True classes by request id from `feedback/` (class names, as [`crate::monitor::class_of`]
/// reads a label).
pub async fn feedback(lake: &impl Lake) -> Result<BTreeMap<String, String>, JobError> {
    let mut out = BTreeMap::new();
    for key in lake.list(keys::FEEDBACK).await? {
        let Some(bytes) = lake.get(&key).await? else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        let id = v.get("request_id").and_then(Value::as_str);
        let class = v.get("label").and_then(crate::monitor::class_of);
        if let (Some(id), Some(class)) = (id, class) {
            out.insert(id.to_string(), class);
        }
    }
    Ok(out)
}

/// The reports kept, oldest first.
pub async fn history(lake: &impl Lake) -> Result<Vec<Report>, JobError> {
    let mut out = vec![];
    for key in lake.list(REPORTS).await? {
        if let Some(r) = read_json::<Report>(lake, &key).await? {
            out.push(r);
        }
    }
    Ok(out)
}

/// The monitor use case: [`run`] once, and its alert (when it raised one) delivered through
/// `notifier`; whether the delivery succeeded (`None` without an alert). The alert is recorded
/// in the lake before, whatever the delivery does. Retraining, when due, is the caller's: in
/// this process, or an invocation of the train function.
pub async fn run_and_notify<S: Store>(
    lake: &impl Lake,
    store: &S,
    job: &Job<'_>,
    notifier: &impl crate::notify::Notifier,
) -> Result<(Monitored, Option<bool>), JobError> {
    let m = run(lake, store, job).await?;
    let delivered = match &m.alert {
        Some(a) => Some(super::deliver(notifier, lake, a).await.is_ok()),
        None => None,
    };
    Ok((m, delivered))
}

/// Run the monitor once.
pub async fn run<S: Store>(
    lake: &impl Lake,
    store: &S,
    job: &Job<'_>,
) -> Result<Monitored, JobError> {
    // One read: the model's document says which version is in Production and what it was
    // trained on.
    let doc = store.load(job.model).await?;
    let Some(version) = doc
        .as_ref()
        .and_then(|d| d.versions.iter().find(|v| v.stage == Stage::Production))
    else {
        return Err(JobError::Input(format!(
            "model `{}` has no Production version to monitor\nhint: `mlinfra models list`",
            job.model
        )));
    };
    // A model imported from another tool is compared with what it answered its evaluation
    // set (its reference); one mlinfra trained, with the rows it was trained on.
    let imported = version.run_id.starts_with("import-");
    // A regression's version records its RMSE.
    let regression = version.metrics.contains_key("rmse");
    if regression && imported {
        return Err(JobError::Input(format!(
            "version {} of `{}` is a regression imported from another tool: monitoring it is not built yet (a regression mlinfra trains is monitored)",
            version.version, job.model
        )));
    }
    let (frame, reference_labels, classes, regression_reference) = if imported {
        let key = keys::imported_reference(job.model, &version.run_id);
        let Some(bytes) = lake.get(&key).await? else {
            return Err(JobError::Input(format!(
                "the monitoring reference of version {} (`{}`) is not in the lake: it is written when a classification is imported\nhint: import the model again with this mlinfra",
                version.version,
                lake.uri(&key)
            )));
        };
        let mut frame = read_csv(&bytes[..], &ReadOptions::default())
            .map_err(|e| JobError::Input(format!("`{}`: {e}", lake.uri(&key))))?;
        let predicted = frame.take("predicted").ok_or_else(|| {
            JobError::Input(format!("`{}` has no column `predicted`", lake.uri(&key)))
        })?;
        let labels: Vec<String> = (0..frame.rows)
            .map(|r| predicted.values.cell(r).unwrap_or_default())
            .collect();
        let mut classes: Vec<String> = labels.clone();
        classes.sort();
        classes.dedup();
        (frame, labels, classes, None)
    } else {
        let data_key = keys::curated_data(&version.data_hash);
        let Some(bytes) = lake.get(&data_key).await? else {
            return Err(JobError::Input(format!(
                "the training data of version {} (`{}`) is not in the lake",
                version.version,
                lake.uri(&data_key)
            )));
        };
        let mut frame =
            read_csv(&bytes[..], job.read).map_err(|e| JobError::Input(e.to_string()))?;
        // The rows the model was trained on, when the split was recorded; else all of them.
        let split: Option<Value> =
            read_json(lake, &keys::curated_split(&version.data_hash)).await?;
        let train: Option<Vec<usize>> =
            split.and_then(|s| serde_json::from_value(s["train"].clone()).ok());
        if regression {
            let t = crate::data::take_target(&mut frame, job.label)
                .map_err(|e| JobError::Input(e.to_string()))?;
            let run: Option<crate::pipeline::RunRecord> =
                read_json(lake, &keys::run_record(&version.run_id)).await?;
            let (frame, values) = training_rows(frame, train, &t.y);
            let reference = crate::monitor::RegressionReference {
                values,
                interval: run.and_then(|r| r.interval),
            };
            (frame, Vec::new(), Vec::new(), Some(reference))
        } else {
            let (labels, _) = take_label(&mut frame, job.label, job.rule)
                .map_err(|e| JobError::Input(e.to_string()))?;
            let (frame, y) = training_rows(frame, train, &labels.y);
            let names = y.into_iter().map(|c| labels.classes[c].clone()).collect();
            (frame, names, labels.classes, None)
        }
    };
    let reference = Reference {
        frame: &frame,
        labels: reference_labels,
        positive: if imported {
            None
        } else {
            job.rule.positive_class().map(str::to_string)
        },
        classes,
        regression: regression_reference,
    };
    finish(lake, job, version, imported, reference).await
}

/// The rows the model was trained on (`train`, when the split was recorded and its rows are in
/// the frame; else all of them), with the values of `all` at those rows.
fn training_rows<T: Clone>(
    frame: crate::data::Frame,
    train: Option<Vec<usize>>,
    all: &[T],
) -> (crate::data::Frame, Vec<T>) {
    match train {
        Some(rows) if rows.iter().all(|r| *r < frame.rows) => {
            let picked = rows.iter().map(|r| all[*r].clone()).collect();
            (frame.select_rows(&rows), picked)
        }
        _ => (frame, all.to_vec()),
    }
}

/// The monitoring run against its reference: logs, feedback, the report, the decision, the
/// alert.
async fn finish(
    lake: &impl Lake,
    job: &Job<'_>,
    version: &crate::registry::Version,
    imported: bool,
    reference: Reference<'_>,
) -> Result<Monitored, JobError> {
    let mut logs = window_logs(lake, job.policy.window_days, job.now).await?;
    if imported {
        // Each request's confidence, beside what the log keeps of its input.
        for l in &mut logs {
            for (inst, p) in l.instances.iter_mut().zip(&l.probabilities) {
                if let Value::Object(o) = inst {
                    let best = p.iter().copied().fold(f64::NAN, f64::max);
                    o.insert("confidence".into(), Value::from(best));
                }
            }
        }
    }
    let fb = feedback(lake).await?;
    // Feedback becomes training data through the stack's ETL for a model mlinfra trains; an
    // imported model's is kept for its own training code.
    let ingested = match (&job.etl, job.record && !imported) {
        (Some(etl), true) => super::etl::ingest_feedback(lake, &logs, &fb, etl).await?,
        _ => None,
    };
    let mut state: State = read_json(lake, STATE).await?.unwrap_or_default();
    // A retraining claimed by a run whose state write was lost still starts the cooldown.
    let (seen, last) = claims(lake).await?;
    state.last_retrain_at = state.last_retrain_at.max(last);
    let mut report = check(
        job.model,
        &reference,
        &logs,
        &fb,
        job.policy,
        state.last_retrain_at,
        job.now,
    );
    if report.decision.retrain && imported {
        report.decision.retrain = false;
        report.decision.retrain_skipped = Some(format!(
            "version {} was imported: the monitor does not retrain it; the stack's `training.command` does (`mlinfra retrain`)",
            version.version
        ));
    }
    if report.decision.retrain {
        // Retraining on the data the Production model was trained on gives the same model:
        // skip it, and keep the cooldown for a retraining that can change something.
        let latest = read_json::<super::CuratedPointer>(lake, keys::CURATED_LATEST).await?;
        if latest.is_none_or(|p| p.data_hash == version.data_hash) {
            report.decision.retrain = false;
            report.decision.retrain_skipped = Some(format!(
                "no data arrived since the Production model's (version {}, {}): add data (`mlinfra data ingest FILE`) or send labelled feedback",
                version.version,
                keys::short_hash(&version.data_hash)
            ));
        }
    }
    if job.record && report.decision.retrain {
        let claim = Claim {
            at: job.now,
            reasons: report.decision.retrain_reasons.clone(),
        };
        if let Some(other) = claim_retrain(lake, seen, &claim).await? {
            report.decision.retrain = false;
            report.decision.retrain_skipped = Some(format!(
                "another monitor run started this retraining first (`{}`)",
                lake.uri(&other)
            ));
        }
    }
    let mut m = Monitored {
        retrain: report.decision.retrain,
        report,
        report_key: None,
        alert: None,
        feedback: ingested,
    };
    if !job.record {
        return Ok(m);
    }
    let key = format!("{REPORTS}{:011}.json", job.now);
    lake.put(&key, &json_bytes(&m.report)).await?;
    if m.report.decision.alert {
        let d = &m.report.decision;
        let mut summary = format!(
            "`{}`: {}: {}",
            job.model,
            if m.report.dataset.drifted {
                "dataset drift"
            } else {
                "monitoring thresholds crossed"
            },
            d.violations.join(", ")
        );
        if d.retrain {
            summary.push_str(&format!("; retraining ({})", d.retrain_reasons.join(", ")));
        } else if let Some(why) = &d.retrain_skipped {
            summary.push_str(&format!("; not retraining: {why}"));
        } else if let Some(u) = &d.cooldown_until {
            summary.push_str(&format!("; retraining waits for the cooldown until {u}"));
        }
        let details = m.report.alert_details();
        let alert = Alert {
            id: alert_id(job.now, "monitor", lake).await?,
            at: m.report.generated_at.clone(),
            source: "monitor".into(),
            model: job.model.to_string(),
            summary,
            details,
            evidence: key.clone(),
        };
        record_alert(lake, &alert).await?;
        m.alert = Some(alert);
    }
    if m.retrain {
        state.last_retrain_at = Some(job.now);
        state.last_retrain_reasons = m.report.decision.retrain_reasons.clone();
        state.retrains += 1;
        lake.put(STATE, &json_bytes(&state)).await?;
    }
    m.report_key = Some(key);
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::LocalLake;

    #[tokio::test]
    async fn of_two_monitors_that_saw_the_same_claims_only_one_starts_the_retraining() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = LocalLake::new(dir.path());
        let claim = |at| Claim {
            at,
            reasons: vec!["dataset drift".into()],
        };
        // Both read no claims at their start; the first to create `000001` wins.
        assert_eq!(claim_retrain(&lake, 0, &claim(10)).await.expect("a"), None);
        let lost = claim_retrain(&lake, 0, &claim(11)).await.expect("b");
        assert_eq!(
            lost.as_deref(),
            Some("artifacts/monitoring/retrains/000001.json")
        );
        // The winner's claim is what the next run sees: its time starts the cooldown.
        assert_eq!(claims(&lake).await.expect("claims"), (1, Some(10)));
        // A later run that saw it claims the next one.
        assert_eq!(claim_retrain(&lake, 1, &claim(99)).await.expect("c"), None);
    }
}
