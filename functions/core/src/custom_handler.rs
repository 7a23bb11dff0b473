//! The Azure Functions custom-handler protocol: how each function binary runs on Azure Functions
//! (and under `mlinfra serve --env azurite`). The Functions host starts the handler with
//! `FUNCTIONS_CUSTOMHANDLER_PORT` and talks HTTP to it on that port:
//!
//! - an HTTP-triggered function whose app sets `enableProxyingHttpRequest` gets the client's
//!   request as it was sent, under the host's route prefix (`/api/v1/predict?stage=staging`),
//!   and its answer goes back to the client as it is;
//! - every other trigger (timer, blob, Event Grid) is `POST /<function name>` with the JSON
//!   `{"Data": {<trigger binding>: …}, "Metadata": {…}}`, answered with `{"Outputs": {},
//!   "Logs": […], "ReturnValue": …}`; a status other than 2xx fails the invocation.

use std::collections::BTreeMap;
use std::future::Future;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use crate::FunctionError;
use crate::serving::api::RequestContext;
use crate::serving::{ProxyRequest, ProxyResponse};

/// The largest request accepted (a batch of predictions, an event).
const MAX_BODY: usize = 6 * 1024 * 1024;

/// The host's default route prefix of HTTP triggers.
pub const ROUTE_PREFIX: &str = "/api";

/// What the host asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// A forwarded HTTP request, as the API's handler takes it (the path without the route
    /// prefix and the stage: `/predict`).
    Http(ProxyRequest),
    /// A trigger's invocation of `function`.
    Event {
        function: String,
        data: Value,
        metadata: Value,
    },
}

/// The answer to an invocation.
#[derive(Debug)]
pub enum Reply {
    Http(ProxyResponse),
    Event(Result<Value, FunctionError>),
}

/// The port the host gave, if this process runs as a custom handler.
pub fn port() -> Option<u16> {
    std::env::var("FUNCTIONS_CUSTOMHANDLER_PORT")
        .ok()
        .and_then(|p| p.trim().parse().ok())
}

/// Read one request of the host into an [`Invocation`]; `stage` is the API's stage
/// (`v1`), the first path segment after the route prefix.
pub async fn invocation(req: Request<Incoming>, stage: &str) -> Result<Invocation, ProxyResponse> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = crate::serving::api::query_parameters(req.uri().query());
    let mut headers = BTreeMap::new();
    for (k, v) in req.headers() {
        if let Ok(v) = v.to_str() {
            headers.insert(k.as_str().to_string(), v.to_string());
        }
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Err(error(
                413,
                "the request body is over the function's limit of 6 MiB: send fewer instances per request, or score a file with `mlinfra predict`",
            ));
        }
    };
    if let Some(rest) = path.strip_prefix(ROUTE_PREFIX) {
        let resource = rest
            .strip_prefix(&format!("/{stage}"))
            .filter(|r| r.is_empty() || r.starts_with('/'))
            .ok_or_else(|| {
                error(
                    404,
                    &format!(
                        "no route `{method} {path}`: the API is under `{ROUTE_PREFIX}/{stage}/`"
                    ),
                )
            })?;
        let body = if body.is_empty() {
            None
        } else {
            Some(
                String::from_utf8(body.to_vec())
                    .map_err(|_| error(400, "the body is not UTF-8 text"))?,
            )
        };
        return Ok(Invocation::Http(ProxyRequest {
            http_method: method,
            path: if resource.is_empty() {
                "/".into()
            } else {
                resource.to_string()
            },
            query_string_parameters: (!query.is_empty()).then_some(query),
            headers: Some(headers),
            body,
            is_base64_encoded: false,
            request_context: RequestContext {
                request_id: String::new(),
                stage: stage.to_string(),
            },
        }));
    }
    let function = path.trim_matches('/').to_string();
    if method != "POST" || function.is_empty() || function.contains('/') {
        return Err(error(
            404,
            &format!(
                "no route `{method} {path}`: events are `POST /<function>`, HTTP requests under `{ROUTE_PREFIX}/`"
            ),
        ));
    }
    let payload: Value = serde_json::from_slice(&body)
        .map_err(|e| error(400, &format!("the invocation is not JSON: {e}")))?;
    Ok(Invocation::Event {
        function,
        data: payload.get("Data").cloned().unwrap_or(Value::Null),
        metadata: payload.get("Metadata").cloned().unwrap_or(Value::Null),
    })
}

fn error(status: u16, message: &str) -> ProxyResponse {
    ProxyResponse {
        status_code: status,
        headers: BTreeMap::from([("content-type".into(), "application/json".into())]),
        body: json!({ "error": message }).to_string(),
        is_base64_encoded: false,
    }
}

/// The host's invocation response: the result as `ReturnValue`, its error in `Logs` with 500.
pub fn event_response(result: &Result<Value, FunctionError>) -> ProxyResponse {
    let (status, body) = match result {
        Ok(v) => (200, json!({ "Outputs": {}, "Logs": [], "ReturnValue": v })),
        Err(e) => (
            500,
            json!({
                "Outputs": {},
                "Logs": [format!("{}: {}", e.error_type, e.message)],
                "ReturnValue": { "errorType": e.error_type, "errorMessage": e.message },
            }),
        ),
    };
    ProxyResponse {
        status_code: status,
        headers: BTreeMap::from([("content-type".into(), "application/json".into())]),
        body: body.to_string(),
        is_base64_encoded: false,
    }
}

fn to_hyper(r: ProxyResponse) -> Response<Full<Bytes>> {
    let mut b = Response::builder().status(r.status_code);
    for (k, v) in &r.headers {
        b = b.header(k, v);
    }
    b.body(Full::new(Bytes::from(r.body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::from_static(b"{}"))))
}

/// End this process when the host that started it is gone (this process is given another
/// parent), as the host would have stopped it: a handler is a server and would otherwise run on
/// alone, holding its port.
fn exit_with_the_host() {
    #[cfg(unix)]
    {
        let host = std::os::unix::process::parent_id();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                if std::os::unix::process::parent_id() != host {
                    // Not `eprintln!`: the host read this process's output and is gone, and
                    // printing to a closed pipe panics.
                    use std::io::Write as _;
                    let _ = writeln!(
                        std::io::stderr(),
                        "the Functions host (pid {host}) is gone; stopping"
                    );
                    std::process::exit(0);
                }
            }
        });
    }
}

/// Serve the host on `127.0.0.1:port` until the process ends, answering each invocation with
/// `handler`.
pub async fn run<H, F>(port: u16, stage: &str, handler: H) -> std::io::Result<()>
where
    H: Fn(Invocation) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let stage = stage.to_string();
    exit_with_the_host();
    loop {
        let (stream, _) = listener.accept().await?;
        let (handler, stage) = (handler.clone(), stage.clone());
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let (handler, stage) = (handler.clone(), stage.clone());
                async move {
                    let answer = match invocation(req, &stage).await {
                        Err(r) => r,
                        Ok(inv) => match handler(inv).await {
                            Reply::Http(r) => r,
                            Reply::Event(result) => {
                                if let Err(e) = &result {
                                    eprintln!("{}: {}", e.error_type, e.message);
                                }
                                event_response(&result)
                            }
                        },
                    };
                    Ok::<_, std::convert::Infallible>(to_hyper(answer))
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// Serve a function that takes trigger invocations only (not HTTP): each event's `Data` and
/// `Metadata` go to `handler` with `state`; an HTTP request is refused naming `function`.
pub async fn run_events<S, H, F>(
    port: u16,
    function: &'static str,
    state: std::sync::Arc<S>,
    handler: H,
) -> std::io::Result<()>
where
    S: Send + Sync + 'static,
    H: Fn(std::sync::Arc<S>, Value, Value) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Value, FunctionError>> + Send + 'static,
{
    run(port, "v1", move |inv| {
        let (state, handler) = (std::sync::Arc::clone(&state), handler.clone());
        async move {
            match inv {
                Invocation::Event { data, metadata, .. } => {
                    Reply::Event(handler(state, data, metadata).await)
                }
                Invocation::Http(_) => Reply::Event(Err(FunctionError::invalid_event(format!(
                    "`{function}` takes trigger invocations, not HTTP requests"
                )))),
            }
        }
    })
    .await
}

/// The lake key of a blob trigger's blob: `Metadata.BlobTrigger` is `<container>/<key>`.
pub fn blob_key(metadata: &Value) -> Result<String, FunctionError> {
    let path = metadata
        .get("BlobTrigger")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            FunctionError::invalid_event(
                "expected a blob trigger's `Metadata.BlobTrigger` (`<container>/<blob>`)",
            )
        })?;
    path.split_once('/')
        .map(|(_, key)| key.to_string())
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            FunctionError::invalid_event(format!(
                "`Metadata.BlobTrigger` `{path}` is not `<container>/<blob>`"
            ))
        })
}

/// Whether a timer invocation is past due (`Data.<timer>.IsPastDue`), for the logs.
pub fn past_due(data: &Value) -> bool {
    data.as_object()
        .into_iter()
        .flat_map(|o| o.values())
        .any(|t| t.get("IsPastDue").and_then(Value::as_bool) == Some(true))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_triggers_key_is_after_its_container() {
        let m = json!({"BlobTrigger": "mlinfra-heart-disease-lake/raw/week-48.csv", "name": "week-48.csv"});
        assert_eq!(blob_key(&m).unwrap(), "raw/week-48.csv");
        assert!(
            blob_key(&json!({}))
                .unwrap_err()
                .message
                .contains("Metadata.BlobTrigger")
        );
        assert!(blob_key(&json!({"BlobTrigger": "nokey"})).is_err());
    }

    #[test]
    fn the_host_response_carries_the_result_or_the_error() {
        let ok = event_response(&Ok(json!({"rows": 3})));
        assert_eq!(ok.status_code, 200);
        let v: Value = serde_json::from_str(&ok.body).unwrap();
        assert_eq!(v["ReturnValue"]["rows"], 3);
        assert_eq!(v["Outputs"], json!({}));
        let bad = event_response(&Err(FunctionError::invalid_event("no")));
        assert_eq!(bad.status_code, 500);
        assert!(
            bad.body.contains("mlinfra.InvalidEvent: no"),
            "{}",
            bad.body
        );
    }
}
