//! The history of training executions. A run's id is a content hash (the same data and settings
//! give the same run, byte for byte), so its `run.json` describes the model, not the execution;
//! each execution (`pipeline run`, `retrain`, the schedule, the monitor's retraining) adds a record
//! of its own under [`keys::EXECUTIONS`]: when, who or what started it, the blessing against the
//! Production model of that moment, and what became of it in the registry.

use serde::{Deserialize, Serialize};

use super::{JobError, json_bytes, read_json};
use crate::keys::{self, EXECUTIONS};
use crate::lake::Lake;
use crate::metrics::Blessing;
use crate::model::Params;
use crate::pipeline::RunRecord;
use crate::registry::{Candidate, verify};

/// A run's model in `lake` as a registration candidate (`models register --run`): the run
/// record read, its model checked to be `model`'s, its file checked against the checksum the
/// run recorded.
pub async fn candidate(lake: &impl Lake, model: &str, run_id: &str) -> Result<Candidate, JobError> {
    let run_key = keys::run_record(run_id);
    let Some(run) = lake.get(&run_key).await? else {
        return Err(JobError::Input(format!(
            "no run `{run_id}`: `{}` does not exist\nhint: `mlinfra runs list` shows the runs",
            lake.uri(&run_key)
        )));
    };
    let run: RunRecord = serde_json::from_slice(&run).map_err(|e| {
        JobError::Input(format!("`{}` is not a run record: {e}", lake.uri(&run_key)))
    })?;
    if run.model != model {
        return Err(JobError::Input(format!(
            "run `{run_id}` trained model `{}`, not `{model}`",
            run.model
        )));
    }
    let file = keys::model_onnx(model, run_id);
    let bytes = lake
        .get(&file)
        .await?
        .ok_or_else(|| JobError::Input(format!("`{}` does not exist", lake.uri(&file))))?;
    verify(
        &bytes,
        &run.model_sha256,
        &format!("model file `{}`", lake.uri(&file)),
    )?;
    Ok(Candidate {
        artifact_uri: lake.uri(&file),
        sha256: format!("sha256:{}", crate::pipeline::sha256_hex(&bytes)),
        run_id: run.run_id.clone(),
        data_hash: run.data_hash.clone(),
        schema_version: run.schema_version.clone(),
        metrics: super::train::registered_metrics(&run.metrics),
    })
}

/// One execution of a training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// `<seconds since the epoch, 11 digits>-<n>`, ordered by time.
    pub id: String,
    pub at: String,
    pub run_id: String,
    pub model: String,
    /// Who started it (`--as`, or the function's identity such as `mlinfra-monitor`).
    pub actor: String,
    /// Why it ran: `pipeline run`, `on demand`, `schedule`, `drift`, ...
    pub trigger: String,
    pub data_hash: String,
    pub rows: usize,
    pub params: Params,
    /// The search metric and the best cross-validated score.
    pub search_metric: crate::metrics::Metric,
    pub cv_score: f64,
    pub metrics: crate::metrics::Evaluated,
    pub blessing: Blessing,
    /// The version registered by this execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_version: Option<u64>,
    /// What became of the model in the registry, in words.
    pub outcome: String,
    /// The Production request it left for a person to approve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
}

impl Execution {
    /// The record of an execution of `run` at `now`; `outcome` says what the registry did.
    pub fn new(run: &RunRecord, now: u64, actor: &str, trigger: &str, outcome: String) -> Self {
        Execution {
            id: String::new(),
            at: crate::clock::rfc3339(now),
            run_id: run.run_id.clone(),
            model: run.model.clone(),
            actor: actor.to_string(),
            trigger: trigger.to_string(),
            data_hash: run.data_hash.clone(),
            rows: run.rows,
            params: run.best,
            search_metric: run.search.metric,
            cv_score: run.cv_score,
            metrics: run.metrics.clone(),
            blessing: run.blessing.clone(),
            registered_version: None,
            outcome,
            request: None,
        }
    }
}

/// Record an execution (its `id` is given here); returns the key written.
pub async fn record(lake: &impl Lake, e: &mut Execution, now: u64) -> Result<String, JobError> {
    let base = format!("{EXECUTIONS}{now:011}-");
    let n = lake.list(&base).await?.len() + 1;
    e.id = format!("{now:011}-{n}");
    let key = format!("{EXECUTIONS}{}.json", e.id);
    lake.put(&key, &json_bytes(e)).await?;
    Ok(key)
}

/// Every execution recorded, oldest first.
pub async fn list(lake: &impl Lake) -> Result<Vec<Execution>, JobError> {
    let mut keys = lake.list(EXECUTIONS).await?;
    keys.sort_by_key(|k| {
        let id = k.trim_start_matches(EXECUTIONS).trim_end_matches(".json");
        let (t, n) = id.split_once('-').unwrap_or((id, "0"));
        (t.to_string(), n.parse::<u64>().unwrap_or(0))
    });
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        if let Some(e) = read_json::<Execution>(lake, &k).await? {
            out.push(e);
        }
    }
    Ok(out)
}
