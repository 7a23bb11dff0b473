//! The prediction service itself: the models it holds, the routes, encoding rows for the
//! scorer (see [the module](super)).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::api::{ProxyRequest, ProxyResponse};
use super::{logs, openapi, served};
pub use served::{Feature, Served};

use crate::data::Kind;
use crate::registry::{Current, Pointer, Stage};

/// Where the served models come from: the registry's pointers and the artifacts.
#[allow(async_fn_in_trait)]
pub trait ModelSource: Send + Sync {
    async fn current(&self) -> Result<Option<Current>, String>;
    /// The artifact's bytes, checked against the pointer's sha256.
    async fn fetch(&self, p: &Pointer) -> Result<Vec<u8>, String>;
}

/// The log writer is woken as soon as this many sampled records wait (otherwise its timer
/// collects them).
pub const LOG_BATCH: usize = 1000;

/// The request header that keeps a request out of monitoring (`X-Mlinfra-Monitor: false`).
pub const MONITOR_HEADER: &str = "x-mlinfra-monitor";

/// Where feedback (ground truth by request id) is stored.
#[allow(async_fn_in_trait)]
pub trait FeedbackSink: Send + Sync {
    /// Store the feedback of a request; `Ok(true)` when it replaced earlier feedback for it.
    async fn store(&self, request_id: &str, record: &Value) -> Result<bool, String>;
    /// The version of the model that answered a request, when the lake's prediction logs (within
    /// their retention) hold it.
    async fn logged(&self, request_id: &str) -> Result<Option<u64>, String>;
}

/// Request ids this process logged, newest last, so that feedback can follow a prediction before
/// its log reaches the lake. Bounded: the oldest are forgotten first. Ids are kept as 64-bit
/// hashes (no allocation on the response path; a collision among 100,000 ids is about one
/// chance in 10^9).
#[derive(Default)]
struct Recent {
    ids: std::collections::HashMap<u64, u64>,
    order: std::collections::VecDeque<u64>,
}

impl Recent {
    const MAX: usize = 100_000;

    fn key(id: &str) -> u64 {
        crate::rng::hash_bytes(id.as_bytes(), 11)
    }

    fn get(&self, id: &str) -> Option<u64> {
        self.ids.get(&Self::key(id)).copied()
    }

    fn insert(&mut self, id: &str, version: u64) {
        let key = Self::key(id);
        if self.ids.insert(key, version).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > Self::MAX {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
    }
}

/// A sampled request and its response, for monitoring. It is built on the response path, so it
/// holds a handful of allocations (the request text as received rather than its parsed
/// instances); the writer turns it into the JSON line the monitor reads ([`PredictionLog::line`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionLog {
    pub request_id: String,
    /// When it was answered (seconds since the epoch).
    pub at: u64,
    pub model: String,
    pub version: u64,
    pub stage: Stage,
    /// The request body as received (`{"instances": [...]}` or `{"features": {...}}`).
    pub body: String,
    /// The predicted labels as the API answered them (class values or class names).
    pub labels: Vec<Value>,
    /// Each class's probability, row after row.
    pub probabilities: Vec<f32>,
}

impl PredictionLog {
    /// The record as one JSON line: `request_id`, `at`, `model`, `version`, `stage`,
    /// `instances`, `labels`, `probabilities` (one list per row).
    pub fn line(&self) -> String {
        let instances = serde_json::from_str(&self.body)
            .ok()
            .and_then(|b| instances_of(b).ok())
            .unwrap_or_default();
        let k = self.probabilities.len() / self.labels.len().max(1);
        let probabilities: Vec<&[f32]> = self.probabilities.chunks(k.max(1)).collect();
        json!({
            "request_id": self.request_id,
            "at": self.at,
            "model": self.model,
            "version": self.version,
            "stage": self.stage,
            "instances": instances,
            "labels": self.labels,
            "probabilities": probabilities,
        })
        .to_string()
    }
}

/// The instances of a `/predict` body: `{"instances": [...]}` or `{"features": {...}}`, and
/// nothing else (the document's `additionalProperties: false`).
fn instances_of(body: Value) -> Result<Vec<Value>, ProxyResponse> {
    let shape = "the body must be {\"instances\": [...]} or {\"features\": {...}}";
    let Value::Object(mut o) = body else {
        return Err(ProxyResponse::error(400, shape, vec![], None));
    };
    let unknown: Vec<Value> = o
        .keys()
        .filter(|k| *k != "instances" && *k != "features")
        .map(|k| json!({"field": k, "message": "unknown field; the body takes `instances` or `features`"}))
        .collect();
    if !unknown.is_empty() {
        return Err(ProxyResponse::error(400, shape, unknown, None));
    }
    match (o.remove("instances"), o.remove("features")) {
        (Some(Value::Array(a)), None) => Ok(a),
        (Some(_), None) => Err(ProxyResponse::error(
            400,
            "`instances` must be a list of objects",
            vec![json!({"field": "instances", "message": "expected a list"})],
            None,
        )),
        (None, Some(f)) => Ok(vec![f]),
        (Some(_), Some(_)) => Err(ProxyResponse::error(
            400,
            "send `instances` or `features`, not both",
            vec![json!({"field": "features", "message": "not with `instances`"})],
            None,
        )),
        (None, None) => Err(ProxyResponse::error(400, shape, vec![], None)),
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub model: String,
    pub max_batch: usize,
    pub refresh: Duration,
    /// Share of requests logged (0..=1).
    pub sample_rate: f64,
}

#[derive(Default)]
struct Slots {
    production: Option<Arc<Served>>,
    staging: Option<Arc<Served>>,
    checked: Option<Instant>,
}

pub struct Service<M, F> {
    pub config: Config,
    source: M,
    feedback: F,
    slots: RwLock<Slots>,
    /// Set while one request refreshes the models, so that others keep serving meanwhile.
    refreshing: std::sync::atomic::AtomicBool,
    refresh_failures: std::sync::atomic::AtomicU64,
    counter: std::sync::atomic::AtomicU64,
    recent: std::sync::Mutex<Recent>,
    /// Sampled requests, waiting for the log writer ([`logs::write_logs`] over [`Service::logs`]).
    logs: Arc<logs::LogBuffer>,
}

/// What a request produced: the response, and what metrics count.
pub struct Outcome {
    pub response: ProxyResponse,
    /// The route, for metrics (`/predict`, `/feedback`, `/health`, `other`).
    pub route: &'static str,
    /// The classes predicted (class names), for metrics.
    pub labels: Vec<String>,
}

impl<M: ModelSource, F: FeedbackSink> Service<M, F> {
    pub fn new(config: Config, source: M, feedback: F) -> Self {
        Service {
            config,
            source,
            feedback,
            slots: RwLock::new(Slots::default()),
            refreshing: std::sync::atomic::AtomicBool::new(false),
            refresh_failures: std::sync::atomic::AtomicU64::new(0),
            counter: std::sync::atomic::AtomicU64::new(0),
            recent: std::sync::Mutex::new(Recent::default()),
            logs: logs::LogBuffer::new(LOG_BATCH),
        }
    }

    /// Where sampled requests wait for the log writer.
    pub fn logs(&self) -> Arc<logs::LogBuffer> {
        Arc::clone(&self.logs)
    }

    /// Re-read the registry's pointers when the refresh interval has passed; load and swap in
    /// new versions. A model that fails to load (bad checksum, missing object, ...) is not
    /// served; the previous one stays, and the problem is returned (and counted). While one
    /// caller refreshes, the others skip it and serve the models they have.
    pub async fn refresh(&self, force: bool) -> Vec<String> {
        use std::sync::atomic::Ordering;
        let due = force
            || self
                .slots
                .read()
                .map(|s| s.checked.is_none_or(|t| t.elapsed() >= self.config.refresh))
                .unwrap_or(true);
        if !due || self.refreshing.swap(true, Ordering::AcqRel) {
            return Vec::new();
        }
        let problems = self.reload().await;
        self.refreshing.store(false, Ordering::Release);
        if !problems.is_empty() {
            self.refresh_failures
                .fetch_add(problems.len() as u64, Ordering::Relaxed);
        }
        problems
    }

    /// Where the models come from.
    pub fn source(&self) -> &M {
        &self.source
    }

    /// How many model loads or registry reads failed since start (see [`Service::refresh`]).
    pub fn refresh_failures(&self) -> u64 {
        self.refresh_failures
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn reload(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let current = match self.source.current().await {
            Ok(c) => c,
            Err(e) => {
                problems.push(e);
                // The registry cannot be read: keep serving what is loaded, try again later.
                if let Ok(mut s) = self.slots.write() {
                    s.checked = Some(Instant::now());
                }
                return problems;
            }
        };
        let (old_p, old_s) = self
            .slots
            .read()
            .map(|s| (s.production.clone(), s.staging.clone()))
            .unwrap_or_default();
        let cur = current.as_ref();
        let production = match cur.and_then(|c| c.production.as_ref()) {
            // A Production model that cannot be loaded leaves the previous one serving.
            Some(p) => self
                .load(p, Stage::Production, old_p.clone(), &mut problems)
                .await
                .or(old_p),
            None => None,
        };
        let staging = match cur.and_then(|c| c.staging.as_ref()) {
            Some(p) => self.load(p, Stage::Staging, old_s, &mut problems).await,
            None => None,
        };
        if let Ok(mut s) = self.slots.write() {
            s.production = production;
            s.staging = staging;
            s.checked = Some(Instant::now());
        }
        problems
    }

    /// The model a pointer names: the one already loaded when it is the same version and
    /// sha256, else fetched, verified and loaded.
    async fn load(
        &self,
        p: &Pointer,
        stage: Stage,
        old: Option<Arc<Served>>,
        problems: &mut Vec<String>,
    ) -> Option<Arc<Served>> {
        if let Some(o) = old.filter(|o| o.version == p.version && o.sha256 == p.sha256) {
            return Some(o);
        }
        let loaded = match self.source.fetch(p).await {
            Ok(bytes) => Served::load(&bytes, &self.config.model, p.version, stage, &p.sha256),
            Err(e) => Err(e),
        };
        match loaded {
            Ok(s) => Some(Arc::new(s)),
            Err(e) => {
                problems.push(format!("version {}: {e}", p.version));
                None
            }
        }
    }

    /// The version serving a stage right now.
    pub fn serving(&self, stage: Stage) -> Option<Arc<Served>> {
        let s = self.slots.read().ok()?;
        match stage {
            Stage::Staging => s.staging.clone(),
            _ => s.production.clone(),
        }
    }

    fn request_id(&self, req: &ProxyRequest) -> String {
        if !req.request_context.request_id.is_empty() {
            return req.request_context.request_id.clone();
        }
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!(
            "{:016x}{:08x}",
            crate::rng::mix(t as u64 ^ std::process::id() as u64),
            n
        )
    }

    pub async fn handle(&self, req: &ProxyRequest) -> Outcome {
        if let Some(route) = super::inference::Route::parse(&req.path) {
            return self.v2(req, route).await;
        }
        let route = match req.path.trim_end_matches('/') {
            "/predict" => "/predict",
            "/feedback" => "/feedback",
            "/health" => "/health",
            _ => "other",
        };
        let done = |response| Outcome {
            response,
            route,
            labels: Vec::new(),
        };
        let method = req.http_method.to_ascii_uppercase();
        let expected = match route {
            "/predict" | "/feedback" => "POST",
            "/health" => "GET",
            _ => {
                return done(ProxyResponse::error(
                    404,
                    &format!("no route `{} {}`", method, req.path),
                    vec![],
                    Some(
                        "the routes are POST /predict, POST /feedback, GET /health, and the Open Inference Protocol's under /v2",
                    ),
                ));
            }
        };
        if method != expected {
            let mut r = ProxyResponse::error(
                405,
                &format!("`{}` takes {expected}, not {method}", req.path),
                vec![],
                None,
            );
            r.headers.insert("allow".into(), expected.into());
            return done(r);
        }
        if expected == "POST"
            && let Some(ct) = req.header("content-type")
            && !ct.to_ascii_lowercase().starts_with("application/json")
            && !(route == "/predict" && picture_of(req).is_some())
        {
            return done(ProxyResponse::error(
                415,
                &format!("content type `{ct}` is not supported"),
                vec![],
                Some("send JSON with `Content-Type: application/json`"),
            ));
        }
        for problem in self.refresh(false).await {
            eprintln!("model refresh: {problem}");
        }
        match route {
            "/health" => {
                let p = self.serving(Stage::Production);
                let s = self.serving(Stage::Staging);
                let v = |m: &Option<Arc<Served>>| {
                    m.as_ref()
                        .map(|m| json!({"version": m.version, "sha256": m.sha256}))
                };
                done(ProxyResponse::json(
                    200,
                    &json!({"status": "ok", "model": self.config.model, "production": v(&p), "staging": v(&s)}),
                ))
            }
            "/feedback" => done(self.feedback(req).await),
            _ => self.predict(req),
        }
    }

    /// A route of the Open Inference Protocol v2 ([`super::inference`]).
    async fn v2(&self, req: &ProxyRequest, route: super::inference::Route) -> Outcome {
        use super::inference::{self, Route};
        let method = req.http_method.to_ascii_uppercase();
        let done = |response| Outcome {
            response,
            route: "/v2",
            labels: Vec::new(),
        };
        if method != route.method() {
            let mut r = ProxyResponse::error(
                405,
                &format!("`{}` takes {}, not {method}", req.path, route.method()),
                vec![],
                None,
            );
            r.headers.insert("allow".into(), route.method().into());
            return done(r);
        }
        for problem in self.refresh(false).await {
            eprintln!("model refresh: {problem}");
        }
        let production = self.serving(Stage::Production);
        let target = match &route {
            Route::Server => {
                return done(ProxyResponse::json(
                    200,
                    &json!({"name": "mlinfra", "version": env!("CARGO_PKG_VERSION"), "extensions": []}),
                ));
            }
            Route::Live => return done(ProxyResponse::json(200, &json!({"live": true}))),
            Route::Ready => {
                let ready = production.is_some();
                return done(ProxyResponse::json(
                    if ready { 200 } else { 503 },
                    &json!({ "ready": ready }),
                ));
            }
            Route::Model(t) | Route::ModelReady(t) | Route::Infer(t) => t,
        };
        if target.name != self.config.model {
            return done(ProxyResponse::error(
                404,
                &format!("no model `{}`", target.name),
                vec![],
                Some(&format!(
                    "this API serves the model `{}`",
                    self.config.model
                )),
            ));
        }
        // Without a version, Production's; with one, whichever stage serves it.
        let served: Vec<Arc<Served>> = [Stage::Production, Stage::Staging]
            .into_iter()
            .filter_map(|s| self.serving(s))
            .collect();
        let versions: Vec<u64> = served.iter().map(|m| m.version).collect();
        let model = match &target.version {
            None => production.clone(),
            Some(v) => served.iter().find(|m| m.version.to_string() == *v).cloned(),
        };
        let Some(model) = model else {
            let what = target
                .version
                .as_ref()
                .map_or("no Production version is served".to_string(), |v| {
                    format!("version {v} is not served")
                });
            let status = if matches!(route, Route::ModelReady(_)) {
                503
            } else {
                404
            };
            return done(ProxyResponse::error(
                status,
                &format!("model `{}`: {what}", target.name),
                vec![],
                Some(&format!(
                    "the versions served are {:?} (Production, then Staging)",
                    versions
                )),
            ));
        };
        match route {
            Route::Model(_) => done(ProxyResponse::json(
                200,
                &inference::metadata(&target.name, &model, &versions),
            )),
            Route::ModelReady(_) => done(ProxyResponse::json(
                200,
                &json!({"name": target.name, "ready": true}),
            )),
            _ => self.infer(req, &model),
        }
    }

    /// `POST /v2/models/{name}/infer`: the request's tensors scored as /predict's instances.
    fn infer(&self, req: &ProxyRequest, model: &Served) -> Outcome {
        let fail = |response| Outcome {
            response,
            route: "/v2",
            labels: Vec::new(),
        };
        let body = match Self::body(req) {
            Ok(b) => b,
            Err(r) => return fail(r),
        };
        let asked = match super::inference::request(model, &body) {
            Ok(a) => a,
            Err(r) => return fail(r),
        };
        let logged = json!({ "instances": asked.instances }).to_string();
        let monitored = req.header(MONITOR_HEADER) != Some("false");
        let Answered {
            model,
            scored,
            request_id,
        } = match self.answer(
            req,
            model.stage,
            false,
            monitored,
            &asked.instances,
            &logged,
        ) {
            Ok(a) => a,
            Err(r) => return fail(r),
        };
        let outputs = super::inference::outputs(&model, &scored.scores, &asked.outputs);
        let scores = &scored.scores;
        let body = json!({
            "model_name": model.model,
            "model_version": model.version.to_string(),
            "id": asked.id.unwrap_or_else(|| request_id.clone()),
            "parameters": {"request_id": request_id},
            "outputs": outputs,
        });
        Outcome {
            response: ProxyResponse::json(200, &body),
            route: "/v2",
            labels: scores
                .labels
                .iter()
                .map(|l| model.classes[model.class_index(*l)].clone())
                .collect(),
        }
    }

    fn body(req: &ProxyRequest) -> Result<Value, ProxyResponse> {
        let text = match (&req.body, req.is_base64_encoded) {
            (None, _) => {
                return Err(ProxyResponse::error(
                    400,
                    "the request has no body",
                    vec![],
                    Some("send {\"instances\": [{...}]}"),
                ));
            }
            (Some(_), true) => {
                return Err(ProxyResponse::error(
                    400,
                    "base64-encoded bodies are not supported",
                    vec![],
                    Some("send JSON text"),
                ));
            }
            (Some(b), false) => b,
        };
        serde_json::from_str(text).map_err(|e| {
            ProxyResponse::error(
                400,
                &format!("the body is not valid JSON: {e}"),
                vec![],
                Some("send {\"instances\": [{\"feature\": value, ...}]}"),
            )
        })
    }

    fn predict(&self, req: &ProxyRequest) -> Outcome {
        let fail = |response| Outcome {
            response,
            route: "/predict",
            labels: Vec::new(),
        };
        let stage = match req.query("stage") {
            None | Some("production") => Stage::Production,
            Some("staging") => Stage::Staging,
            Some(other) => {
                return fail(ProxyResponse::error(
                    400,
                    &format!("unknown stage `{other}`"),
                    vec![
                        json!({"field": "stage", "message": "expected `production` or `staging`"}),
                    ],
                    None,
                ));
            }
        };
        let explain = match req.query("explain") {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return fail(ProxyResponse::error(
                    400,
                    &format!("`explain={other}` is not a boolean"),
                    vec![json!({"field": "explain", "message": "expected `true` or `false`"})],
                    None,
                ));
            }
        };
        // `top_k=K`: each prediction's probabilities of its K most probable classes only (a
        // model of many classes).
        let top_k = match req.query("top_k") {
            None => None,
            // Any number of classes is accepted: past the model's, every class.
            Some(k)
                if !k.is_empty()
                    && k.bytes().all(|b| b.is_ascii_digit())
                    && k.bytes().any(|b| b != b'0') =>
            {
                Some(k.parse::<usize>().unwrap_or(usize::MAX))
            }
            Some(k) => {
                return fail(ProxyResponse::error(
                    400,
                    &format!("`top_k={k}` is not a number of classes"),
                    vec![json!({"field": "top_k", "message": "expected an integer of at least 1"})],
                    None,
                ));
            }
        };
        // `X-Mlinfra-Monitor: false` (a smoke test, a load test): answered, never logged, so
        // the monitor does not count it.
        let monitored = match req.header(MONITOR_HEADER) {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return fail(ProxyResponse::error(
                    400,
                    &format!("`{MONITOR_HEADER}: {other}` is neither `true` nor `false`"),
                    vec![json!({"field": MONITOR_HEADER, "message": "expected `true` or `false`"})],
                    None,
                ));
            }
        };
        // A picture as the whole body (`Content-Type: image/png` or `image/jpeg`): one instance.
        let instances = if picture_of(req).is_some() {
            match picture_body(req) {
                Ok(bytes) => {
                    use base64::Engine as _;
                    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
                    vec![json!({ "b64": b64 })]
                }
                Err(r) => return fail(r),
            }
        } else {
            let body = match Self::body(req) {
                Ok(b) => b,
                Err(r) => return fail(r),
            };
            match instances_of(body) {
                Ok(i) => i,
                Err(r) => return fail(r),
            }
        };
        let body_text = req.body.as_deref().unwrap_or_default();
        let Answered {
            model,
            scored,
            request_id,
        } = match self.answer(req, stage, explain, monitored, &instances, body_text) {
            Ok(a) => a,
            Err(r) => return fail(r),
        };
        let Scored {
            scores,
            explanations,
            mut warnings,
            tokens,
            pictures,
            ..
        } = scored;
        let k = model.classes.len();
        let predictions: Vec<Value> = (0..instances.len())
            .map(|i| {
                if model.regression {
                    let v = f64::from(scores.values[i]);
                    let mut out = json!({ "value": v });
                    if let Some(iv) = &model.interval {
                        out["interval"] = json!({
                            "level": iv.level,
                            "low": v - iv.half_width,
                            "high": v + iv.half_width,
                        });
                    }
                    if let Some(e) = &explanations {
                        out["explanation"] = explanation_json(&e[i]);
                    }
                    return out;
                }
                let p = &scores.probabilities[i * k..(i + 1) * k];
                let idx = model.class_index(scores.labels[i]);
                let probs: Map<String, Value> = most_probable(p, top_k)
                    .into_iter()
                    .map(|c| (model.classes[c].clone(), json!(f64::from(p[c]))))
                    .collect();
                let mut out = json!({"label": model.label_value(scores.labels[i]), "confidence": f64::from(p[idx]), "probabilities": probs});
                if let Some(e) = &explanations {
                    out["explanation"] = explanation_json(&e[i]);
                }
                if let Some(t) = &tokens {
                    out["tokens"] = json!(t.counts[i]);
                    out["truncated"] = json!(t.truncated[i]);
                }
                if let Some(p) = &pictures {
                    out["image"] = json!({"width": p[i].width, "height": p[i].height});
                }
                out
            })
            .collect();
        let mut body = json!({
            "request_id": request_id,
            "model": {"name": model.model, "version": model.version, "stage": model.stage.to_string()},
            "predictions": predictions,
        });
        if let Some(t) = &tokens
            && let Some(spec) = model.scorer.text_spec()
        {
            for (i, cut) in t.truncated.iter().enumerate() {
                if *cut {
                    warnings.push(json!({"field": format!("instances[{i}].{}", model.features[0].name), "message": format!("cut to the model's `max_length` of {} tokens; the rest of the text was not read", spec.max_length)}));
                }
            }
        }
        if !warnings.is_empty() {
            body["warnings"] = Value::Array(warnings);
        }
        if !monitored {
            body["monitored"] = Value::Bool(false);
        }
        Outcome {
            response: ProxyResponse::json(200, &body),
            route: "/predict",
            labels: scores
                .labels
                .iter()
                .map(|l| model.classes[model.class_index(*l)].clone())
                .collect(),
        }
    }

    /// Score `instances` with the model in `stage`, and log a sample of the requests (their
    /// body `logged`, in /predict's form) for the monitor: what both APIs do.
    fn answer(
        &self,
        req: &ProxyRequest,
        stage: Stage,
        explain: bool,
        monitored: bool,
        instances: &[Value],
        logged: &str,
    ) -> Result<Answered, ProxyResponse> {
        if instances.is_empty() {
            return Err(ProxyResponse::error(
                400,
                "`instances` is empty",
                vec![json!({"field": "instances", "message": "send at least one instance"})],
                None,
            ));
        }
        if instances.len() > self.config.max_batch {
            return Err(ProxyResponse::error(
                400,
                &format!(
                    "{} instances exceed the limit of {} per request",
                    instances.len(),
                    self.config.max_batch
                ),
                vec![
                    json!({"field": "instances", "message": format!("at most {} instances", self.config.max_batch)}),
                ],
                Some(
                    "split the batch, or use `mlinfra predict --input FILE.csv` for batch prediction",
                ),
            ));
        }
        let Some(model) = self.serving(stage) else {
            let hint = if stage == Stage::Production {
                "no model is in Production yet: run the pipeline, then `mlinfra models request VERSION --to production` and have someone else approve it"
            } else {
                "no model is in Staging: register one (`mlinfra pipeline run`) or request Staging"
            };
            return Err(ProxyResponse::error(
                404,
                &format!("no {stage} model to serve"),
                vec![],
                Some(hint),
            ));
        };
        let scored = if model.scorer.takes_text() {
            score_texts(&model, instances)
        } else if model.scorer.image_spec().is_some() {
            score_images(&model, instances)
        } else {
            score_rows(&model, instances, explain)
        }?;
        // An image model's log keeps what the monitor reads of each picture, not the picture.
        let logged = scored.logged.as_deref().unwrap_or(logged);
        let request_id = self.request_id(req);
        let sampled = monitored
            && (self.config.sample_rate >= 1.0
                || (self.config.sample_rate > 0.0
                    && crate::rng::unit(crate::rng::hash_bytes(request_id.as_bytes(), 7))
                        < self.config.sample_rate));
        if sampled {
            if let Ok(mut r) = self.recent.lock() {
                r.insert(&request_id, model.version);
            }
            let scores = &scored.scores;
            // A regression's log keeps its values where a classification's keeps its labels.
            let labels: Vec<Value> = if model.regression {
                scores.values.iter().map(|v| json!(f64::from(*v))).collect()
            } else {
                scores
                    .labels
                    .iter()
                    .map(|l| model.label_value(*l))
                    .collect()
            };
            self.logs.record(&logs::Sample {
                request_id: &request_id,
                at: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0),
                model: &model.model,
                version: model.version,
                stage: model.stage,
                body: logged,
                labels: &labels,
                probabilities: scores
                    .probabilities
                    .get(..instances.len() * model.classes.len())
                    .unwrap_or_default(),
            });
        }
        Ok(Answered {
            model,
            scored,
            request_id,
        })
    }

    async fn feedback(&self, req: &ProxyRequest) -> ProxyResponse {
        let body = match Self::body(req) {
            Ok(b) => b,
            Err(r) => return r,
        };
        let mut errors = Vec::new();
        let id = body.get("request_id").and_then(Value::as_str).filter(|s| {
            !s.is_empty()
                && s.len() <= 128
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
        if id.is_none() {
            errors.push(json!({"field": "request_id", "message": "expected the request_id of a prediction (letters, digits, `-`)"}));
        }
        let label = body.get("label").filter(|v| v.is_number() || v.is_string());
        if label.is_none() {
            errors.push(json!({"field": "label", "message": "expected the true label (a class value or name; a regression's true value)"}));
        }
        let (Some(id), Some(label)) = (id, label) else {
            return ProxyResponse::error(
                400,
                "invalid feedback",
                errors,
                Some("send {\"request_id\": \"...\", \"label\": 1}"),
            );
        };
        let recent = self.recent.lock().ok().and_then(|r| r.get(id));
        let logged = match recent {
            Some(v) => Ok(Some(v)),
            None => self.feedback.logged(id).await,
        };
        let version = match logged {
            Ok(Some(v)) => v,
            Ok(None) => {
                return ProxyResponse::error(
                    404,
                    &format!("no logged prediction has request_id `{id}`"),
                    vec![],
                    Some(
                        "feedback is taken for predictions this API logged (a share \
                         `monitoring.sample_rate` of them, kept `lake.prediction_log_days` days): \
                         send the `request_id` of such a /predict answer",
                    ),
                );
            }
            Err(e) => {
                return ProxyResponse::error(
                    503,
                    &format!("the prediction logs cannot be read: {e}"),
                    vec![],
                    Some("retry later"),
                );
            }
        };
        let models: Vec<Arc<Served>> = [Stage::Production, Stage::Staging]
            .into_iter()
            .filter_map(|s| self.serving(s))
            .collect();
        let model = models
            .iter()
            .find(|m| m.version == version)
            .or(models.first());
        let Some(model) = model else {
            return ProxyResponse::error(
                404,
                "no model is served, so the label cannot be checked",
                vec![],
                Some("retry once a Production model is served"),
            );
        };
        // What the feedback says: a regression's true value, or a class of the model.
        let (label, class) = if model.regression {
            let Some(value) = label.as_f64().filter(|v| v.is_finite()) else {
                return ProxyResponse::error(
                    400,
                    "invalid feedback",
                    vec![json!({"field": "label", "message": format!(
                        "`{label}` is not a number: the model predicts a value, so the label is the true value"
                    )})],
                    None,
                );
            };
            (json!(value), None)
        } else {
            let Some(class) = model.class_named(label) else {
                let classes: Vec<String> = model.classes.iter().map(|c| format!("`{c}`")).collect();
                return ProxyResponse::error(
                    400,
                    "invalid feedback",
                    vec![json!({"field": "label", "message": format!(
                        "`{}` is not a class of the model: expected one of {}",
                        match label { Value::String(s) => s.clone(), other => other.to_string() },
                        classes.join(", ")
                    )})],
                    None,
                );
            };
            (label.clone(), Some(class))
        };
        let mut record = json!({
            "request_id": id,
            "label": label,
            "version": version,
            "at": crate::clock::rfc3339(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)),
        });
        let mut answer = json!({"stored": true, "request_id": id});
        match class {
            Some(c) => {
                record["class"] = json!(c);
                answer["class"] = json!(c);
            }
            None => answer["label"] = label,
        }
        match self.feedback.store(id, &record).await {
            Ok(replaced) => {
                answer["replaced"] = json!(replaced);
                ProxyResponse::json(202, &answer)
            }
            Err(e) => ProxyResponse::error(
                503,
                &format!("feedback could not be stored: {e}"),
                vec![],
                Some("retry later"),
            ),
        }
    }
}

/// A batch scored by [`Service::answer`].
struct Answered {
    model: Arc<Served>,
    scored: Scored,
    request_id: String,
}

/// A batch's answers, before they are written.
struct Scored {
    scores: crate::scorer::Scores,
    explanations: Option<Vec<crate::explain::Explanation>>,
    warnings: Vec<Value>,
    /// A text model's tokens.
    tokens: Option<crate::onnx::text::Tokens>,
    /// An image model's pictures: their size, brightness and contrast (what the log keeps of
    /// them: `jobs::import::IMAGE_PROFILE`).
    pictures: Option<Vec<crate::onnx::images::Stats>>,
    /// What the prediction log keeps instead of the request's body.
    logged: Option<String>,
}

/// Score instances of feature values (validated and encoded by [`encode`]), explained when
/// asked.
fn score_rows(model: &Served, instances: &[Value], explain: bool) -> Result<Scored, ProxyResponse> {
    let (rows, errors, warnings) = encode(model, instances);
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    let scores = model
        .score(instances.len(), &rows)
        .map_err(|e| ProxyResponse::error(500, &format!("scoring failed: {e}"), vec![], None))?;
    let explanations = if explain {
        Some(
            model
                .explain(instances.len(), &rows, &scores.labels)
                .map_err(|e| {
                    ProxyResponse::error(
                        409,
                        &format!("version {} cannot be explained: {e}", model.version),
                        vec![],
                        Some(
                            "retrain with this mlinfra (`mlinfra retrain`), or ask without `explain=true`",
                        ),
                    )
                })?,
        )
    } else {
        None
    };
    Ok(Scored {
        scores,
        explanations,
        warnings,
        tokens: None,
        pictures: None,
        logged: None,
    })
}

/// Score instances of a text model: each `{"<feature>": "text"}` (or the string itself),
/// tokenized by the model's tokenizer.
fn score_texts(model: &Served, instances: &[Value]) -> Result<Scored, ProxyResponse> {
    let name = model.features.first().map_or("text", |f| f.name.as_str());
    let mut texts = Vec::with_capacity(instances.len());
    let mut errors = Vec::new();
    for (i, inst) in instances.iter().enumerate() {
        let text = match inst {
            Value::String(s) => Some(s),
            Value::Object(o) => {
                for key in o.keys().filter(|k| *k != name) {
                    errors.push(json!({"field": format!("instances[{i}].{key}"), "message": format!("unknown feature; the model takes `{name}`")}));
                }
                match o.get(name) {
                    Some(Value::String(s)) => Some(s),
                    Some(other) => {
                        errors.push(json!({"field": format!("instances[{i}].{name}"), "message": format!("expected a string, found {}", kind_of(other))}));
                        None
                    }
                    None => {
                        errors.push(json!({"field": format!("instances[{i}].{name}"), "message": "missing feature: the text to classify"}));
                        None
                    }
                }
            }
            other => {
                errors.push(json!({"field": format!("instances[{i}]"), "message": format!("expected {{\"{name}\": \"...\"}} or a string, found {}", kind_of(other))}));
                None
            }
        };
        texts.push(text.cloned().unwrap_or_default());
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    let (scores, tokens) = model
        .scorer
        .score_texts(&texts)
        .map_err(|e| ProxyResponse::error(500, &format!("scoring failed: {e}"), vec![], None))?;
    if let Some(spec) = model.scorer.text_spec()
        && let Some(e) = tokens.refused(spec, &|i| format!("instances[{i}].{name}"))
    {
        let field = format!(
            "instances[{}].{name}",
            tokens.truncated.iter().position(|t| *t).unwrap_or(0)
        );
        return Err(ProxyResponse::error(
            400,
            "1 invalid field",
            vec![json!({"field": field, "message": e})],
            Some("send a shorter text"),
        ));
    }
    // The log keeps each text and what the monitor reads of it (see
    // `jobs::import::TEXT_PROFILE`).
    let logged: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| json!({name: t, "tokens": tokens.counts[i], "unknown": tokens.unknown[i], "truncated": u8::from(tokens.truncated[i])}))
        .collect();
    Ok(Scored {
        scores,
        explanations: None,
        warnings: Vec::new(),
        tokens: Some(tokens),
        pictures: None,
        logged: Some(json!({ "instances": logged }).to_string()),
    })
}

/// Score instances of an image model: each `{"<feature>": {"b64": "..."}}`,
/// `{"<feature>": "..."}`, `{"b64": "..."}` or the base64 string itself, a PNG or JPEG. Each
/// picture is decoded, measured and brought to the model's size before the next, so a request
/// holds one full-size picture at a time.
fn score_images(model: &Served, instances: &[Value]) -> Result<Scored, ProxyResponse> {
    use base64::Engine as _;
    let Some(spec) = model.scorer.image_spec() else {
        return Err(ProxyResponse::error(
            500,
            "the model takes no pictures",
            vec![],
            None,
        ));
    };
    let name = model.features.first().map_or("image", |f| f.name.as_str());
    let mut pictures = Vec::with_capacity(instances.len());
    let mut stats = Vec::with_capacity(instances.len());
    let mut errors = Vec::new();
    for (i, inst) in instances.iter().enumerate() {
        let field = format!("instances[{i}].{name}");
        let value = match inst {
            Value::Object(o) if o.contains_key(name) => o.get(name),
            other => Some(other),
        };
        let b64 = match value {
            Some(Value::String(s)) => Some(s.as_str()),
            Some(Value::Object(o)) => o.get("b64").and_then(Value::as_str),
            _ => None,
        };
        let Some(b64) = b64 else {
            errors.push(json!({"field": field, "message": "expected a PNG or JPEG picture in base64: {\"b64\": \"...\"} or the string"}));
            continue;
        };
        let bytes = match base64::engine::general_purpose::STANDARD.decode(b64.trim()) {
            Ok(b) => b,
            Err(e) => {
                errors.push(json!({"field": field, "message": format!("not base64: {e}")}));
                continue;
            }
        };
        match crate::onnx::images::decode(&bytes) {
            Ok(img) => {
                stats.push(crate::onnx::images::stats(&img));
                pictures.push(crate::onnx::images::resized(&img, spec).into_owned());
            }
            Err(e) => errors.push(json!({"field": field, "message": e})),
        }
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    let scores = model
        .scorer
        .score_images(&pictures)
        .map_err(|e| ProxyResponse::error(500, &format!("scoring failed: {e}"), vec![], None))?;
    let logged: Vec<Value> = stats
        .iter()
        .map(|s| json!({"width": s.width, "height": s.height, "brightness": s.brightness, "contrast": s.contrast}))
        .collect();
    Ok(Scored {
        scores,
        explanations: None,
        warnings: Vec::new(),
        tokens: None,
        logged: Some(json!({ "instances": logged }).to_string()),
        pictures: Some(stats),
    })
}

/// The classes (indices) whose probabilities an answer lists: every class, or with `top_k` the
/// `top_k` most probable (ties in the classes' order).
fn most_probable(p: &[f32], top_k: Option<usize>) -> Vec<usize> {
    let mut classes: Vec<usize> = (0..p.len()).collect();
    if let Some(k) = top_k.filter(|k| *k < p.len()) {
        classes.sort_by(|a, b| p[*b].total_cmp(&p[*a]).then(a.cmp(b)));
        classes.truncate(k);
    }
    classes
}

/// The picture type a content type names (`image/png`, `image/jpeg`), when it names one: a
/// body of that type is the picture itself.
pub fn picture_type(content_type: &str) -> Option<&'static str> {
    let ct = content_type.to_ascii_lowercase();
    ["image/png", "image/jpeg"]
        .into_iter()
        .find(|t| ct.starts_with(t))
}

/// The picture type of a request's body, when it is one.
fn picture_of(req: &ProxyRequest) -> Option<&'static str> {
    req.header("content-type").and_then(picture_type)
}

/// A picture sent as the whole body: base64 as API Gateway delivers binary media types (and
/// `serve` passes on), or the text itself.
fn picture_body(req: &ProxyRequest) -> Result<Vec<u8>, ProxyResponse> {
    use base64::Engine as _;
    let Some(body) = &req.body else {
        return Err(ProxyResponse::error(
            400,
            "the request has no body",
            vec![],
            Some("send the picture as the body"),
        ));
    };
    if req.is_base64_encoded {
        base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .map_err(|e| {
                ProxyResponse::error(400, &format!("the body is not base64: {e}"), vec![], None)
            })
    } else {
        Ok(body.as_bytes().to_vec())
    }
}

/// A 400 for invalid fields.
fn invalid(errors: Vec<Value>) -> ProxyResponse {
    ProxyResponse::error(
        400,
        &format!(
            "{} invalid field{}",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" }
        ),
        errors,
        None,
    )
}

/// Validate instances against the model's features and encode them as `f32` rows (NaN for a
/// missing value; a text feature's category as its index, see [`crate::scorer`]). Returns the
/// rows, the errors (each naming its field) and the warnings.
pub fn encode(model: &Served, instances: &[Value]) -> (Vec<f32>, Vec<Value>, Vec<Value>) {
    let mut rows = Vec::with_capacity(instances.len() * model.features.len());
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for (i, inst) in instances.iter().enumerate() {
        let Value::Object(obj) = inst else {
            errors.push(json!({"field": format!("instances[{i}]"), "message": "expected an object of feature values"}));
            continue;
        };
        for key in obj.keys() {
            if !model.features.iter().any(|f| &f.name == key) {
                let names: Vec<&str> = model.features.iter().map(|f| f.name.as_str()).collect();
                errors.push(json!({"field": format!("instances[{i}].{key}"), "message": format!("unknown feature; the features are {}", names.join(", "))}));
            }
        }
        for f in &model.features {
            let field = format!("instances[{i}].{}", f.name);
            let x = match obj.get(&f.name) {
                None => {
                    errors.push(json!({"field": field, "message": "missing feature (send null for a missing value)"}));
                    f32::NAN
                }
                Some(Value::Null) => f32::NAN,
                Some(Value::String(text)) if f.text => match text.trim() {
                    "" => f32::NAN,
                    value => {
                        let cell = f.text_cell(value);
                        if cell < 0.0 {
                            warnings.push(json!({"field": field, "message": format!("category `{value}` was not seen in training")}));
                        }
                        cell
                    }
                },
                Some(other) if f.text => {
                    errors.push(json!({"field": field, "message": format!("expected a string, one of {}, found {}", quoted(&f.categories), kind_of(other))}));
                    f32::NAN
                }
                Some(Value::Number(n)) => match n.as_f64() {
                    Some(v) if v.abs() <= openapi::MAX_VALUE => {
                        if let Some([lo, hi]) = f.range
                            && (v < lo || v > hi)
                        {
                            warnings.push(json!({"field": field, "message": format!("{v} is outside the training range [{lo}, {hi}]")}));
                        }
                        if f.kind == Kind::Categorical {
                            let known = f
                                .categories
                                .iter()
                                .any(|c| c.parse::<f64>().is_ok_and(|c| c == v));
                            if !known {
                                warnings.push(json!({"field": field, "message": format!("category {v} was not seen in training")}));
                            }
                        }
                        v as f32
                    }
                    _ => {
                        errors.push(json!({"field": field, "message": format!("out of range: a value must be within ±{:e}", openapi::MAX_VALUE)}));
                        f32::NAN
                    }
                },
                Some(other) => {
                    errors.push(json!({"field": field, "message": format!("expected a number, found {}", kind_of(other))}));
                    f32::NAN
                }
            };
            rows.push(x);
        }
    }
    (rows, errors, warnings)
}

/// An explanation in the API: the margin it explains, the base value, each raw feature's
/// contribution (in the model's feature order), and the margin (`base + Σ contributions`).
fn explanation_json(e: &crate::explain::Explanation) -> Value {
    let contributions: Map<String, Value> = e
        .contributions
        .iter()
        .map(|(f, c)| (f.clone(), json!(c)))
        .collect();
    json!({"output": e.output, "base": e.base, "contributions": contributions, "margin": e.margin})
}

/// What a JSON value is, in words.
fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Array(_) => "a list",
        Value::Null => "null",
        Value::Object(_) => "an object",
    }
}

/// `` `a`, `b`, `c` `` (the first 20, then how many more).
fn quoted(values: &[String]) -> String {
    let mut s: Vec<String> = values.iter().take(20).map(|v| format!("`{v}`")).collect();
    if values.len() > 20 {
        s.push(format!("and {} more", values.len() - 20));
    }
    s.join(", ")
}
