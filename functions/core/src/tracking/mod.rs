//! Experiment tracking for the user's own training code: MLflow's experiments, runs (params,
//! metrics with their step and time history, tags, dataset inputs, the models they output) and
//! logged models, kept in the lake under [`keys::TRACKING`] beside the pipeline's own records.
//! The MLflow REST API ([`crate::mlflow`]) and `mlinfra runs` read and write them here; there
//! is no second store.
//!
//! Layout: `experiments/<id>.json`; `runs/<run id>/run.json` (everything but the metric
//! history) and `runs/<run id>/metrics/<n>.json`, one object per write of metric points, never
//! rewritten, so logging a point costs the same however long the history is; `models/<id>.json`
//! for logged models; `registered/<name>.json` for what MLflow's registry records beside
//! mlinfra's (descriptions, tags, each version's source); `files/...` for artifacts.
//!
//! [`Tracking`] reads the lake once and keeps what it read in memory; every change is written
//! to the lake first and applied in memory only when the write succeeded.

pub mod filter;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::keys;
use crate::lake::{Lake, LakeError};

/// The default experiment's id, as MLflow numbers it.
pub const DEFAULT_EXPERIMENT: &str = "0";

/// A tracking error: the caller's mistake (MLflow's error code and a message) or the lake's.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrackingError {
    #[error("{message}")]
    Invalid {
        /// `INVALID_PARAMETER_VALUE`, `RESOURCE_DOES_NOT_EXIST`, `RESOURCE_ALREADY_EXISTS`,
        /// `INVALID_STATE`.
        code: &'static str,
        message: String,
    },
    #[error("{0}")]
    Lake(String),
}

impl TrackingError {
    pub fn invalid(message: impl Into<String>) -> Self {
        TrackingError::Invalid {
            code: "INVALID_PARAMETER_VALUE",
            message: message.into(),
        }
    }
    pub fn missing(message: impl Into<String>) -> Self {
        TrackingError::Invalid {
            code: "RESOURCE_DOES_NOT_EXIST",
            message: message.into(),
        }
    }
    pub fn exists(message: impl Into<String>) -> Self {
        TrackingError::Invalid {
            code: "RESOURCE_ALREADY_EXISTS",
            message: message.into(),
        }
    }
    pub fn state(message: impl Into<String>) -> Self {
        TrackingError::Invalid {
            code: "INVALID_STATE",
            message: message.into(),
        }
    }
}

impl From<LakeError> for TrackingError {
    fn from(e: LakeError) -> Self {
        TrackingError::Lake(e.to_string())
    }
}

type Result<T> = std::result::Result<T, TrackingError>;

/// The longest key (of a param, metric or tag) and value MLflow's SQL store takes.
pub const MAX_KEY: usize = 250;
pub const MAX_PARAM_VALUE: usize = 6000;
pub const MAX_TAG_VALUE: usize = 8000;
/// At most this many entries in one `log-batch`, as MLflow limits them.
pub const MAX_BATCH_METRICS: usize = 1000;
pub const MAX_BATCH_PARAMS: usize = 100;
pub const MAX_BATCH_TAGS: usize = 100;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    pub experiment_id: String,
    pub name: String,
    pub artifact_location: String,
    /// `active` or `deleted`.
    pub lifecycle_stage: String,
    pub creation_time: i64,
    pub last_update_time: i64,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// One point of a metric's history.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    #[serde(with = "float")]
    pub value: f64,
    pub timestamp: i64,
    pub step: i64,
}

/// A metric point as written: its key, and the logged model it belongs to, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    pub key: String,
    #[serde(flatten)]
    pub point: Point,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
}

/// JSON has no NaN or infinity: they are written as MLflow's protobuf JSON writes them.
mod float {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_nan() {
            s.serialize_str("NaN")
        } else if v.is_infinite() {
            s.serialize_str(if *v > 0.0 { "Infinity" } else { "-Infinity" })
        } else {
            s.serialize_f64(*v)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        super::number(&v).ok_or_else(|| serde::de::Error::custom(format!("`{v}` is not a number")))
    }
}

/// A number as MLflow's JSON carries it: a number, or a string (`"NaN"`, `"Infinity"`, an
/// int64 written as text).
pub fn number(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => match s.as_str() {
            "NaN" | "nan" => Some(f64::NAN),
            "Infinity" | "inf" => Some(f64::INFINITY),
            "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
            s => s.parse().ok(),
        },
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub run_id: String,
    pub run_name: String,
    pub experiment_id: String,
    pub user_id: String,
    /// `RUNNING`, `SCHEDULED`, `FINISHED`, `FAILED` or `KILLED`.
    pub status: String,
    pub start_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    pub artifact_uri: String,
    /// `active` or `deleted`.
    pub lifecycle_stage: String,
}

/// A dataset a run read (`log-inputs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetInput {
    pub name: String,
    pub digest: String,
    pub source_type: String,
    pub source: String,
    #[serde(default)]
    pub schema: String,
    #[serde(default)]
    pub profile: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// A run: everything but its metrics' history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub info: RunInfo,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Each metric's latest point (the highest step, then the latest time, then the largest
    /// value, as MLflow picks it).
    #[serde(default)]
    pub metrics: BTreeMap<String, Point>,
    #[serde(default)]
    pub inputs: Vec<DatasetInput>,
    /// The logged models the run produced (`log-outputs`), with their step.
    #[serde(default)]
    pub outputs: Vec<(String, i64)>,
    /// How many metric objects the run has written (the next one's number).
    #[serde(default)]
    pub metric_writes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedModel {
    pub model_id: String,
    pub experiment_id: String,
    pub name: String,
    pub artifact_uri: String,
    /// `LOGGED_MODEL_PENDING`, `LOGGED_MODEL_READY` or `LOGGED_MODEL_UPLOAD_FAILED`.
    pub status: String,
    pub creation_timestamp_ms: i64,
    pub last_updated_timestamp_ms: i64,
    #[serde(default)]
    pub model_type: String,
    #[serde(default)]
    pub source_run_id: String,
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// What MLflow's registry records about a model beside mlinfra's registry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegisteredModel {
    pub name: String,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Per version number.
    #[serde(default)]
    pub versions: BTreeMap<u64, VersionExtra>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionExtra {
    #[serde(default)]
    pub source: String,
    /// The MLflow run that logged it.
    #[serde(default)]
    pub run_id: String,
    #[serde(default)]
    pub model_id: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub last_updated_timestamp: i64,
}

/// What is in memory.
#[derive(Debug, Default)]
struct Cache {
    experiments: BTreeMap<u64, Experiment>,
    runs: HashMap<String, Run>,
    /// Metric histories, by run and key, in the order written.
    history: HashMap<String, BTreeMap<String, Vec<Point>>>,
    models: HashMap<String, LoggedModel>,
    registered: BTreeMap<String, RegisteredModel>,
}

/// The tracking store over a lake.
pub struct Tracking<L> {
    lake: L,
    cache: Mutex<Option<Cache>>,
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

fn experiment_key(id: &str) -> String {
    format!("{}experiments/{id}.json", keys::TRACKING)
}
fn run_key(run_id: &str) -> String {
    format!("{}runs/{run_id}/run.json", keys::TRACKING)
}
fn metrics_key(run_id: &str, n: u64) -> String {
    format!("{}runs/{run_id}/metrics/{n:012}.json", keys::TRACKING)
}
fn model_key(id: &str) -> String {
    format!("{}models/{id}.json", keys::TRACKING)
}
fn registered_key(name: &str) -> String {
    format!("{}registered/{name}.json", keys::TRACKING)
}
/// Where an artifact's bytes are: `files/<path>`, the path as MLflow's artifact proxy names it
/// (`<experiment>/<run>/artifacts/...` or `<experiment>/models/<model>/artifacts/...`).
pub fn file_key(path: &str) -> String {
    format!("{}files/{path}", keys::TRACKING)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new id: 32 hex digits, unique in this process and unlikely to meet another's.
pub fn new_id() -> String {
    use sha2::Digest as _;
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let stack = 0u8;
    let seed = format!("{t}-{n}-{}-{:p}", std::process::id(), &stack);
    hex::encode(&sha2::Sha256::digest(seed.as_bytes())[..16])
}

/// A name or key as MLflow takes it: not empty, at most [`MAX_KEY`] characters, letters,
/// digits and `_ - . / space :` only, and no `..` path segment.
pub fn check_key(what: &str, key: &str) -> Result<()> {
    let ok = |c: char| c.is_alphanumeric() || "_-./ :".contains(c);
    if key.is_empty()
        || key.chars().count() > MAX_KEY
        || !key.chars().all(ok)
        || key.split('/').any(|s| s == ".." || s == ".")
    {
        return Err(TrackingError::invalid(format!(
            "Invalid {what} name: `{key}`. Names may be up to {MAX_KEY} characters: letters, digits, underscores (_), dashes (-), periods (.), spaces ( ), colons (:) and slashes (/)"
        )));
    }
    Ok(())
}

fn check_value(what: &str, key: &str, value: &str, max: usize) -> Result<()> {
    if value.chars().count() > max {
        return Err(TrackingError::invalid(format!(
            "{what} `{key}`: its value has {} characters, at most {max} are stored",
            value.chars().count()
        )));
    }
    Ok(())
}

impl<L: Lake> Tracking<L> {
    pub fn new(lake: L) -> Self {
        Tracking {
            lake,
            cache: Mutex::new(None),
        }
    }

    pub fn lake(&self) -> &L {
        &self.lake
    }

    async fn read_all(&self) -> Result<Cache> {
        let mut c = Cache::default();
        for key in self
            .lake
            .list(&format!("{}experiments/", keys::TRACKING))
            .await?
        {
            if let Some(e) = self.read::<Experiment>(&key).await?
                && let Ok(id) = e.experiment_id.parse()
            {
                c.experiments.insert(id, e);
            }
        }
        let runs_prefix = format!("{}runs/", keys::TRACKING);
        let mut metric_keys: Vec<String> = Vec::new();
        for key in self.lake.list(&runs_prefix).await? {
            if key.ends_with("/run.json") {
                if let Some(r) = self.read::<Run>(&key).await? {
                    c.runs.insert(r.info.run_id.clone(), r);
                }
            } else if key.contains("/metrics/") {
                metric_keys.push(key);
            }
        }
        metric_keys.sort();
        for key in metric_keys {
            let run_id = key[runs_prefix.len()..]
                .split('/')
                .next()
                .unwrap_or_default()
                .to_string();
            // Only what the run's record counts: a write whose record did not follow is not
            // part of the run.
            let n: u64 = key
                .rsplit('/')
                .next()
                .and_then(|f| f.trim_end_matches(".json").parse().ok())
                .unwrap_or(u64::MAX);
            if c.runs.get(&run_id).is_none_or(|r| n >= r.metric_writes) {
                continue;
            }
            if let Some(points) = self.read::<Vec<MetricPoint>>(&key).await? {
                let h = c.history.entry(run_id).or_default();
                for p in points {
                    h.entry(p.key).or_default().push(p.point);
                }
            }
        }
        for key in self
            .lake
            .list(&format!("{}models/", keys::TRACKING))
            .await?
        {
            if let Some(m) = self.read::<LoggedModel>(&key).await? {
                c.models.insert(m.model_id.clone(), m);
            }
        }
        for key in self
            .lake
            .list(&format!("{}registered/", keys::TRACKING))
            .await?
        {
            if let Some(m) = self.read::<RegisteredModel>(&key).await? {
                c.registered.insert(m.name.clone(), m);
            }
        }
        // The default experiment, created once (its creation time orders searches).
        if let std::collections::btree_map::Entry::Vacant(slot) = c.experiments.entry(0) {
            let now = now_ms();
            let e = Experiment {
                experiment_id: DEFAULT_EXPERIMENT.into(),
                name: "Default".into(),
                artifact_location: "mlflow-artifacts:/0".into(),
                lifecycle_stage: "active".into(),
                creation_time: now,
                last_update_time: now,
                tags: BTreeMap::new(),
            };
            self.lake
                .put(&experiment_key(DEFAULT_EXPERIMENT), &json(&e))
                .await?;
            slot.insert(e);
        }
        Ok(c)
    }

    async fn read<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.lake.get(key).await? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
                TrackingError::Lake(format!("`{}` is not readable: {e}", self.lake.uri(key)))
            }),
        }
    }

    /// Run `f` over the cache (read from the lake the first time).
    async fn with<T>(&self, f: impl FnOnce(&Cache) -> Result<T>) -> Result<T> {
        let mut guard = self.cache.lock().await;
        if guard.is_none() {
            *guard = Some(self.read_all().await?);
        }
        match guard.as_ref() {
            Some(c) => f(c),
            None => Err(TrackingError::Lake("the tracking cache is empty".into())),
        }
    }

    /// Plan a change with `plan` (which returns the objects to write and the change to apply),
    /// write the objects, then apply the change in memory.
    async fn change<T>(
        &self,
        plan: impl FnOnce(
            &Cache,
        ) -> Result<(
            Vec<(String, Vec<u8>)>,
            Box<dyn FnOnce(&mut Cache) -> T + Send>,
        )>,
    ) -> Result<T> {
        let mut guard = self.cache.lock().await;
        if guard.is_none() {
            *guard = Some(self.read_all().await?);
        }
        let Some(c) = guard.as_mut() else {
            return Err(TrackingError::Lake("the tracking cache is empty".into()));
        };
        let (writes, apply) = plan(c)?;
        for (k, v) in &writes {
            self.lake.put(k, v).await?;
        }
        Ok(apply(c))
    }

    // ---- experiments ----

    pub async fn create_experiment(
        &self,
        name: &str,
        artifact_location: Option<&str>,
        tags: BTreeMap<String, String>,
    ) -> Result<String> {
        if name.trim().is_empty() {
            return Err(TrackingError::invalid(
                "Missing value for required parameter 'name'",
            ));
        }
        if name.chars().count() > 500 {
            return Err(TrackingError::invalid(format!(
                "experiment name: {} characters, at most 500",
                name.chars().count()
            )));
        }
        for (k, v) in &tags {
            check_key("tag", k)?;
            check_value("tag", k, v, MAX_TAG_VALUE)?;
        }
        if let Some(loc) = artifact_location.filter(|l| !l.is_empty())
            && !loc.starts_with("mlflow-artifacts:")
        {
            return Err(TrackingError::invalid(format!(
                "artifact_location `{loc}`: this server keeps artifacts in the platform's lake; leave it out (experiments store under `mlflow-artifacts:/<id>`)"
            )));
        }
        let name = name.to_string();
        self.change(move |c| {
            if let Some(e) = c.experiments.values().find(|e| e.name == name) {
                return Err(TrackingError::exists(format!(
                    "Experiment '{name}' already exists (id {}{})",
                    e.experiment_id,
                    if e.lifecycle_stage == "deleted" {
                        ", deleted: restore it or pick another name"
                    } else {
                        ""
                    }
                )));
            }
            let id = c.experiments.keys().next_back().map_or(1, |m| m + 1);
            let now = now_ms();
            let e = Experiment {
                experiment_id: id.to_string(),
                name,
                artifact_location: format!("mlflow-artifacts:/{id}"),
                lifecycle_stage: "active".into(),
                creation_time: now,
                last_update_time: now,
                tags,
            };
            let writes = vec![(experiment_key(&e.experiment_id), json(&e))];
            Ok((
                writes,
                Box::new(move |c: &mut Cache| {
                    c.experiments.insert(id, e);
                    id.to_string()
                }),
            ))
        })
        .await
    }

    pub async fn experiment(&self, id: &str) -> Result<Experiment> {
        self.with(|c| find_experiment(c, id).cloned()).await
    }

    pub async fn experiment_by_name(&self, name: &str) -> Result<Experiment> {
        self.with(|c| {
            c.experiments
                .values()
                .find(|e| e.name == name)
                .cloned()
                .ok_or_else(|| {
                    TrackingError::missing(format!("Could not find experiment with name '{name}'"))
                })
        })
        .await
    }

    pub async fn experiments(&self) -> Result<Vec<Experiment>> {
        self.with(|c| Ok(c.experiments.values().cloned().collect()))
            .await
    }

    /// Change an experiment: its name (which no other may have), its lifecycle stage, a tag set
    /// or deleted.
    pub async fn update_experiment(
        &self,
        id: &str,
        edit: impl FnOnce(&mut Experiment) -> Result<()> + Send,
    ) -> Result<()> {
        self.change(|c| {
            let mut e = find_experiment(c, id)?.clone();
            edit(&mut e)?;
            if c.experiments
                .values()
                .any(|o| o.name == e.name && o.experiment_id != e.experiment_id)
            {
                return Err(TrackingError::exists(format!(
                    "Experiment '{}' already exists.",
                    e.name
                )));
            }
            e.last_update_time = now_ms();
            let key: u64 = e.experiment_id.parse().unwrap_or(0);
            Ok((
                vec![(experiment_key(&e.experiment_id), json(&e))],
                Box::new(move |c: &mut Cache| {
                    c.experiments.insert(key, e);
                }),
            ))
        })
        .await
    }

    // ---- runs ----

    pub async fn create_run(
        &self,
        experiment_id: &str,
        user_id: &str,
        run_name: Option<&str>,
        start_time: i64,
        mut tags: BTreeMap<String, String>,
    ) -> Result<Run> {
        for (k, v) in &tags {
            check_key("tag", k)?;
            check_value("tag", k, v, MAX_TAG_VALUE)?;
        }
        let run_id = new_id();
        let name = run_name
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .or_else(|| tags.get("mlflow.runName").cloned())
            .unwrap_or_else(|| format!("run-{}", &run_id[..8]));
        tags.insert("mlflow.runName".into(), name.clone());
        tags.insert("mlflow.user".into(), user_id.to_string());
        let experiment_id = if experiment_id.is_empty() {
            DEFAULT_EXPERIMENT.to_string()
        } else {
            experiment_id.to_string()
        };
        self.change(move |c| {
            let e = find_experiment(c, &experiment_id)?;
            if e.lifecycle_stage != "active" {
                return Err(TrackingError::state(format!(
                    "experiment {experiment_id} is deleted: restore it first"
                )));
            }
            let run = Run {
                info: RunInfo {
                    artifact_uri: format!("{}/{run_id}/artifacts", e.artifact_location),
                    run_id: run_id.clone(),
                    run_name: name,
                    experiment_id,
                    user_id: user_id.to_string(),
                    status: "RUNNING".into(),
                    start_time,
                    end_time: None,
                    lifecycle_stage: "active".into(),
                },
                params: BTreeMap::new(),
                tags,
                metrics: BTreeMap::new(),
                inputs: Vec::new(),
                outputs: Vec::new(),
                metric_writes: 0,
            };
            Ok((
                vec![(run_key(&run_id), json(&run))],
                Box::new(move |c: &mut Cache| {
                    c.runs.insert(run_id, run.clone());
                    run
                }),
            ))
        })
        .await
    }

    pub async fn run(&self, run_id: &str) -> Result<Run> {
        self.with(|c| find_run(c, run_id).cloned()).await
    }

    pub async fn runs(&self) -> Result<Vec<Run>> {
        self.with(|c| Ok(c.runs.values().cloned().collect())).await
    }

    pub async fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Point>> {
        self.with(|c| {
            find_run(c, run_id)?;
            Ok(c.history
                .get(run_id)
                .and_then(|h| h.get(key))
                .cloned()
                .unwrap_or_default())
        })
        .await
    }

    /// Every metric's history of a run.
    pub async fn histories(&self, run_id: &str) -> Result<BTreeMap<String, Vec<Point>>> {
        self.with(|c| {
            find_run(c, run_id)?;
            Ok(c.history.get(run_id).cloned().unwrap_or_default())
        })
        .await
    }

    /// Change a run's record with `edit` (which may refuse).
    pub async fn update_run(
        &self,
        run_id: &str,
        edit: impl FnOnce(&mut Run) -> Result<()> + Send,
    ) -> Result<Run> {
        self.change(|c| {
            let mut run = find_run(c, run_id)?.clone();
            edit(&mut run)?;
            Ok((
                vec![(run_key(run_id), json(&run))],
                Box::new(move |c: &mut Cache| {
                    c.runs.insert(run.info.run_id.clone(), run.clone());
                    run
                }),
            ))
        })
        .await
    }

    /// `log-batch`: metrics, params and tags of an active run, checked as MLflow checks them
    /// (all or nothing): a param once logged keeps its value.
    pub async fn log_batch(
        &self,
        run_id: &str,
        metrics: Vec<MetricPoint>,
        params: Vec<(String, String)>,
        tags: Vec<(String, String)>,
    ) -> Result<()> {
        if metrics.len() > MAX_BATCH_METRICS
            || params.len() > MAX_BATCH_PARAMS
            || tags.len() > MAX_BATCH_TAGS
        {
            return Err(TrackingError::invalid(format!(
                "A batch logging request can contain at most {MAX_BATCH_METRICS} metrics, {MAX_BATCH_PARAMS} params and {MAX_BATCH_TAGS} tags; this one has {} metrics, {} params and {} tags",
                metrics.len(),
                params.len(),
                tags.len()
            )));
        }
        for m in &metrics {
            check_key("metric", &m.key)?;
        }
        for (k, v) in &params {
            check_key("param", k)?;
            check_value("param", k, v, MAX_PARAM_VALUE)?;
        }
        for (k, v) in &tags {
            check_key("tag", k)?;
            check_value("tag", k, v, MAX_TAG_VALUE)?;
        }
        self.change(|c| {
            let mut run = find_run(c, run_id)?.clone();
            // A point already in the history (MLflow's client logs a run's metrics again with
            // the model it logs) is not a new point.
            let history = c.history.get(run_id);
            let mut seen = std::collections::HashSet::new();
            let mut metrics = metrics;
            metrics.retain(|m| {
                let p = &m.point;
                // Points are appended in time order: look back only as far as this one's time.
                let old = history.and_then(|h| h.get(&m.key)).is_some_and(|h| {
                    h.iter()
                        .rev()
                        .take_while(|x| x.timestamp >= p.timestamp)
                        .any(|x| same_point(x, p))
                });
                let first = seen.insert((m.key.clone(), p.step, p.timestamp, p.value.to_bits()));
                !old && first
            });
            if run.info.lifecycle_stage != "active" {
                return Err(TrackingError::state(format!(
                    "The run {run_id} must be in the 'active' state. Current state is {}.",
                    run.info.lifecycle_stage
                )));
            }
            let mut seen = BTreeMap::new();
            for (k, v) in &params {
                let old = run.params.get(k).or_else(|| seen.get(k));
                if let Some(old) = old
                    && old != v
                {
                    return Err(TrackingError::invalid(format!(
                        "Changing param values is not allowed. Param with key='{k}' was already logged with value='{old}' for run ID='{run_id}'. Attempted logging new value '{v}'."
                    )));
                }
                seen.insert(k.clone(), v.clone());
            }
            run.params.extend(seen);
            run.tags.extend(tags);
            if let Some(n) = run.tags.get("mlflow.runName").cloned() {
                run.info.run_name = n;
            }
            let mut writes = Vec::new();
            if !metrics.is_empty() {
                writes.push((metrics_key(run_id, run.metric_writes), json(&metrics)));
                run.metric_writes += 1;
                for m in &metrics {
                    let newer = run
                        .metrics
                        .get(&m.key)
                        .is_none_or(|old| later(&m.point, old));
                    if newer {
                        run.metrics.insert(m.key.clone(), m.point);
                    }
                }
            }
            // The points first, the record that counts them last.
            writes.push((run_key(run_id), json(&run)));
            Ok((
                writes,
                Box::new(move |c: &mut Cache| {
                    let h = c.history.entry(run.info.run_id.clone()).or_default();
                    for m in metrics {
                        h.entry(m.key).or_default().push(m.point);
                    }
                    c.runs.insert(run.info.run_id.clone(), run);
                }),
            ))
        })
        .await
    }

    // ---- logged models ----

    pub async fn create_model(&self, mut m: LoggedModel) -> Result<LoggedModel> {
        check_key("model", &m.name)?;
        self.change(move |c| {
            let e = find_experiment(c, &m.experiment_id)?;
            if !m.source_run_id.is_empty() {
                find_run(c, &m.source_run_id)?;
            }
            m.artifact_uri = format!("{}/models/{}/artifacts", e.artifact_location, m.model_id);
            Ok((
                vec![(model_key(&m.model_id), json(&m))],
                Box::new(move |c: &mut Cache| {
                    c.models.insert(m.model_id.clone(), m.clone());
                    m
                }),
            ))
        })
        .await
    }

    pub async fn model(&self, id: &str) -> Result<LoggedModel> {
        self.with(|c| find_model(c, id).cloned()).await
    }

    pub async fn models(&self) -> Result<Vec<LoggedModel>> {
        self.with(|c| Ok(c.models.values().cloned().collect()))
            .await
    }

    pub async fn update_model(
        &self,
        id: &str,
        edit: impl FnOnce(&mut LoggedModel) -> Result<()> + Send,
    ) -> Result<LoggedModel> {
        self.change(|c| {
            let mut m = find_model(c, id)?.clone();
            edit(&mut m)?;
            m.last_updated_timestamp_ms = now_ms();
            Ok((
                vec![(model_key(id), json(&m))],
                Box::new(move |c: &mut Cache| {
                    c.models.insert(m.model_id.clone(), m.clone());
                    m
                }),
            ))
        })
        .await
    }

    // ---- what MLflow's registry adds to mlinfra's ----

    pub async fn registered(&self, name: &str) -> Result<Option<RegisteredModel>> {
        self.with(|c| Ok(c.registered.get(name).cloned())).await
    }

    pub async fn registered_all(&self) -> Result<Vec<RegisteredModel>> {
        self.with(|c| Ok(c.registered.values().cloned().collect()))
            .await
    }

    /// Change (or create) the MLflow record of registered model `name`.
    pub async fn update_registered(
        &self,
        name: &str,
        edit: impl FnOnce(&mut RegisteredModel) -> Result<()> + Send,
    ) -> Result<RegisteredModel> {
        self.change(|c| {
            let now = now_ms();
            let mut m = c.registered.get(name).cloned().unwrap_or(RegisteredModel {
                name: name.to_string(),
                creation_timestamp: now,
                last_updated_timestamp: now,
                ..RegisteredModel::default()
            });
            edit(&mut m)?;
            m.last_updated_timestamp = now;
            Ok((
                vec![(registered_key(name), json(&m))],
                Box::new(move |c: &mut Cache| {
                    c.registered.insert(m.name.clone(), m.clone());
                    m
                }),
            ))
        })
        .await
    }

    /// Forget MLflow's record of a registered model.
    pub async fn remove_registered(&self, name: &str) -> Result<()> {
        let mut guard = self.cache.lock().await;
        self.lake.delete(&registered_key(name)).await?;
        if let Some(c) = guard.as_mut() {
            c.registered.remove(name);
        }
        Ok(())
    }

    // ---- artifacts ----

    pub async fn put_file(&self, path: &str, bytes: &[u8]) -> Result<()> {
        check_path(path)?;
        self.lake.put(&file_key(path), bytes).await?;
        Ok(())
    }

    pub async fn get_file(&self, path: &str) -> Result<Option<Vec<u8>>> {
        check_path(path)?;
        Ok(self.lake.get(&file_key(path)).await?)
    }

    /// The files under `path` (a directory), as paths relative to the artifact root, with
    /// their sizes.
    pub async fn list_files(&self, path: &str) -> Result<Vec<String>> {
        if !path.is_empty() {
            check_path(path)?;
        }
        let dir = if path.is_empty() {
            String::new()
        } else {
            format!("{}/", path.trim_end_matches('/'))
        };
        let root = file_key("");
        Ok(self
            .lake
            .list(&file_key(&dir))
            .await?
            .into_iter()
            .filter_map(|k| k.strip_prefix(&root).map(str::to_string))
            .collect())
    }
}

/// An artifact path with its `.` segments and repeated or trailing slashes dropped
/// (`<run>/artifacts/.` is the directory itself).
pub fn normal_path(path: &str) -> String {
    path.split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// An artifact path: relative, no `..`, no empty segment, printable.
pub fn check_path(path: &str) -> Result<()> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.len() > 1024
        || path.chars().any(|c| c.is_control() || c == '\\')
        || path
            .split('/')
            .any(|s| s.is_empty() || s == ".." || s == ".");
    if bad {
        return Err(TrackingError::invalid(format!(
            "Invalid artifact path: `{path}`: expected a relative path without `..`, empty segments or control characters"
        )));
    }
    Ok(())
}

/// The same point logged twice: the same step, time and value (NaN equal to NaN).
fn same_point(a: &Point, b: &Point) -> bool {
    a.step == b.step && a.timestamp == b.timestamp && a.value.to_bits() == b.value.to_bits()
}

/// Whether `a` replaces `b` as a metric's latest value: a higher step, then a later time, then
/// a larger value (NaN last).
fn later(a: &Point, b: &Point) -> bool {
    (a.step, a.timestamp) > (b.step, b.timestamp)
        || ((a.step, a.timestamp) == (b.step, b.timestamp)
            && (b.value.is_nan() || a.value > b.value))
}

fn find_experiment<'a>(c: &'a Cache, id: &str) -> Result<&'a Experiment> {
    id.parse::<u64>()
        .ok()
        .and_then(|n| c.experiments.get(&n))
        .ok_or_else(|| TrackingError::missing(format!("No Experiment with id={id} exists")))
}

fn find_run<'a>(c: &'a Cache, id: &str) -> Result<&'a Run> {
    c.runs
        .get(id)
        .ok_or_else(|| TrackingError::missing(format!("Run with id={id} not found")))
}

fn find_model<'a>(c: &'a Cache, id: &str) -> Result<&'a LoggedModel> {
    c.models
        .get(id)
        .ok_or_else(|| TrackingError::missing(format!("Logged model with ID '{id}' not found")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::lake::LocalLake;

    fn point(key: &str, value: f64, step: i64) -> MetricPoint {
        MetricPoint {
            key: key.into(),
            point: Point {
                value,
                timestamp: 1000 + step,
                step,
            },
            model_id: None,
        }
    }

    #[tokio::test]
    async fn runs_and_their_metrics_survive_a_new_store_over_the_same_lake() {
        let d = tempfile::tempdir().unwrap();
        let t = Tracking::new(LocalLake::new(d.path()));
        let e = t
            .create_experiment("churn", None, BTreeMap::new())
            .await
            .unwrap();
        assert_eq!(e, "1");
        let run = t
            .create_run(&e, "alice", Some("first"), 5, BTreeMap::new())
            .await
            .unwrap();
        let id = run.info.run_id.clone();
        t.log_batch(
            &id,
            vec![point("loss", 0.9, 0), point("loss", 0.5, 1)],
            vec![("alpha".into(), "0.1".into())],
            vec![],
        )
        .await
        .unwrap();
        t.log_batch(&id, vec![point("loss", f64::NAN, 2)], vec![], vec![])
            .await
            .unwrap();
        // The same points again (as MLflow's client logs them with a model) are not new.
        t.log_batch(
            &id,
            vec![
                point("loss", 0.5, 1),
                point("loss", f64::NAN, 2),
                point("loss", f64::NAN, 2),
            ],
            vec![],
            vec![],
        )
        .await
        .unwrap();
        // A param keeps its first value; the refused batch changes nothing.
        let err = t
            .log_batch(
                &id,
                vec![point("loss", 0.1, 3)],
                vec![("alpha".into(), "0.2".into())],
                vec![],
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("Changing param values"), "{err}");
        let again = Tracking::new(LocalLake::new(d.path()));
        let r = again.run(&id).await.unwrap();
        assert_eq!(r.params["alpha"], "0.1");
        assert_eq!(r.info.run_name, "first");
        assert!(r.metrics["loss"].value.is_nan());
        let h = again.metric_history(&id, "loss").await.unwrap();
        assert_eq!(h.len(), 3);
        assert_eq!(h[1].value, 0.5);
        assert_eq!(
            again
                .experiment_by_name("churn")
                .await
                .unwrap()
                .experiment_id,
            "1"
        );
        assert_eq!(again.experiment("0").await.unwrap().name, "Default");
    }

    #[tokio::test]
    async fn names_and_paths_that_escape_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let t = Tracking::new(LocalLake::new(d.path()));
        assert!(t.put_file("1/../../state/x", b"x").await.is_err());
        assert!(t.put_file("/etc/passwd", b"x").await.is_err());
        assert!(check_key("param", "a/../b").is_err());
        assert!(check_key("param", "a;drop").is_err());
        assert!(check_key("metric", "val/loss").is_ok());
        t.put_file("1/r/artifacts/a.txt", b"x").await.unwrap();
        assert_eq!(
            t.list_files("1/r/artifacts").await.unwrap(),
            vec!["1/r/artifacts/a.txt"]
        );
    }
}
