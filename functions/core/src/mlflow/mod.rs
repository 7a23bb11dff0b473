//! The MLflow REST API, answered by mlinfra: the tracking API (experiments, runs, metrics,
//! logged models) over [`crate::tracking`], the artifact proxy over the lake, and the model
//! registry API over mlinfra's own [`crate::registry`], so that `mlflow` code written for an
//! MLflow server runs unchanged against `mlinfra serve`.
//!
//! The registry keeps its rules: a version is created by importing the logged ONNX model
//! (evaluated and blessed as `mlinfra models import` does), and a transition to Production is a
//! request that a different, authenticated person approves (by the same call, by `mlinfra
//! models approve` or in the console). Errors have MLflow's shape, `{"error_code", "message"}`,
//! with MLflow's codes, so that the client raises them as it raises its own.
//!
//! Who calls is decided before: the caller is an authenticated account, or nobody; [`Access`]
//! says what nobody may do.

mod artifacts;
mod registry;
mod runs;

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::lake::Lake;
use crate::registry::{Registry, RegistryError, Store};
use crate::tracking::{Tracking, TrackingError};

/// The prefixes of the API's routes (MLflow's client calls `/api/2.0/...`; its web UI the
/// `/ajax-api/2.0/...` twins).
pub const PREFIXES: &[&str] = &[
    "/api/2.0/mlflow/",
    "/ajax-api/2.0/mlflow/",
    "/api/2.0/mlflow-artifacts/",
    "/ajax-api/2.0/mlflow-artifacts/",
];

/// Whether `path` is one of the API's.
pub fn owns(path: &str) -> bool {
    PREFIXES.iter().any(|p| path.starts_with(p))
}

/// What a caller without credentials may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    /// Nothing (the default).
    #[default]
    None,
    /// Read, not write.
    Read,
    /// Read and write (never approve: an approval needs a name).
    Write,
}

/// One request.
pub struct Call<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The raw query string.
    pub query: &'a str,
    pub body: &'a [u8],
    /// The authenticated account, if any.
    pub caller: Option<&'a str>,
}

/// One answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(v: &Value) -> Reply {
        Reply {
            status: 200,
            content_type: "application/json",
            body: serde_json::to_vec(v).unwrap_or_default(),
        }
    }

    /// MLflow's error shape with its HTTP status.
    pub fn error(code: &str, message: &str) -> Reply {
        let status = match code {
            "RESOURCE_DOES_NOT_EXIST" | "ENDPOINT_NOT_FOUND" => 404,
            "UNAUTHENTICATED" => 401,
            "PERMISSION_DENIED" => 403,
            "INVALID_STATE" => 409,
            "INTERNAL_ERROR" => 500,
            _ => 400,
        };
        Reply {
            status,
            content_type: "application/json",
            body: serde_json::to_vec(&json!({"error_code": code, "message": message}))
                .unwrap_or_default(),
        }
    }
}

/// An error on the way to an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("INVALID_PARAMETER_VALUE", message)
    }
}

impl From<TrackingError> for ApiError {
    fn from(e: TrackingError) -> Self {
        match e {
            TrackingError::Invalid { code, message } => ApiError { code, message },
            TrackingError::Lake(m) => ApiError::new("INTERNAL_ERROR", m),
        }
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        let code = match &e {
            RegistryError::UnknownModel(_)
            | RegistryError::UnknownVersion { .. }
            | RegistryError::UnknownRequest { .. } => "RESOURCE_DOES_NOT_EXIST",
            RegistryError::AlreadyRegistered { .. } => "RESOURCE_ALREADY_EXISTS",
            RegistryError::NoIdentity => "UNAUTHENTICATED",
            RegistryError::Refused(_) | RegistryError::Conflict(_) => "INVALID_STATE",
            RegistryError::Integrity(_)
            | RegistryError::Store(_)
            | RegistryError::Service { .. } => "INTERNAL_ERROR",
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<crate::lake::LakeError> for ApiError {
    fn from(e: crate::lake::LakeError) -> Self {
        ApiError::new("INTERNAL_ERROR", e.to_string())
    }
}

type Result<T> = std::result::Result<T, ApiError>;

/// The API over a lake and a registry.
pub struct Api<L, S> {
    pub tracking: Tracking<L>,
    pub registry: Registry<S>,
    pub anonymous: Access,
}

/// A request's parameters: the query's for `GET`, else the JSON body's.
pub struct Params {
    map: Map<String, Value>,
}

impl Params {
    fn read(call: &Call<'_>) -> Result<Params> {
        if call.method == "GET" {
            let mut map = Map::new();
            for pair in call.query.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let k = crate::urlencoding::decode(k);
                let v = Value::String(crate::urlencoding::decode(v));
                match map.get_mut(&k) {
                    Some(Value::Array(a)) => a.push(v),
                    Some(old) => *old = Value::Array(vec![old.clone(), v]),
                    None => {
                        map.insert(k, v);
                    }
                }
            }
            return Ok(Params { map });
        }
        if call.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Params { map: Map::new() });
        }
        match serde_json::from_slice::<Value>(call.body) {
            Ok(Value::Object(map)) => Ok(Params { map }),
            Ok(_) => Err(ApiError::new(
                "MALFORMED_REQUEST",
                "the request body must be a JSON object",
            )),
            Err(e) => Err(ApiError::new(
                "MALFORMED_REQUEST",
                format!("the request body is not JSON: {e}"),
            )),
        }
    }

    fn value(&self, k: &str) -> Option<&Value> {
        self.map.get(k).filter(|v| !v.is_null())
    }

    /// A string field, empty when absent.
    pub fn str(&self, k: &str) -> Result<String> {
        match self.value(k) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v) => Err(ApiError::invalid(format!(
                "Invalid value {v} for parameter '{k}' supplied: expected a string"
            ))),
        }
    }

    /// A string field that must be there.
    pub fn required(&self, k: &str) -> Result<String> {
        let s = self.str(k)?;
        if s.is_empty() {
            return Err(ApiError::invalid(format!(
                "Missing value for required parameter '{k}'. See the API docs for more information about request parameters."
            )));
        }
        Ok(s)
    }

    pub fn i64(&self, k: &str) -> Result<Option<i64>> {
        match self.value(k) {
            None => Ok(None),
            Some(v) => match crate::tracking::number(v) {
                Some(n) if n.fract() == 0.0 && n.is_finite() => Ok(Some(n as i64)),
                _ => Err(ApiError::invalid(format!(
                    "Invalid value {v} for parameter '{k}' supplied: expected an integer"
                ))),
            },
        }
    }

    pub fn f64(&self, k: &str) -> Result<f64> {
        match self.value(k) {
            None => Err(ApiError::invalid(format!(
                "Missing value for required parameter '{k}'."
            ))),
            Some(v) => crate::tracking::number(v).ok_or_else(|| {
                ApiError::invalid(format!(
                    "Invalid value {v} for parameter '{k}' supplied: expected a number"
                ))
            }),
        }
    }

    pub fn bool(&self, k: &str) -> bool {
        match self.value(k) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => false,
        }
    }

    /// A list of strings (one string counts as a list of one).
    pub fn strings(&self, k: &str) -> Result<Vec<String>> {
        match self.value(k) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_string).ok_or_else(|| {
                        ApiError::invalid(format!(
                            "Invalid value {v} for parameter '{k}' supplied: expected strings"
                        ))
                    })
                })
                .collect(),
            Some(v) => Err(ApiError::invalid(format!(
                "Invalid value {v} for parameter '{k}' supplied: expected a list of strings"
            ))),
        }
    }

    /// A list of objects.
    pub fn objects(&self, k: &str) -> Result<Vec<Map<String, Value>>> {
        match self.value(k) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::Object(o) => Ok(o.clone()),
                    v => Err(ApiError::invalid(format!(
                        "Invalid value {v} for parameter '{k}' supplied: expected an object"
                    ))),
                })
                .collect(),
            Some(v) => Err(ApiError::invalid(format!(
                "Invalid value {v} for parameter '{k}' supplied: expected a list"
            ))),
        }
    }

    /// `[{key, value}]` as pairs, in order.
    pub fn pairs(&self, k: &str) -> Result<Vec<(String, String)>> {
        self.objects(k)?
            .into_iter()
            .map(|o| {
                let key = o.get("key").and_then(Value::as_str).unwrap_or_default();
                if key.is_empty() {
                    return Err(ApiError::invalid(format!(
                        "parameter '{k}': an entry has no `key`"
                    )));
                }
                let value = match o.get("value") {
                    Some(Value::String(s)) => s.clone(),
                    None | Some(Value::Null) => String::new(),
                    Some(v) => v.to_string(),
                };
                Ok((key.to_string(), value))
            })
            .collect()
    }
}

/// `[{key, value}]` of a map.
pub fn pairs_json(m: &BTreeMap<String, String>) -> Value {
    Value::Array(
        m.iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect(),
    )
}

/// The page of `items` a `page_token` (an offset) names, and the next page's token.
pub fn page<T>(items: Vec<T>, token: &str, max: usize) -> Result<(Vec<T>, Option<String>)> {
    let start: usize = if token.is_empty() {
        0
    } else {
        token
            .parse()
            .map_err(|_| ApiError::invalid(format!("Invalid page token `{token}`")))?
    };
    let total = items.len();
    let out: Vec<T> = items.into_iter().skip(start).take(max).collect();
    let next = (start + out.len() < total).then(|| (start + out.len()).to_string());
    Ok((out, next))
}

/// Whether an endpoint changes anything.
fn writes(method: &str, route: &str) -> bool {
    let reads = [
        "experiments/search",
        "runs/search",
        "logged-models/search",
        "registered-models/get-latest-versions",
    ];
    method != "GET" && !reads.contains(&route)
}

impl<L: Lake, S: Store> Api<L, S> {
    pub fn new(lake: L, registry: Registry<S>, anonymous: Access) -> Self {
        Api {
            tracking: Tracking::new(lake),
            registry,
            anonymous,
        }
    }

    pub fn lake(&self) -> &L {
        self.tracking.lake()
    }

    /// Answer one request.
    pub async fn handle(&self, call: &Call<'_>) -> Reply {
        match self.dispatch(call).await {
            Ok(r) => r,
            Err(e) => Reply::error(e.code, &e.message),
        }
    }

    async fn dispatch(&self, call: &Call<'_>) -> Result<Reply> {
        let Some((prefix, route)) = PREFIXES
            .iter()
            .find_map(|p| call.path.strip_prefix(p).map(|r| (*p, r)))
        else {
            return Err(not_found(call));
        };
        let artifacts = prefix.ends_with("mlflow-artifacts/");
        let write = if artifacts {
            !matches!(call.method, "GET" | "HEAD")
        } else {
            writes(call.method, route)
        };
        // Who may do what: an account anything the registry allows it; nobody what the
        // server's anonymous access allows.
        if call.caller.is_none() {
            let allowed = match self.anonymous {
                Access::None => false,
                Access::Read => !write,
                Access::Write => true,
            };
            if !allowed {
                return Err(ApiError::new(
                    "UNAUTHENTICATED",
                    format!(
                        "{} needs credentials: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (an account of `mlinfra users`), or MLFLOW_TRACKING_TOKEN (`mlinfra users token create NAME`)",
                        if write { "writing" } else { "reading" }
                    ),
                ));
            }
        }
        if artifacts {
            return self.artifacts(call, route).await;
        }
        let p = Params::read(call)?;
        let actor = call.caller.unwrap_or("anonymous");
        let v = match (call.method, route) {
            ("POST", "experiments/create") => self.create_experiment(&p).await?,
            ("GET", "experiments/get") => self.get_experiment(&p).await?,
            ("GET", "experiments/get-by-name") => self.get_experiment_by_name(&p).await?,
            ("POST" | "GET", "experiments/search") => self.search_experiments(&p).await?,
            ("POST", "experiments/delete") => self.set_experiment_stage(&p, "deleted").await?,
            ("POST", "experiments/restore") => self.set_experiment_stage(&p, "active").await?,
            ("POST", "experiments/update") => self.rename_experiment(&p).await?,
            ("POST", "experiments/set-experiment-tag") => self.experiment_tag(&p, true).await?,
            ("POST", "experiments/delete-experiment-tag") => self.experiment_tag(&p, false).await?,
            ("POST", "runs/create") => self.create_run(&p, actor).await?,
            ("POST", "runs/update") => self.update_run(&p).await?,
            ("POST", "runs/delete") => self.set_run_stage(&p, "deleted").await?,
            ("POST", "runs/restore") => self.set_run_stage(&p, "active").await?,
            ("GET", "runs/get") => self.get_run(&p).await?,
            ("POST", "runs/log-metric") => self.log_metric(&p).await?,
            ("POST", "runs/log-parameter") => self.log_param(&p).await?,
            ("POST", "runs/set-tag") => self.set_tag(&p).await?,
            ("POST", "runs/delete-tag") => self.delete_tag(&p).await?,
            ("POST", "runs/log-batch") => self.log_batch(&p).await?,
            ("POST", "runs/log-inputs") => self.log_inputs(&p).await?,
            ("POST", "runs/outputs") => self.log_outputs(&p).await?,
            ("POST" | "GET", "runs/search") => self.search_runs(&p).await?,
            ("GET", "metrics/get-history") => self.metric_history(&p).await?,
            ("GET", "artifacts/list") => self.list_run_artifacts(&p).await?,
            ("POST", "logged-models") => self.create_logged_model(&p, actor).await?,
            ("POST", "logged-models/search") => self.search_logged_models(&p).await?,
            (m, r) if r.starts_with("logged-models/") => {
                self.logged_model_route(m, &r["logged-models/".len()..], &p)
                    .await?
            }
            ("POST", "registered-models/create") => self.create_registered_model(&p, actor).await?,
            ("GET", "registered-models/get") => self.get_registered_model(&p).await?,
            ("GET" | "POST", "registered-models/search") => {
                self.search_registered_models(&p).await?
            }
            ("PATCH", "registered-models/update") => self.update_registered_model(&p).await?,
            ("POST", "registered-models/rename") => {
                return Err(ApiError::new(
                    "INVALID_STATE",
                    "renaming a registered model is not supported: its versions, requests and audit trail are recorded under its name; register the versions under the new name instead",
                ));
            }
            ("DELETE", "registered-models/delete") => self.delete_registered_model(&p).await?,
            ("POST" | "GET", "registered-models/get-latest-versions") => {
                self.latest_versions(&p).await?
            }
            ("POST", "registered-models/set-tag") => self.registered_tag(&p, true).await?,
            ("DELETE", "registered-models/delete-tag") => self.registered_tag(&p, false).await?,
            ("POST", "registered-models/alias") => self.set_alias(&p, actor).await?,
            ("DELETE", "registered-models/alias") => self.delete_alias(&p).await?,
            ("GET", "registered-models/alias") => self.version_by_alias(&p).await?,
            ("POST", "model-versions/create") => self.create_model_version(&p, actor).await?,
            ("GET", "model-versions/get") => self.get_model_version(&p).await?,
            ("PATCH", "model-versions/update") => self.update_model_version(&p).await?,
            ("POST", "model-versions/transition-stage") => self.transition(&p, actor).await?,
            ("DELETE", "model-versions/delete") => {
                return Err(ApiError::new(
                    "INVALID_STATE",
                    "registered versions are never deleted: the audit trail names them; a version leaves Production when another is approved in its place",
                ));
            }
            ("GET", "model-versions/search") => self.search_model_versions(&p).await?,
            ("GET", "model-versions/get-download-uri") => self.download_uri(&p).await?,
            ("POST", "model-versions/set-tag") => self.version_tag(&p, true).await?,
            ("DELETE", "model-versions/delete-tag") => self.version_tag(&p, false).await?,
            _ => return Err(not_found(call)),
        };
        Ok(Reply::json(&v))
    }
}

fn not_found(call: &Call<'_>) -> ApiError {
    ApiError::new(
        "ENDPOINT_NOT_FOUND",
        format!(
            "No API endpoint `{} {}` here: this server answers MLflow's tracking, artifact and model registry APIs (not traces, prompts or the AI gateway)",
            call.method, call.path
        ),
    )
}
