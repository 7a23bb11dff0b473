//! `mlinfra serve`: the local API gateway. A real HTTP server that turns each request into the
//! API Gateway REST proxy event the `predict` Lambda receives on AWS, checks the API key as API
//! Gateway does, calls the same handler, and answers with its response. It also serves
//! `GET /metrics` (Prometheus text) and `GET /openapi.json`, and writes sampled predictions to the
//! lake's `predictions/` in batches, off the request path. [`mlflow`] answers the MLflow REST
//! API beside them. The models, logs and feedback are the
//! environment's: the local directories, or the S3 lake and the DynamoDB registry.
//!
//! [`functions_host`] is `serve --env azurite`'s: the function app packages run as the Azure
//! Functions host runs them.

pub mod background;
pub mod functions_host;
pub mod metrics;
pub mod mlflow;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use mlinfra_core::any::AnyLake;
use mlinfra_core::any::AnyStore;
use mlinfra_core::lake::Lake as _;
use mlinfra_core::serving::openapi;
use mlinfra_core::serving::sources::{LakeFeedback, RegistrySource};
use mlinfra_core::serving::{Config, ProxyRequest, RequestContext, Service};

/// Bodies larger than this are refused with 413 before parsing.
pub const MAX_BODY: usize = 10 * 1024 * 1024;

pub type PlatformService = Service<RegistrySource<AnyStore, AnyLake>, LakeFeedback<AnyLake>>;

pub struct Gateway {
    pub service: PlatformService,
    pub stage: String,
    pub api_key: Option<String>,
    pub metrics: metrics::Metrics,
    /// The environment's lake, for the last monitoring report's metrics.
    pub lake: AnyLake,
}

/// The drift and quality gauges of the last `mlinfra monitor check` (none before the first).
async fn monitoring_metrics(lake: &AnyLake) -> String {
    let Ok(keys) = lake.list(mlinfra_core::keys::MONITORING_REPORTS).await else {
        return String::new();
    };
    let Some(key) = keys.last() else {
        return String::new();
    };
    match mlinfra_core::jobs::read_json::<mlinfra_core::monitor::Report>(lake, key).await {
        Ok(Some(r)) => {
            let at = key
                .rsplit('/')
                .next()
                .and_then(|n| n.trim_end_matches(".json").parse().ok())
                .unwrap_or(0);
            mlinfra_core::monitor::export::prometheus(&r, at)
        }
        _ => String::new(),
    }
}

fn respond(
    status: u16,
    content_type: &str,
    body: String,
    headers: &BTreeMap<String, String>,
) -> Response<Full<Bytes>> {
    let mut r = Response::builder()
        .status(status)
        .header("content-type", content_type);
    for (k, v) in headers {
        if !k.eq_ignore_ascii_case("content-type") {
            r = r.header(k.as_str(), v.as_str());
        }
    }
    r.body(Full::new(Bytes::from(body))).unwrap_or_else(|_| {
        Response::new(Full::new(Bytes::from_static(b"{\"error\":\"response\"}")))
    })
}

fn json_error(status: u16, message: &str, hint: &str) -> Response<Full<Bytes>> {
    respond(
        status,
        "application/json",
        serde_json::json!({"error": message, "hint": hint}).to_string(),
        &BTreeMap::new(),
    )
}

impl Gateway {
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let method = req.method().as_str().to_string();
        let path = req.uri().path().to_string();
        let (route, resp) = self.route(req, &method, &path).await;
        let status = resp.status().as_u16();
        self.metrics.observe(route, status, started.elapsed());
        resp
    }

    async fn route(
        &self,
        req: Request<Incoming>,
        method: &str,
        path: &str,
    ) -> (&'static str, Response<Full<Bytes>>) {
        match (method, path) {
            ("GET", "/metrics") => {
                let current = self
                    .service
                    .serving(mlinfra_core::registry::Stage::Production)
                    .map(|m| m.version);
                return (
                    "/metrics",
                    respond(
                        200,
                        "text/plain; version=0.0.4",
                        self.metrics.render(current) + &monitoring_metrics(&self.lake).await,
                        &BTreeMap::new(),
                    ),
                );
            }
            ("GET", "/openapi.json") => {
                self.service.refresh(false).await;
                let model = self
                    .service
                    .serving(mlinfra_core::registry::Stage::Production);
                let doc = openapi::spec(
                    &openapi::Contract {
                        model: &self.service.config.model,
                        base_path: &format!("/{}", self.stage),
                        key: self
                            .api_key
                            .is_some()
                            .then_some(openapi::KeyCheck::ApiGateway),
                        max_batch: self.service.config.max_batch,
                    },
                    model.as_deref(),
                );
                return (
                    "/openapi.json",
                    respond(
                        200,
                        "application/json",
                        serde_json::to_string_pretty(&doc).unwrap_or_default(),
                        &BTreeMap::new(),
                    ),
                );
            }
            _ => {}
        }
        let prefix = format!("/{}", self.stage);
        let Some(resource) = path
            .strip_prefix(&prefix)
            .filter(|r| r.is_empty() || r.starts_with('/'))
        else {
            return (
                "other",
                json_error(
                    404,
                    &format!("no route `{method} {path}`"),
                    &format!(
                        "the API is under `/{}/`: POST /{0}/predict, POST /{0}/feedback, GET /{0}/health",
                        self.stage
                    ),
                ),
            );
        };
        let resource = if resource.is_empty() { "/" } else { resource };
        let mut headers = BTreeMap::new();
        for (k, v) in req.headers() {
            if let Ok(v) = v.to_str() {
                headers.insert(k.as_str().to_string(), v.to_string());
            }
        }
        // The body is read before any answer (the key check's too): answering first would
        // close the connection under a client still sending it.
        let query = mlinfra_core::serving::api::query_parameters(req.uri().query());
        let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return (
                    "other",
                    json_error(
                        413,
                        "the request body is over serve's limit of 10 MiB (API Gateway's is 10 MB)",
                        "send fewer instances per request, or score a file with `mlinfra predict`",
                    ),
                );
            }
        };
        // Every route needs the key, `/health` too, as API Gateway's methods do; the answer is
        // API Gateway's (`message`), with a hint.
        if let Some(key) = &self.api_key
            && headers.get("x-api-key") != Some(key)
        {
            return (
                "other",
                respond(
                    403,
                    "application/json",
                    serde_json::json!({
                        "message": "Forbidden",
                        "hint": "send the API key in the `x-api-key` header (`mlinfra outputs api_key_file` says where it is)",
                    })
                    .to_string(),
                    &BTreeMap::new(),
                ),
            );
        }
        // A picture's bytes travel base64-encoded, as API Gateway passes binary media types.
        let picture = headers
            .get("content-type")
            .is_some_and(|t| mlinfra_core::serving::picture_type(t).is_some());
        let body = if body.is_empty() {
            None
        } else if picture {
            use base64::Engine as _;
            Some(base64::engine::general_purpose::STANDARD.encode(&body))
        } else {
            match String::from_utf8(body.to_vec()) {
                Ok(s) => Some(s),
                Err(_) => {
                    return (
                        "other",
                        json_error(400, "the body is not UTF-8 text", "send JSON"),
                    );
                }
            }
        };
        let event = ProxyRequest {
            http_method: method.to_string(),
            path: resource.to_string(),
            query_string_parameters: (!query.is_empty()).then_some(query),
            headers: Some(headers),
            body,
            is_base64_encoded: picture,
            request_context: RequestContext {
                request_id: String::new(),
                stage: self.stage.clone(),
            },
        };
        let out = self.service.handle(&event).await;
        for label in &out.labels {
            self.metrics.predicted(label);
        }
        let r = out.response;
        let ct = r
            .headers
            .get("content-type")
            .cloned()
            .unwrap_or_else(|| "application/json".into());
        (out.route, respond(r.status_code, &ct, r.body, &r.headers))
    }
}

/// What `serve` answers beside the prediction API, on every environment: the console (`/ui`)
/// and the MLflow API ([`mlflow`]).
#[derive(Clone, Default)]
pub struct Beside {
    pub console: Option<Arc<crate::console::Console>>,
    pub mlflow: Option<Arc<mlflow::Tracking>>,
}

impl Beside {
    /// Whether a request for `path` is answered here.
    pub fn owns(&self, path: &str) -> bool {
        (self.console.is_some() && crate::console::Console::owns(path))
            || (self.mlflow.is_some() && mlflow::Tracking::owns(path))
    }

    pub async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        match (&self.console, &self.mlflow) {
            (Some(c), _) if crate::console::Console::owns(&path) => c.handle(req).await,
            (_, Some(m)) if mlflow::Tracking::owns(&path) => m.handle(req).await,
            _ => json_error(
                404,
                &format!("no route `{path}`"),
                "see `mlinfra serve --help`",
            ),
        }
    }
}

/// Build the gateway over an environment's lake and registry, with the API key it checks
/// (`None` when the stack's API takes no key).
pub fn gateway(
    lake: AnyLake,
    store: AnyStore,
    api_key: Option<String>,
    stack: &crate::stack::Stack,
    refresh: Duration,
) -> Arc<Gateway> {
    // The same serving settings the `predict` function gets (`--refresh-seconds` may override
    // the refresh interval).
    let serving = crate::engine::graph::serving(stack);
    let service = Service::new(
        Config {
            model: stack.model.name.clone(),
            max_batch: serving.max_batch as usize,
            refresh,
            sample_rate: serving.sample_rate,
        },
        RegistrySource {
            store,
            lake: lake.clone(),
            model: stack.model.name.clone(),
        },
        LakeFeedback {
            lake: lake.clone(),
            retention_days: serving.prediction_log_days,
        },
    );
    Arc::new(Gateway {
        service,
        stage: stack.api.stage.clone(),
        api_key,
        metrics: metrics::Metrics::default(),
        lake,
    })
}
