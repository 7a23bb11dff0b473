//! Training on the curated data: the pipeline, its artifacts in the lake, registration of a
//! blessed model, and the promotion request the policy asks for. Production always waits for
//! a person's approval (unless the stack makes it automatic); Staging may be automatic.

use std::collections::BTreeMap;

use serde_json::json;

use super::{CuratedPointer, JobError, json_bytes, read_json};
use crate::keys::{self, short_hash};
use crate::lake::Lake;
use crate::model::Model;
use crate::pipeline::{self, Config, Output};
use crate::registry::{Candidate, Registry, RegistryError, Stage, Store, Version};

/// Every artifact of a pipeline run except the data itself, the run record last (its presence
/// says the run's artifacts are complete).
pub fn run_artifacts(out: &Output, cfg: &Config) -> Vec<(String, Vec<u8>)> {
    let data = short_hash(&out.data_hash);
    let run = &out.run.run_id;
    let model = &cfg.model_name;
    vec![
        (
            keys::curated_split(&data),
            json_bytes(
                &json!({"train": out.split.train_rows, "eval": out.split.eval_rows, "seed": cfg.split_seed, "eval_fraction": cfg.eval_fraction}),
            ),
        ),
        (keys::statistics(&data), json_bytes(&out.statistics)),
        (
            keys::schema(&out.run.schema_version),
            out.schema.to_json().into_bytes(),
        ),
        (keys::anomalies(&data), json_bytes(&out.anomalies)),
        (keys::run_search(run), json_bytes(&out.search)),
        (
            keys::run_evaluation(run),
            json_bytes(&if let Some(points) = &out.points {
                json!({"candidate": out.evaluation, "baseline": out.baseline, "blessing": out.run.blessing, "curves": out.curves, "points": points})
            } else {
                json!({"candidate": out.evaluation, "baseline": out.baseline, "blessing": out.run.blessing, "curves": out.curves})
            }),
        ),
        (keys::run_timings(run), json_bytes(&out.timings)),
        (keys::model_onnx(model, run), out.onnx.clone()),
        (keys::model_json(model, run), json_bytes(&out.model)),
        (keys::run_record(run), json_bytes(&out.run)),
    ]
}

/// The evaluation metrics a registered version records.
pub fn registered_metrics(m: &crate::metrics::Evaluated) -> BTreeMap<String, f64> {
    m.metrics()
}

/// The registration candidate of a run whose artifacts are in `lake`.
pub fn candidate(lake: &impl Lake, out: &Output, model: &str) -> Candidate {
    let run = &out.run;
    Candidate {
        artifact_uri: lake.uri(&keys::model_onnx(model, &run.run_id)),
        sha256: run.model_sha256.clone(),
        run_id: run.run_id.clone(),
        data_hash: run.data_hash.clone(),
        schema_version: run.schema_version.clone(),
        metrics: registered_metrics(&run.metrics),
    }
}

/// The Production model of `model` in its in-memory form (its `model.json` beside the
/// `model.onnx` verified against its registered sha256), to evaluate a candidate against. The
/// artifacts are read from `lake` (local directory or S3) when they are in it.
pub async fn production_model<S: Store>(
    registry: &Registry<S>,
    lake: &impl Lake,
    model: &str,
) -> Result<Option<Model>, JobError> {
    let Some(p) = registry
        .store
        .current(model)
        .await?
        .and_then(|c| c.production)
    else {
        return Ok(None);
    };
    // A model imported from another tool has no evaluator of mlinfra's to compare a candidate
    // with on the candidate's rows.
    if p.artifact_uri.contains("/import-") {
        return Err(JobError::Input(format!(
            "the Production version {} of `{model}` was imported from another tool: comparing a model trained here with it is not built yet\nhint: retrain it with the stack's `training.command`",
            p.version
        )));
    }
    let (key, _) = super::read_registered(lake, &p).await?;
    let Some(key) = key else {
        // A model registered from another lake (a local path given by hand): beside it there.
        let Some(path) = crate::lake::file_path(&p.artifact_uri) else {
            return Err(JobError::Input(format!(
                "the Production model `{}` is not in the lake `{}`",
                p.artifact_uri,
                lake.uri("")
            )));
        };
        let json_path = path.with_file_name("model.json");
        let text = std::fs::read_to_string(&json_path)
            .map_err(|e| JobError::Input(format!("cannot read `{}`: {e}", json_path.display())))?;
        return serde_json::from_str(&text).map(Some).map_err(|e| {
            JobError::Input(format!("`{}` is not a model: {e}", json_path.display()))
        });
    };
    let json_key = match key.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/model.json"),
        None => "model.json".to_string(),
    };
    let text = lake
        .get(&json_key)
        .await?
        .ok_or_else(|| JobError::Input(format!("`{}` does not exist", lake.uri(&json_key))))?;
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| JobError::Input(format!("`{}` is not a model: {e}", lake.uri(&json_key))))
}

/// The identity scheduled training registers as (Production still waits for a person).
pub const SCHEDULE_ACTOR: &str = "mlinfra-train";

/// What one training did.
#[derive(Debug)]
pub struct Trained {
    pub out: Output,
    /// The curated data it trained on.
    pub data_key: String,
    /// Every key written.
    pub keys: Vec<String>,
    pub registered: Option<Version>,
    /// Why no version was registered (not blessed, or the same model file already is).
    pub not_registered: Option<String>,
    /// The Production request left for a person to approve.
    pub request: Option<String>,
    /// The key of this execution's record (see [`super::runs`]).
    pub execution: Option<String>,
}

/// How a training is run.
pub struct Job<'a> {
    pub cfg: &'a Config,
    pub actor: &'a str,
    pub register: bool,
    /// Request Production for a version that reached Staging.
    pub request_production: bool,
    /// Why it runs (`schedule`, `drift`, `on demand`), for the request's comment.
    pub reason: &'a str,
    /// The memory the job runs in, when it is bounded: the function (`train`) and its
    /// `memory_mb`. Data too large for it is refused with the setting to raise, instead of the
    /// process being killed.
    pub memory: Option<(&'a str, u32)>,
}

/// About how much memory (MiB) training takes on a CSV file of `bytes`: 150 MiB plus 4.5 times
/// the file, which is what `bench/train_1m.sh` measures (434 MiB peak for 64 MiB, 4212 MiB for
/// 948 MiB, 13 features).
pub fn training_memory_mib(bytes: usize) -> u64 {
    150 + (bytes as u64 * 9).div_ceil(2 << 20)
}

/// The `memory_mb` to suggest for a job that needs `need_mib`: rounded up to 512 MB.
pub fn memory_setting_mb(need_mib: u64) -> u64 {
    need_mib.div_ceil(512) * 512
}

/// Refuse data that training cannot fit in `memory_mb`, naming the setting that raises it.
pub fn check_memory(uri: &str, bytes: usize, memory: Option<(&str, u32)>) -> Result<(), JobError> {
    let Some((function, have)) = memory else {
        return Ok(());
    };
    let need = training_memory_mib(bytes);
    if need <= u64::from(have) {
        return Ok(());
    }
    let suggest = memory_setting_mb(need);
    let hint = if suggest <= 10_240 {
        format!(
            "raise `functions.{function}.memory_mb` in the stack to {suggest} (Lambda allows up to 10240) and run `mlinfra up`"
        )
    } else {
        "the data is too large for one Lambda function (10240 MB at most): train on a sample, or split the data".to_string()
    };
    Err(JobError::Input(format!(
        "`{uri}` is {} MiB; training it takes about {need} MiB and the {function} function has {have} MB\nhint: {hint}",
        bytes.div_ceil(1 << 20)
    )))
}

/// Train on `bytes` (the data at `data_key`; by default where the curated copy of these bytes
/// goes, [`super::curated_key`] of their hash), write the artifacts, register if blessed, and
/// request promotion by policy.
pub async fn train_on<S: Store>(
    lake: &impl Lake,
    registry: &Registry<S>,
    data_key: Option<&str>,
    bytes: &[u8],
    job: &Job<'_>,
) -> Result<Trained, JobError> {
    let model = &job.cfg.model_name;
    let baseline = production_model(registry, lake, model).await?;
    let out = pipeline::run(bytes, job.cfg, baseline.as_ref())?;
    let data_key = data_key.map_or_else(|| keys::curated_data(&out.data_hash), str::to_string);
    let artifacts = run_artifacts(&out, job.cfg);
    for (k, b) in &artifacts {
        lake.put(k, b).await?;
    }
    let mut t = Trained {
        keys: artifacts.into_iter().map(|(k, _)| k).collect(),
        data_key,
        registered: None,
        not_registered: None,
        request: None,
        execution: None,
        out,
    };
    if !t.out.run.blessing.blessed {
        t.not_registered = Some(format!(
            "not blessed ({}); to register it anyway: `mlinfra models register --run {}`",
            t.out.run.blessing.reason, t.out.run.run_id
        ));
    } else if !job.register {
        t.not_registered = Some("registration not asked for".into());
    } else {
        register(registry, lake, job, &mut t).await?;
    }
    t.execution = Some(record_execution(lake, &t, job.actor, job.reason).await?);
    Ok(t)
}

/// Record the execution of a training (see [`super::runs`]); returns the key written.
pub async fn record_execution(
    lake: &impl Lake,
    t: &Trained,
    actor: &str,
    trigger: &str,
) -> Result<String, JobError> {
    let outcome = match (&t.registered, &t.not_registered) {
        (Some(v), _) => format!("registered as version {} ({})", v.version, v.stage),
        (None, Some(why)) => why.clone(),
        (None, None) => "not registered".to_string(),
    };
    let now = super::now();
    let mut e = super::runs::Execution::new(&t.out.run, now, actor, trigger, outcome);
    e.registered_version = t.registered.as_ref().map(|v| v.version);
    e.request = t.request.clone();
    super::runs::record(lake, &mut e, now).await
}

async fn register<S: Store>(
    registry: &Registry<S>,
    lake: &impl Lake,
    job: &Job<'_>,
    t: &mut Trained,
) -> Result<(), JobError> {
    let model = &job.cfg.model_name;
    match registry
        .register(model, candidate(lake, &t.out, model), job.actor)
        .await
    {
        Ok(v) => {
            if job.request_production && v.stage == Stage::Staging {
                let r = registry
                    .request(
                        model,
                        v.version,
                        Stage::Production,
                        &format!("retrained ({}) on {}", job.reason, t.out.run.data_hash),
                        job.actor,
                    )
                    .await?;
                t.request = Some(r.id);
            }
            t.registered = Some(v);
        }
        Err(e @ RegistryError::AlreadyRegistered { .. }) => {
            t.not_registered = Some(e.to_string());
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// What a person should hear about a training: the version registered and the Production
/// request waiting for approval (or why nothing was registered). Recorded under
/// `artifacts/alerts/` with the alerts, for the caller to deliver (SNS on AWS; the log and the
/// stack's webhooks locally).
pub async fn notify(
    lake: &impl Lake,
    t: &Trained,
    model: &str,
    reason: &str,
    now: u64,
) -> Result<super::Alert, JobError> {
    let summary = match (&t.registered, &t.request, &t.not_registered) {
        (Some(v), Some(r), _) => format!(
            "`{model}`: retrained ({reason}): version {} registered ({}); Production requested as {r}, waiting for approval",
            v.version, v.stage
        ),
        (Some(v), None, _) => format!(
            "`{model}`: retrained ({reason}): version {} registered ({})",
            v.version, v.stage
        ),
        (None, _, Some(why)) => format!("`{model}`: retrained ({reason}): no new version: {why}"),
        _ => format!("`{model}`: retrained ({reason})"),
    };
    let e = &t.out.evaluation;
    let alert = super::Alert {
        id: super::alert_id(now, "train", lake).await?,
        at: crate::clock::rfc3339(now),
        source: "train".into(),
        model: model.to_string(),
        summary,
        details: vec![
            format!(
                "run {} on {} ({} rows)",
                t.out.run.run_id, t.data_key, t.out.run.rows
            ),
            e.summary(),
            format!("blessing: {}", t.out.run.blessing.reason),
        ],
        evidence: keys::run_record(&t.out.run.run_id),
    };
    super::record_alert(lake, &alert).await?;
    Ok(alert)
}

/// Train on the current curated data version (`curated/latest.json`).
pub async fn retrain<S: Store>(
    lake: &impl Lake,
    registry: &Registry<S>,
    job: &Job<'_>,
) -> Result<Trained, JobError> {
    let Some(p) = read_json::<CuratedPointer>(lake, keys::CURATED_LATEST).await? else {
        return Err(JobError::Input(format!(
            "no curated data: `{}` does not exist\nhint: add data with `mlinfra data ingest FILE` (or run `mlinfra pipeline run` once)",
            lake.uri(keys::CURATED_LATEST)
        )));
    };
    let Some(bytes) = lake.get(&p.key).await? else {
        return Err(JobError::Input(format!(
            "`{}` names `{}`, which does not exist",
            lake.uri(keys::CURATED_LATEST),
            lake.uri(&p.key)
        )));
    };
    check_memory(&lake.uri(&p.key), bytes.len(), job.memory)?;
    train_on(lake, registry, Some(&p.key), &bytes, job).await
}

/// Why a training on a file a person gave did not happen.
#[derive(Debug, thiserror::Error)]
pub enum FileRunError {
    /// Error anomalies block training; they are written to `key`
    /// (`artifacts/anomalies/<data>.json`).
    #[error("{} anomalies block training", .anomalies.errors().count())]
    Anomalies {
        anomalies: Box<crate::validate::Anomalies>,
        key: String,
    },
    #[error(transparent)]
    Job(#[from] JobError),
}

/// `pipeline run`'s use case: [`train_on`] a data file's CSV bytes; then the input as given
/// under `raw/<file_name>`, its curated copy, and the pointer that later retrainings train on
/// (written from where they are, no copy of the data). Error anomalies are written to the lake
/// before they are returned.
pub async fn train_on_file<S: Store>(
    lake: &impl Lake,
    registry: &Registry<S>,
    file_name: &str,
    raw: &[u8],
    csv: &[u8],
    job: &Job<'_>,
) -> Result<Trained, FileRunError> {
    let t = match train_on(lake, registry, None, csv, job).await {
        Ok(t) => t,
        Err(JobError::Pipeline(pipeline::PipelineError::Anomalies(anomalies))) => {
            let data = format!("sha256:{}", pipeline::sha256_hex(csv));
            let key = keys::anomalies(&data);
            lake.put(&key, &json_bytes(&anomalies))
                .await
                .map_err(JobError::from)?;
            return Err(FileRunError::Anomalies { anomalies, key });
        }
        Err(e) => return Err(e.into()),
    };
    let raw_key = keys::raw(file_name);
    lake.put(&raw_key, raw).await.map_err(JobError::from)?;
    lake.put(&t.data_key, csv).await.map_err(JobError::from)?;
    let rows = csv::ReaderBuilder::new().from_reader(csv).records().count();
    CuratedPointer {
        data_hash: t.out.data_hash.clone(),
        key: t.data_key.clone(),
        rows,
        sources: vec![raw_key],
        schema_version: Some(t.out.run.schema_version.clone()),
        created_at: crate::clock::now_rfc3339(),
    }
    .write(lake)
    .await?;
    Ok(t)
}

/// A retraining and what a person heard of it: the notification recorded in the lake, and
/// whether its delivery succeeded.
#[derive(Debug)]
pub struct Retrained {
    pub trained: Trained,
    pub note: super::Alert,
    pub delivered: bool,
}

/// The chain every trigger of a retraining runs (the weekly schedule, the monitor's policy,
/// `mlinfra retrain`, `serve`'s schedules): [`retrain`] on the current curated data, record the
/// notification of what happened ([`notify`]) and deliver it through `notifier`. A failed
/// delivery is logged and said in the result; the notification stays recorded.
pub async fn retrain_and_notify<S: Store>(
    lake: &impl Lake,
    registry: &Registry<S>,
    job: &Job<'_>,
    notifier: &impl crate::notify::Notifier,
    now: u64,
) -> Result<Retrained, JobError> {
    let trained = retrain(lake, registry, job).await?;
    let note = notify(lake, &trained, &job.cfg.model_name, job.reason, now).await?;
    let delivered = super::deliver(notifier, lake, &note).await.is_ok();
    Ok(Retrained {
        trained,
        note,
        delivered,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn data_too_large_for_the_functions_memory_is_refused_with_the_setting_to_raise() {
        assert_eq!(training_memory_mib(64 << 20), 438);
        assert!(check_memory("s3://b/k.csv", 64 << 20, None).is_ok());
        assert!(check_memory("s3://b/k.csv", 64 << 20, Some(("train", 512))).is_ok());
        let e = check_memory("s3://b/k.csv", 948 << 20, Some(("train", 2048)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`s3://b/k.csv` is 948 MiB"), "{e}");
        assert!(e.contains("takes about 4416 MiB"), "{e}");
        assert!(e.contains("the train function has 2048 MB"), "{e}");
        assert!(
            e.contains("raise `functions.train.memory_mb` in the stack to 4608"),
            "{e}"
        );
        let e = check_memory("s3://b/k.csv", 4 << 30, Some(("monitor", 10240)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("too large for one Lambda function"), "{e}");
    }
}
