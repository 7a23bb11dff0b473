//! The work of the `etl`, `train` and `monitor` functions over a [`Lake`] and a model
//! registry. The Lambda binaries call these for their events; on the local environment the CLI
//! (`mlinfra data ingest`, `mlinfra retrain`, `mlinfra monitor check`) and `mlinfra serve` call
//! the same code in-process. Every key they read or write is spelled in [`crate::keys`].

pub mod etl;
#[cfg(feature = "scoring")]
pub mod import;
pub mod monitor;
pub mod runs;
pub mod train;

use serde::{Deserialize, Serialize};

use crate::keys;
use crate::lake::{Lake, LakeError};

/// Everything the jobs need to know about the stack, written by the CLI to
/// [`keys::SETTINGS`] in the lake, so a function needs only its `FunctionConfig` to find it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub stack: String,
    pub pipeline: crate::pipeline::Config,
    pub promotion: crate::registry::Policy,
    pub monitoring: crate::monitor::Policy,
}

impl Settings {
    /// ETL of raw objects as this stack reads its data.
    pub fn etl_job(&self, now: u64) -> etl::Job<'_> {
        let p = &self.pipeline;
        etl::Job {
            model: &p.model_name,
            read: &p.read,
            label: &p.label,
            rule: &p.rule,
            task: p.task,
            schema: p.schema.as_ref(),
            now,
        }
    }

    /// Training that registers a blessed model and requests Production, as `actor`.
    pub fn train_job<'a>(&'a self, actor: &'a str, reason: &'a str) -> train::Job<'a> {
        train::Job {
            cfg: &self.pipeline,
            actor,
            register: true,
            request_production: true,
            reason,
            memory: None,
        }
    }

    /// One monitoring run at `now`; `record`: write the report, alert and retraining time.
    pub fn monitor_job(&self, now: u64, record: bool) -> monitor::Job<'_> {
        let p = &self.pipeline;
        monitor::Job {
            model: &p.model_name,
            policy: &self.monitoring,
            read: &p.read,
            label: &p.label,
            rule: &p.rule,
            now,
            record,
            etl: record.then(|| self.etl_job(now)),
        }
    }

    /// The registry in `store` under this stack's promotion policy.
    pub fn registry<S: crate::registry::Store>(&self, store: S) -> crate::registry::Registry<S> {
        crate::registry::Registry::new(store, self.promotion.clone())
    }
}

/// The settings in `lake`, or an error that says how they get there.
pub async fn settings(lake: &impl Lake) -> Result<Settings, JobError> {
    read_json(lake, keys::SETTINGS).await?.ok_or_else(|| {
        JobError::Input(format!(
            "`{}` does not exist: the stack's settings are written by `mlinfra up`",
            lake.uri(keys::SETTINGS)
        ))
    })
}

/// Why a job could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    #[error("{0}")]
    Input(String),
}

/// The bytes of a registered artifact, checked against its registered sha256: from `lake` when
/// its URI is in it (the key is returned too), else from its `file://` path (an artifact
/// registered by hand from elsewhere).
pub async fn read_registered(
    lake: &impl Lake,
    p: &crate::registry::Pointer,
) -> Result<(Option<String>, Vec<u8>), JobError> {
    let Some(key) = crate::lake::key_of(lake, &p.artifact_uri) else {
        return Ok((
            None,
            crate::registry::read_artifact(&p.artifact_uri, &p.sha256)?,
        ));
    };
    let bytes = lake
        .get(&key)
        .await?
        .ok_or_else(|| JobError::Input(format!("`{}` does not exist", lake.uri(&key))))?;
    crate::registry::verify(&bytes, &p.sha256, &format!("`{}`", p.artifact_uri))?;
    Ok((Some(key), bytes))
}

pub use crate::clock::now;

/// `curated/latest.json`: which curated data version training uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CuratedPointer {
    /// `sha256:` of the data file.
    pub data_hash: String,
    pub key: String,
    pub rows: usize,
    /// The raw objects this version is made of, oldest first.
    pub sources: Vec<String>,
    /// The schema new data is validated against (`artifacts/schema/<version>.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<String>,
    pub created_at: String,
}

impl CuratedPointer {
    /// Make this the version training uses: written to [`keys::CURATED_LATEST`].
    pub async fn write(&self, lake: &impl Lake) -> Result<(), JobError> {
        lake.put(keys::CURATED_LATEST, &json_bytes(self)).await?;
        Ok(())
    }
}

pub async fn read_json<T: serde::de::DeserializeOwned>(
    lake: &impl Lake,
    key: &str,
) -> Result<Option<T>, JobError> {
    match lake.get(key).await? {
        None => Ok(None),
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| JobError::Input(format!("`{}` is not valid: {e}", lake.uri(key)))),
    }
}

pub fn json_bytes<T: Serialize>(v: &T) -> Vec<u8> {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s.into_bytes()
}

/// Something a person should know: what crossed which threshold, or which file was
/// quarantined. Stored under `artifacts/alerts/`; delivered by the caller (SNS through the
/// CloudWatch alarms on AWS; the log and the stack's webhooks locally).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    pub at: String,
    pub source: String,
    pub model: String,
    pub summary: String,
    pub details: Vec<String>,
    /// The report or anomalies behind the alert.
    pub evidence: String,
}

impl Alert {
    /// The alert as a message for people: the summary, its details, and where the evidence is.
    pub fn text(&self, lake: &impl Lake) -> String {
        let mut s = self.summary.clone();
        for d in &self.details {
            s.push_str("\n- ");
            s.push_str(d);
        }
        s.push_str(&format!("\n\nevidence: {}", lake.uri(&self.evidence)));
        s
    }
}

/// Deliver a recorded alert through `notifier`. A failed delivery is logged and returned; the
/// alert stays recorded in the lake either way.
pub async fn deliver(
    notifier: &impl crate::notify::Notifier,
    lake: &impl Lake,
    alert: &Alert,
) -> Result<(), String> {
    let sent = notifier.deliver(alert, lake).await;
    if let Err(e) = &sent {
        eprintln!("alert {} not delivered: {e}", alert.id);
    }
    sent
}

/// Store an alert under `artifacts/alerts/<at>-<source>.json`; returns its key.
pub async fn record_alert(lake: &impl Lake, alert: &Alert) -> Result<String, JobError> {
    let key = keys::alert(&alert.id);
    lake.put(&key, &json_bytes(alert)).await?;
    Ok(key)
}

/// An alert id sortable by time: `<seconds>-<source>-<n>`.
pub async fn alert_id(now: u64, source: &str, lake: &impl Lake) -> Result<String, JobError> {
    let base = format!("{now:011}-{source}");
    let taken = lake.list(&format!("{}{base}", keys::ALERTS)).await?.len();
    Ok(format!("{base}-{}", taken + 1))
}

/// A job's failure as a function error (`mlinfra.JobFailed`; `mlinfra.NotBuilt` for what is
/// not built).
impl From<JobError> for crate::FunctionError {
    fn from(e: JobError) -> Self {
        crate::FunctionError {
            error_type: "mlinfra.JobFailed",
            message: e.to_string(),
            retryable: match &e {
                JobError::Lake(l) => l.retryable,
                JobError::Registry(r) => r.retryable(),
                _ => false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A function's caller retries only what can succeed later: a throttled lake, not a denied
    /// one, and never a refused input.
    #[test]
    fn only_transient_lake_failures_are_retryable() {
        let denied = LakeError::service("raw/a.csv", "denied", Some(403), Some("AccessDenied"));
        let throttled = LakeError::service("raw/a.csv", "slow down", Some(503), Some("SlowDown"));
        let dropped = LakeError::service("raw/a.csv", "connection reset", None, None);
        let bad_key = LakeError::new("../a", "expected a relative key");
        let retry = |e: JobError| crate::FunctionError::from(e).retryable;
        assert!(!retry(JobError::Lake(denied)));
        assert!(retry(JobError::Lake(throttled)));
        assert!(retry(JobError::Lake(dropped)));
        assert!(!retry(JobError::Lake(bad_key)));
        assert!(!retry(JobError::Input("bad".into())));
    }
}
