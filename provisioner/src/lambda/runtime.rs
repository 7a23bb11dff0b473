//! The Lambda Runtime API one function instance talks to, served on its own loopback port as
//! Lambda serves it inside a sandbox: `GET /2018-06-01/runtime/invocation/next` (a long poll that
//! hands out the next event with its `Lambda-Runtime-*` headers), `POST
//! …/invocation/{id}/response|error`, `POST …/init/error`, and the Extensions API's `register`
//! and `event/next` (answered with a `SHUTDOWN` event when the instance is stopped).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response};
use serde_json::{Value, json};
use tokio::sync::{Mutex as AsyncMutex, mpsc, oneshot, watch};

/// One event for the instance.
pub(super) struct Invocation {
    pub id: String,
    pub payload: Bytes,
    /// Milliseconds since the Unix epoch by which the function must answer.
    pub deadline_ms: u128,
    pub arn: String,
}

/// What the function posted back for an invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `…/response`: the function's result.
    Response(Bytes),
    /// `…/error`: the function's error (`{"errorType", "errorMessage"}`), with the
    /// `Lambda-Runtime-Function-Error-Type` header when given.
    Error {
        error_type: Option<String>,
        body: Bytes,
    },
}

/// The instance's side of the API, shared by its server and the executor.
pub(super) struct Runtime {
    pub addr: std::net::SocketAddr,
    next: AsyncMutex<mpsc::UnboundedReceiver<Invocation>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
    /// The error the function reported at `init/error` (its type header, its body).
    pub init_error: watch::Sender<Option<(Option<String>, Value)>>,
    /// Set once the instance asked for its first event (its initialisation is done).
    pub ready: watch::Sender<bool>,
    /// Set when the instance is stopped: an extension's `event/next` then answers `SHUTDOWN`.
    pub shutdown: watch::Sender<bool>,
    /// Extensions registered (their names).
    pub extensions: Mutex<Vec<String>>,
}

impl Runtime {
    /// Serve a Runtime API on a free loopback port; events are handed out from `queue`.
    pub async fn start(
        queue: mpsc::UnboundedReceiver<Invocation>,
    ) -> std::io::Result<Arc<Runtime>> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let rt = Arc::new(Runtime {
            addr: listener.local_addr()?,
            next: AsyncMutex::new(queue),
            pending: Mutex::default(),
            init_error: watch::Sender::new(None),
            ready: watch::Sender::new(false),
            shutdown: watch::Sender::new(false),
            extensions: Mutex::default(),
        });
        let weak = Arc::downgrade(&rt);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                // The server lives as long as its instance.
                let Some(rt) = weak.upgrade() else { break };
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let rt = Arc::clone(&rt);
                        async move { Ok::<_, Infallible>(rt.handle(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(rt)
    }

    /// Wait for the reply to `id` on the returned channel.
    pub fn expect(&self, id: &str) -> oneshot::Receiver<Reply> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut p) = self.pending.lock() {
            p.insert(id.to_string(), tx);
        }
        rx
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        let method = req.method().clone();
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let extension_name = header("Lambda-Extension-Name");
        let error_type = header("Lambda-Runtime-Function-Error-Type");
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let base = "/2018-06-01/runtime";
        match (method, path.as_str()) {
            (Method::GET, p) if p == format!("{base}/invocation/next") => self.next().await,
            (Method::POST, p) if p == format!("{base}/init/error") => {
                let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
                self.init_error.send_replace(Some((error_type, v)));
                json_response(202, &json!({"status": "OK"}))
            }
            (Method::POST, p) if p.starts_with(&format!("{base}/invocation/")) => {
                let rest = &p[base.len() + "/invocation/".len()..];
                let reply = match rest.split_once('/') {
                    Some((id, "response")) => (id, Reply::Response(body)),
                    Some((id, "error")) => (id, Reply::Error { error_type, body }),
                    _ => return not_found(&path),
                };
                let sender = self.pending.lock().ok().and_then(|mut p| p.remove(reply.0));
                match sender {
                    Some(tx) => {
                        let _ = tx.send(reply.1);
                        json_response(202, &json!({"status": "OK"}))
                    }
                    None => json_response(
                        400,
                        &json!({"errorMessage": format!("unknown or already answered request id `{}`", reply.0), "errorType": "InvalidRequestID"}),
                    ),
                }
            }
            (Method::POST, "/2020-01-01/extension/register") => {
                let Some(name) = extension_name else {
                    return json_response(
                        400,
                        &json!({"errorMessage": "Lambda-Extension-Name is missing", "errorType": "Extension.InvalidRequest"}),
                    );
                };
                if let Ok(mut e) = self.extensions.lock() {
                    e.push(name.clone());
                }
                let mut r = json_response(
                    200,
                    &json!({"functionName": "", "functionVersion": "$LATEST", "handler": "bootstrap"}),
                );
                if let Ok(v) = hyper::header::HeaderValue::from_str(&format!("ext-{name}")) {
                    r.headers_mut().insert("Lambda-Extension-Identifier", v);
                }
                r
            }
            (Method::GET, "/2020-01-01/extension/event/next") => {
                // An extension with no events hears only the shutdown.
                let mut stop = self.shutdown.subscribe();
                let _ = stop.wait_for(|s| *s).await;
                json_response(
                    200,
                    &json!({"eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": now_ms() + 2000}),
                )
            }
            _ => not_found(&path),
        }
    }

    /// The long poll: the next event, when there is one.
    async fn next(&self) -> Response<Full<Bytes>> {
        self.ready.send_replace(true);
        let mut queue = self.next.lock().await;
        let Some(inv) = queue.recv().await else {
            // The executor let go of the instance: nothing will come.
            return json_response(
                410,
                &json!({"errorMessage": "the instance is stopping", "errorType": "Runtime.Stopping"}),
            );
        };
        use sha2::Digest as _;
        let trace = hex::encode(sha2::Sha256::digest(inv.id.as_bytes()));
        let trace = format!("Root=1-{:08x}-{};Sampled=0", now_ms() / 1000, &trace[..24]);
        let mut r = Response::new(Full::new(inv.payload));
        let headers = [
            ("Content-Type", "application/json".to_string()),
            ("Lambda-Runtime-Aws-Request-Id", inv.id),
            ("Lambda-Runtime-Deadline-Ms", inv.deadline_ms.to_string()),
            ("Lambda-Runtime-Invoked-Function-Arn", inv.arn),
            ("Lambda-Runtime-Trace-Id", trace),
        ];
        for (k, v) in headers {
            if let Ok(v) = hyper::header::HeaderValue::from_str(&v) {
                r.headers_mut().insert(k, v);
            }
        }
        r
    }
}

pub(super) fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn json_response(status: u16, body: &Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn not_found(path: &str) -> Response<Full<Bytes>> {
    json_response(
        404,
        &json!({"errorMessage": format!("no such Runtime API path: {path}"), "errorType": "NotFound"}),
    )
}
