//! The tracking endpoints: experiments, runs, metrics, params, tags, inputs and outputs, and
//! logged models, each answered as MLflow's server answers it.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Api, ApiError, Params, Result, page, pairs_json};
use crate::lake::Lake;
use crate::registry::Store;
use crate::tracking::filter::{self, Clause, Key};
use crate::tracking::{
    DatasetInput, Experiment, LoggedModel, MetricPoint, Point, Run, TrackingError, now_ms,
};

pub fn experiment_json(e: &Experiment) -> Value {
    json!({
        "experiment_id": e.experiment_id,
        "name": e.name,
        "artifact_location": e.artifact_location,
        "lifecycle_stage": e.lifecycle_stage,
        "last_update_time": e.last_update_time,
        "creation_time": e.creation_time,
        "tags": pairs_json(&e.tags),
    })
}

fn float(v: f64) -> Value {
    if v.is_nan() {
        json!("NaN")
    } else if v.is_infinite() {
        json!(if v > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        json!(v)
    }
}

fn metric_json(key: &str, p: &Point) -> Value {
    json!({"key": key, "value": float(p.value), "timestamp": p.timestamp, "step": p.step})
}

pub fn run_info_json(r: &Run) -> Value {
    let i = &r.info;
    let mut v = json!({
        "run_id": i.run_id,
        "run_uuid": i.run_id,
        "run_name": i.run_name,
        "experiment_id": i.experiment_id,
        "user_id": i.user_id,
        "status": i.status,
        "start_time": i.start_time,
        "artifact_uri": i.artifact_uri,
        "lifecycle_stage": i.lifecycle_stage,
    });
    if let Some(e) = i.end_time {
        v["end_time"] = json!(e);
    }
    v
}

pub fn run_json(r: &Run) -> Value {
    json!({
        "info": run_info_json(r),
        "data": {
            "metrics": r.metrics.iter().map(|(k, p)| metric_json(k, p)).collect::<Vec<_>>(),
            "params": pairs_json(&r.params),
            "tags": pairs_json(&r.tags),
        },
        "inputs": {
            "dataset_inputs": r.inputs.iter().map(|d| json!({
                "tags": pairs_json(&d.tags),
                "dataset": {
                    "name": d.name, "digest": d.digest, "source_type": d.source_type,
                    "source": d.source, "schema": d.schema, "profile": d.profile,
                },
            })).collect::<Vec<_>>(),
        },
        "outputs": {
            "model_outputs": r.outputs.iter().map(|(m, s)| json!({"model_id": m, "step": s})).collect::<Vec<_>>(),
        },
    })
}

pub fn logged_model_json(m: &LoggedModel) -> Value {
    json!({
        "info": {
            "model_id": m.model_id,
            "experiment_id": m.experiment_id,
            "name": m.name,
            "creation_timestamp_ms": m.creation_timestamp_ms,
            "last_updated_timestamp_ms": m.last_updated_timestamp_ms,
            "artifact_uri": m.artifact_uri,
            "status": m.status,
            "model_type": m.model_type,
            "source_run_id": m.source_run_id,
            "tags": pairs_json(&m.tags),
        },
        "data": {
            "params": pairs_json(&m.params),
            "metrics": [],
        },
    })
}

/// `ACTIVE_ONLY` (default), `DELETED_ONLY` or `ALL`, as a predicate on a lifecycle stage.
fn view(p: &Params, field: &str) -> Result<impl Fn(&str) -> bool> {
    let v = p.str(field)?;
    let (active, deleted) = match v.as_str() {
        "" | "ACTIVE_ONLY" | "1" => (true, false),
        "DELETED_ONLY" | "2" => (false, true),
        "ALL" | "3" => (true, true),
        other => {
            return Err(ApiError::invalid(format!(
                "Invalid value `{other}` for parameter '{field}': expected ACTIVE_ONLY, DELETED_ONLY or ALL"
            )));
        }
    };
    Ok(move |stage: &str| if stage == "deleted" { deleted } else { active })
}

pub(super) fn max_results(p: &Params, default: usize, limit: usize) -> Result<usize> {
    match p.i64("max_results")? {
        None => Ok(default),
        Some(n) if n >= 1 && n as usize <= limit => Ok(n as usize),
        Some(n) => Err(ApiError::invalid(format!(
            "Invalid value {n} for parameter 'max_results' supplied: expected 1 to {limit}"
        ))),
    }
}

/// `order_by` clauses: `<key> [ASC|DESC]`.
fn order_by(p: &Params, attributes: &[&str]) -> Result<Vec<(Key, bool)>> {
    p.strings("order_by")?
        .iter()
        .map(|o| {
            let o = o.trim();
            let (key, dir) = match o.rsplit_once(' ') {
                Some((k, d)) if d.eq_ignore_ascii_case("asc") => (k.trim(), true),
                Some((k, d)) if d.eq_ignore_ascii_case("desc") => (k.trim(), false),
                _ => (o, true),
            };
            // One clause's key, parsed as a filter's is.
            let c = filter::parse(&format!("{key} = '' "), attributes)
                .or_else(|_| filter::parse(&format!("{key} = 0"), attributes))
                .map_err(|_| {
                    ApiError::invalid(format!(
                        "Invalid order_by clause '{o}': expected `<key> [ASC|DESC]` with a key such as `metrics.rmse`, `params.alpha` or `attributes.start_time`"
                    ))
                })?;
            Ok((c[0].key.clone(), dir))
        })
        .collect()
}

const RUN_ATTRIBUTES: &[&str] = &[
    "run_id",
    "run_name",
    "status",
    "user_id",
    "start_time",
    "end_time",
    "artifact_uri",
    "lifecycle_stage",
    "experiment_id",
];

fn run_attribute(r: &Run, a: &str) -> Option<String> {
    let i = &r.info;
    Some(match a {
        "run_id" => i.run_id.clone(),
        "run_name" => i.run_name.clone(),
        "status" => i.status.clone(),
        "user_id" => i.user_id.clone(),
        "start_time" => i.start_time.to_string(),
        "end_time" => i.end_time?.to_string(),
        "artifact_uri" => i.artifact_uri.clone(),
        "lifecycle_stage" => i.lifecycle_stage.clone(),
        "experiment_id" => i.experiment_id.clone(),
        _ => return None,
    })
}

fn run_matches(r: &Run, c: &Clause) -> bool {
    match &c.key {
        Key::Metric(k) => match (r.metrics.get(k), &c.value) {
            (Some(p), filter::Value::Number(n)) => filter::number_matches(p.value, c.op, *n),
            _ => false,
        },
        Key::Param(k) => filter::text_matches(r.params.get(k).map(String::as_str), c.op, &c.value),
        Key::Tag(k) => filter::text_matches(r.tags.get(k).map(String::as_str), c.op, &c.value),
        Key::Attribute(a) => filter::text_matches(run_attribute(r, a).as_deref(), c.op, &c.value),
    }
}

/// A run's value under an `order_by` key, for sorting (numbers before text, missing last).
/// A value to sort by: a number, or text.
type SortValue = Option<std::result::Result<f64, String>>;

fn run_sort_value(r: &Run, k: &Key) -> SortValue {
    match k {
        Key::Metric(m) => r.metrics.get(m).map(|p| Ok(p.value)),
        Key::Param(m) => r.params.get(m).map(|v| v.parse().map_err(|_| v.clone())),
        Key::Tag(m) => r.tags.get(m).map(|v| Err(v.clone())),
        Key::Attribute(a) => run_attribute(r, a).map(|v| match a.as_str() {
            "start_time" | "end_time" => v.parse().map_err(|_| v),
            _ => Err(v),
        }),
    }
}

fn compare(a: &SortValue, b: &SortValue) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a, b) {
        (None, None) => Equal,
        (None, _) => Greater,
        (_, None) => Less,
        (Some(Ok(x)), Some(Ok(y))) => x.partial_cmp(y).unwrap_or(Equal),
        (Some(Ok(_)), Some(Err(_))) => Less,
        (Some(Err(_)), Some(Ok(_))) => Greater,
        (Some(Err(x)), Some(Err(y))) => x.cmp(y),
    }
}

fn dataset_input(o: &serde_json::Map<String, Value>) -> Result<DatasetInput> {
    let d = o
        .get("dataset")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::invalid("a dataset input has no `dataset`"))?;
    let s = |k: &str| {
        d.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    for k in ["name", "digest", "source_type", "source"] {
        if s(k).is_empty() {
            return Err(ApiError::invalid(format!(
                "Missing value for required parameter 'dataset.{k}'"
            )));
        }
    }
    let tags = o
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| {
                    Some((
                        t.get("key")?.as_str()?.to_string(),
                        t.get("value")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(DatasetInput {
        name: s("name"),
        digest: s("digest"),
        source_type: s("source_type"),
        source: s("source"),
        schema: s("schema"),
        profile: s("profile"),
        tags,
    })
}

fn active(run: &Run) -> std::result::Result<(), TrackingError> {
    if run.info.lifecycle_stage != "active" {
        return Err(TrackingError::state(format!(
            "The run {} must be in the 'active' state. Current state is {}.",
            run.info.run_id, run.info.lifecycle_stage
        )));
    }
    Ok(())
}

impl<L: Lake, S: Store> Api<L, S> {
    pub(super) async fn create_experiment(&self, p: &Params) -> Result<Value> {
        let name = p.required("name")?;
        let tags = p.pairs("tags")?.into_iter().collect();
        let loc = p.str("artifact_location")?;
        let id = self
            .tracking
            .create_experiment(&name, Some(&loc), tags)
            .await?;
        Ok(json!({ "experiment_id": id }))
    }

    pub(super) async fn get_experiment(&self, p: &Params) -> Result<Value> {
        let e = self
            .tracking
            .experiment(&p.required("experiment_id")?)
            .await?;
        Ok(json!({ "experiment": experiment_json(&e) }))
    }

    pub(super) async fn get_experiment_by_name(&self, p: &Params) -> Result<Value> {
        let e = self
            .tracking
            .experiment_by_name(&p.required("experiment_name")?)
            .await?;
        Ok(json!({ "experiment": experiment_json(&e) }))
    }

    pub(super) async fn search_experiments(&self, p: &Params) -> Result<Value> {
        let attrs = ["name", "creation_time", "last_update_time", "experiment_id"];
        let clauses = filter::parse(&p.str("filter")?, &attrs)?;
        let shown = view(p, "view_type")?;
        let max = max_results(p, 1000, 50_000)?;
        let order = order_by(p, &attrs)?;
        let attr = |e: &Experiment, a: &str| -> Option<String> {
            Some(match a {
                "name" => e.name.clone(),
                "creation_time" => e.creation_time.to_string(),
                "last_update_time" => e.last_update_time.to_string(),
                "experiment_id" => e.experiment_id.clone(),
                _ => return None,
            })
        };
        let mut found: Vec<Experiment> = self
            .tracking
            .experiments()
            .await?
            .into_iter()
            .filter(|e| shown(&e.lifecycle_stage))
            .filter(|e| {
                clauses.iter().all(|c| match &c.key {
                    Key::Tag(k) => {
                        filter::text_matches(e.tags.get(k).map(String::as_str), c.op, &c.value)
                    }
                    Key::Attribute(a) => {
                        filter::text_matches(attr(e, a).as_deref(), c.op, &c.value)
                    }
                    _ => false,
                })
            })
            .collect();
        // MLflow's default order: the newest first, then by id.
        found.sort_by(|a, b| {
            for (k, asc) in &order {
                let key = |e: &Experiment| -> SortValue {
                    match k {
                        Key::Attribute(a) => attr(e, a).map(|v| match a.as_str() {
                            "name" => Err(v),
                            _ => v.parse().map_err(|_| v),
                        }),
                        Key::Tag(t) => e.tags.get(t).map(|v| Err(v.clone())),
                        _ => None,
                    }
                };
                let o = compare(&key(a), &key(b));
                let o = if *asc { o } else { o.reverse() };
                if o.is_ne() {
                    return o;
                }
            }
            b.creation_time.cmp(&a.creation_time).then_with(|| {
                b.experiment_id
                    .parse::<u64>()
                    .unwrap_or(0)
                    .cmp(&a.experiment_id.parse::<u64>().unwrap_or(0))
            })
        });
        let (items, next) = page(found, &p.str("page_token")?, max)?;
        let mut v = json!({ "experiments": items.iter().map(experiment_json).collect::<Vec<_>>() });
        if let Some(n) = next {
            v["next_page_token"] = json!(n);
        }
        Ok(v)
    }

    pub(super) async fn set_experiment_stage(&self, p: &Params, stage: &str) -> Result<Value> {
        let id = p.required("experiment_id")?;
        if id == crate::tracking::DEFAULT_EXPERIMENT && stage == "deleted" {
            return Err(ApiError::invalid(
                "Cannot delete the default experiment '0'. This is an internally reserved experiment.",
            ));
        }
        let stage = stage.to_string();
        self.tracking
            .update_experiment(&id, move |e| {
                e.lifecycle_stage = stage;
                Ok(())
            })
            .await?;
        Ok(json!({}))
    }

    pub(super) async fn rename_experiment(&self, p: &Params) -> Result<Value> {
        let id = p.required("experiment_id")?;
        let name = p.required("new_name")?;
        let shown = id.clone();
        self.tracking
            .update_experiment(&shown, move |e| {
                if e.lifecycle_stage != "active" {
                    return Err(TrackingError::state(format!(
                        "Cannot rename a non-active experiment {id}."
                    )));
                }
                e.name = name;
                Ok(())
            })
            .await?;
        Ok(json!({}))
    }

    pub(super) async fn experiment_tag(&self, p: &Params, set: bool) -> Result<Value> {
        let id = p.required("experiment_id")?;
        let key = p.required("key")?;
        crate::tracking::check_key("tag", &key)?;
        let value = p.str("value")?;
        let shown = id.clone();
        self.tracking
            .update_experiment(&shown, move |e| {
                if set {
                    e.tags.insert(key, value);
                } else if e.tags.remove(&key).is_none() {
                    return Err(TrackingError::missing(format!(
                        "No tag with name: {key} in experiment with id {id}"
                    )));
                }
                Ok(())
            })
            .await?;
        Ok(json!({}))
    }

    pub(super) async fn create_run(&self, p: &Params, actor: &str) -> Result<Value> {
        let tags: BTreeMap<String, String> = p.pairs("tags")?.into_iter().collect();
        let start = p.i64("start_time")?.unwrap_or_else(now_ms);
        let run = self
            .tracking
            .create_run(
                &p.str("experiment_id")?,
                actor,
                Some(&p.str("run_name")?),
                start,
                tags,
            )
            .await?;
        Ok(json!({ "run": run_json(&run) }))
    }

    /// `run_id`, or the older `run_uuid`.
    fn run_id(p: &Params) -> Result<String> {
        let id = p.str("run_id")?;
        if id.is_empty() && !p.str("run_uuid")?.is_empty() {
            return p.required("run_uuid");
        }
        p.required("run_id")
    }

    pub(super) async fn update_run(&self, p: &Params) -> Result<Value> {
        let id = Self::run_id(p)?;
        let status = p.str("status")?;
        let end = p.i64("end_time")?;
        let name = p.str("run_name")?;
        if !status.is_empty()
            && !["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"].contains(&status.as_str())
        {
            return Err(ApiError::invalid(format!(
                "Invalid value `{status}` for parameter 'status': expected RUNNING, SCHEDULED, FINISHED, FAILED or KILLED"
            )));
        }
        let run = self
            .tracking
            .update_run(&id, move |r| {
                active(r)?;
                if !status.is_empty() {
                    r.info.status = status;
                }
                if end.is_some() {
                    r.info.end_time = end;
                }
                if !name.is_empty() {
                    r.info.run_name = name.clone();
                    r.tags.insert("mlflow.runName".into(), name);
                }
                Ok(())
            })
            .await?;
        Ok(json!({ "run_info": run_info_json(&run) }))
    }

    pub(super) async fn set_run_stage(&self, p: &Params, stage: &str) -> Result<Value> {
        let id = p.required("run_id")?;
        let stage = stage.to_string();
        self.tracking
            .update_run(&id, move |r| {
                r.info.lifecycle_stage = stage;
                Ok(())
            })
            .await?;
        Ok(json!({}))
    }

    pub(super) async fn get_run(&self, p: &Params) -> Result<Value> {
        let run = self.tracking.run(&Self::run_id(p)?).await?;
        Ok(json!({ "run": run_json(&run) }))
    }

    fn point(o: &Params) -> Result<MetricPoint> {
        let key = o.required("key")?;
        let value = o.f64("value")?;
        let timestamp = o
            .i64("timestamp")?
            .ok_or_else(|| ApiError::invalid("Missing value for required parameter 'timestamp'"))?;
        Ok(MetricPoint {
            key,
            point: Point {
                value,
                timestamp,
                step: o.i64("step")?.unwrap_or(0),
            },
            model_id: Some(o.str("model_id")?).filter(|m| !m.is_empty()),
        })
    }

    pub(super) async fn log_metric(&self, p: &Params) -> Result<Value> {
        let id = Self::run_id(p)?;
        let m = Self::point(p)?;
        self.tracking
            .log_batch(&id, vec![m], vec![], vec![])
            .await?;
        Ok(json!({}))
    }

    pub(super) async fn log_param(&self, p: &Params) -> Result<Value> {
        let id = Self::run_id(p)?;
        let key = p.required("key")?;
        self.tracking
            .log_batch(&id, vec![], vec![(key, p.str("value")?)], vec![])
            .await?;
        Ok(json!({}))
    }

    pub(super) async fn set_tag(&self, p: &Params) -> Result<Value> {
        let id = Self::run_id(p)?;
        let key = p.required("key")?;
        self.tracking
            .log_batch(&id, vec![], vec![], vec![(key, p.str("value")?)])
            .await?;
        Ok(json!({}))
    }

    pub(super) async fn delete_tag(&self, p: &Params) -> Result<Value> {
        let id = p.required("run_id")?;
        let key = p.required("key")?;
        self.tracking
            .update_run(&id, move |r| {
                active(r)?;
                if r.tags.remove(&key).is_none() {
                    return Err(TrackingError::missing(format!(
                        "No tag with name: {key} in run with id {}",
                        r.info.run_id
                    )));
                }
                Ok(())
            })
            .await?;
        Ok(json!({}))
    }

    pub(super) async fn log_batch(&self, p: &Params) -> Result<Value> {
        let id = p.required("run_id")?;
        let metrics = p
            .objects("metrics")?
            .into_iter()
            .map(|o| Self::point(&Params { map: o }))
            .collect::<Result<Vec<_>>>()
            .map_err(|e| {
                let given = p.value("metrics").map(Value::to_string).unwrap_or_default();
                ApiError::invalid(format!(
                    "Invalid value {given} for parameter 'metrics' supplied: {}",
                    e.message
                ))
            })?;
        self.tracking
            .log_batch(&id, metrics, p.pairs("params")?, p.pairs("tags")?)
            .await?;
        Ok(json!({}))
    }

    pub(super) async fn log_inputs(&self, p: &Params) -> Result<Value> {
        let id = p.required("run_id")?;
        let inputs = p
            .objects("datasets")?
            .iter()
            .map(dataset_input)
            .collect::<Result<Vec<_>>>()?;
        self.tracking
            .update_run(&id, move |r| {
                active(r)?;
                for d in inputs {
                    if !r
                        .inputs
                        .iter()
                        .any(|x| x.name == d.name && x.digest == d.digest)
                    {
                        r.inputs.push(d);
                    }
                }
                Ok(())
            })
            .await?;
        Ok(json!({}))
    }

    pub(super) async fn log_outputs(&self, p: &Params) -> Result<Value> {
        let id = p.required("run_id")?;
        let mut outputs = Vec::new();
        for o in p.objects("models")? {
            let o = Params { map: o };
            let m = o.required("model_id")?;
            self.tracking.model(&m).await?;
            outputs.push((m, o.i64("step")?.unwrap_or(0)));
        }
        self.tracking
            .update_run(&id, move |r| {
                active(r)?;
                for o in outputs {
                    if !r.outputs.contains(&o) {
                        r.outputs.push(o);
                    }
                }
                Ok(())
            })
            .await?;
        Ok(json!({}))
    }

    pub(super) async fn search_runs(&self, p: &Params) -> Result<Value> {
        let clauses = filter::parse(&p.str("filter")?, RUN_ATTRIBUTES)?;
        let experiments = p.strings("experiment_ids")?;
        let shown = view(p, "run_view_type")?;
        let max = max_results(p, 1000, 50_000)?;
        let order = order_by(p, RUN_ATTRIBUTES)?;
        let mut found: Vec<Run> = self
            .tracking
            .runs()
            .await?
            .into_iter()
            .filter(|r| experiments.is_empty() || experiments.contains(&r.info.experiment_id))
            .filter(|r| shown(&r.info.lifecycle_stage))
            .filter(|r| clauses.iter().all(|c| run_matches(r, c)))
            .collect();
        found.sort_by(|a, b| {
            for (k, asc) in &order {
                let o = compare(&run_sort_value(a, k), &run_sort_value(b, k));
                let o = if *asc { o } else { o.reverse() };
                if o.is_ne() {
                    return o;
                }
            }
            // MLflow's default: the latest start first, then by id.
            b.info
                .start_time
                .cmp(&a.info.start_time)
                .then_with(|| a.info.run_id.cmp(&b.info.run_id))
        });
        let (items, next) = page(found, &p.str("page_token")?, max)?;
        let mut v = json!({ "runs": items.iter().map(run_json).collect::<Vec<_>>() });
        if let Some(n) = next {
            v["next_page_token"] = json!(n);
        }
        Ok(v)
    }

    pub(super) async fn metric_history(&self, p: &Params) -> Result<Value> {
        let id = Self::run_id(p)?;
        let key = p.required("metric_key")?;
        let history = self.tracking.metric_history(&id, &key).await?;
        let max = max_results(p, 25_000, 25_000)?;
        let (items, next) = page(history, &p.str("page_token")?, max)?;
        let mut v = json!({
            "metrics": items.iter().map(|pt| metric_json(&key, pt)).collect::<Vec<_>>()
        });
        if let Some(n) = next {
            v["next_page_token"] = json!(n);
        }
        Ok(v)
    }

    pub(super) async fn list_run_artifacts(&self, p: &Params) -> Result<Value> {
        let run = self.tracking.run(&Self::run_id(p)?).await?;
        let root = run
            .info
            .artifact_uri
            .strip_prefix("mlflow-artifacts:/")
            .unwrap_or_default()
            .to_string();
        let sub = p.str("path")?;
        let dir = crate::tracking::normal_path(&format!("{root}/{sub}"));
        if !sub.is_empty() {
            crate::tracking::check_path(&dir)
                .map_err(|_| ApiError::invalid(format!("Invalid path `{sub}`")))?;
        }
        let files = super::artifacts::listing(&self.tracking, &dir, &root).await?;
        Ok(json!({ "root_uri": run.info.artifact_uri, "files": files }))
    }

    pub(super) async fn create_logged_model(&self, p: &Params, actor: &str) -> Result<Value> {
        let now = now_ms();
        let experiment = p.required("experiment_id")?;
        let name = {
            let n = p.str("name")?;
            if n.is_empty() { "model".to_string() } else { n }
        };
        let m = LoggedModel {
            model_id: format!("m-{}", crate::tracking::new_id()),
            experiment_id: experiment,
            name,
            artifact_uri: String::new(),
            status: "LOGGED_MODEL_PENDING".into(),
            creation_timestamp_ms: now,
            last_updated_timestamp_ms: now,
            model_type: p.str("model_type")?,
            source_run_id: p.str("source_run_id")?,
            user_id: actor.to_string(),
            params: p.pairs("params")?.into_iter().collect(),
            tags: p.pairs("tags")?.into_iter().collect(),
        };
        let m = self.tracking.create_model(m).await?;
        Ok(json!({ "model": logged_model_json(&m) }))
    }

    pub(super) async fn search_logged_models(&self, p: &Params) -> Result<Value> {
        let experiments = p.strings("experiment_ids")?;
        let attrs = ["name", "model_id", "status", "source_run_id", "model_type"];
        let clauses = filter::parse(&p.str("filter")?, &attrs)?;
        let max = max_results(p, 100, 1000)?;
        let mut found: Vec<LoggedModel> = self
            .tracking
            .models()
            .await?
            .into_iter()
            .filter(|m| experiments.is_empty() || experiments.contains(&m.experiment_id))
            .filter(|m| {
                clauses.iter().all(|c| {
                    let field = match &c.key {
                        Key::Attribute(a) => match a.as_str() {
                            "name" => Some(m.name.clone()),
                            "model_id" => Some(m.model_id.clone()),
                            "status" => Some(m.status.clone()),
                            "source_run_id" => Some(m.source_run_id.clone()),
                            "model_type" => Some(m.model_type.clone()),
                            _ => None,
                        },
                        Key::Tag(t) => m.tags.get(t).cloned(),
                        Key::Param(t) => m.params.get(t).cloned(),
                        Key::Metric(_) => None,
                    };
                    filter::text_matches(field.as_deref(), c.op, &c.value)
                })
            })
            .collect();
        found.sort_by(|a, b| {
            b.creation_timestamp_ms
                .cmp(&a.creation_timestamp_ms)
                .then_with(|| a.model_id.cmp(&b.model_id))
        });
        let (items, next) = page(found, &p.str("page_token")?, max)?;
        let mut v = json!({ "models": items.iter().map(logged_model_json).collect::<Vec<_>>() });
        if let Some(n) = next {
            v["next_page_token"] = json!(n);
        }
        Ok(v)
    }

    /// `logged-models/{id}`, `.../tags`, `.../tags/{key}`, `.../params`.
    pub(super) async fn logged_model_route(
        &self,
        method: &str,
        rest: &str,
        p: &Params,
    ) -> Result<Value> {
        let mut parts = rest.splitn(3, '/');
        let id = crate::urlencoding::decode(parts.next().unwrap_or_default());
        let sub = parts.next();
        let key = parts.next().map(crate::urlencoding::decode);
        let m = match (method, sub) {
            ("GET", None) => self.tracking.model(&id).await?,
            ("PATCH", None) => {
                let status = p.required("status")?;
                if ![
                    "LOGGED_MODEL_READY",
                    "LOGGED_MODEL_UPLOAD_FAILED",
                    "LOGGED_MODEL_PENDING",
                ]
                .contains(&status.as_str())
                {
                    return Err(ApiError::invalid(format!(
                        "Invalid value `{status}` for parameter 'status'"
                    )));
                }
                self.tracking
                    .update_model(&id, move |m| {
                        m.status = status;
                        Ok(())
                    })
                    .await?
            }
            ("DELETE", None) => {
                return Err(ApiError::new(
                    "INVALID_STATE",
                    "logged models are kept: a registered version's source names them",
                ));
            }
            ("PATCH", Some("tags")) => {
                let tags = p.pairs("tags")?;
                for (k, _) in &tags {
                    crate::tracking::check_key("tag", k)?;
                }
                self.tracking
                    .update_model(&id, move |m| {
                        m.tags.extend(tags);
                        Ok(())
                    })
                    .await?
            }
            ("DELETE", Some("tags")) => {
                let key = key.unwrap_or_default();
                self.tracking
                    .update_model(&id, move |m| {
                        m.tags.remove(&key);
                        Ok(())
                    })
                    .await?
            }
            ("POST", Some("params")) => {
                let params = p.pairs("params")?;
                self.tracking
                    .update_model(&id, move |m| {
                        m.params.extend(params);
                        Ok(())
                    })
                    .await?
            }
            _ => {
                return Err(ApiError::new(
                    "ENDPOINT_NOT_FOUND",
                    format!("No API endpoint `{method} logged-models/{rest}` here"),
                ));
            }
        };
        Ok(json!({ "model": logged_model_json(&m) }))
    }
}
