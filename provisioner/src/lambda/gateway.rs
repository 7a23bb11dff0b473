//! An API Gateway (REST, v1) front over the executor: the deployed API's routes
//! ([`super::deployed::api`]) under `/{stage}`, each request turned into the proxy event API
//! Gateway sends a Lambda function (`AWS_PROXY`), the function's answer turned back into the HTTP
//! response. What API Gateway answers itself looks like API Gateway's answers: an unknown route is
//! `403 {"message":"Missing Authentication Token"}`, a missing or wrong API key `403
//! {"message":"Forbidden"}`, past the usage plan's rate and burst `429 {"message":"Too Many
//! Requests"}`, a function that fails, times out or answers something that is not a proxy
//! response `502 {"message": "Internal server error"}`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use base64::Engine as _;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::{Map, Value, json};

use super::deployed::{DeployedApi, Route};
use super::{Executor, Outcome};
use mlinfra_core::urlencoding;

/// API Gateway's largest request payload (10 MB); larger is `413 Request Too Long`.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

/// Lambda's largest synchronous invocation payload (6 MB: the whole event API Gateway sends).
pub const MAX_EVENT: usize = 6 * 1024 * 1024;

/// The media types `up` declares binary on the REST API: a body of one of them reaches the
/// function base64-encoded (`isBase64Encoded`), as a picture posted as its raw bytes must.
pub const BINARY_MEDIA_TYPES: [&str; 2] = ["image/jpeg", "image/png"];

/// The body of the API's `REQUEST_TOO_LARGE` gateway response (413), which `up` sets: the
/// limits a request is over, and what to do instead.
pub const TOO_LARGE: &str = r#"{"error":"the request is larger than the API takes: API Gateway accepts 10 MB, and the predict function 6 MB as the event API Gateway sends it (a picture's bytes base64-encoded, a third larger)","hint":"send fewer instances per request, or score a file with `mlinfra predict`"}"#;

/// A token bucket: `rate` tokens a second up to `burst`.
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The front: the deployed API and an executor per function it integrates.
pub struct Gateway {
    pub api: DeployedApi,
    executors: HashMap<String, Arc<Executor>>,
    buckets: Mutex<HashMap<String, Bucket>>,
    account: String,
}

impl Gateway {
    pub fn new(api: DeployedApi, executors: HashMap<String, Arc<Executor>>) -> Gateway {
        Gateway {
            api,
            executors,
            buckets: Mutex::default(),
            account: "000000000000".to_string(),
        }
    }

    /// The executors, to shut them down.
    pub fn executors(&self) -> impl Iterator<Item = &Arc<Executor>> {
        self.executors.values()
    }

    /// Whether a request under `key` may pass the usage plan's throttle now.
    fn admit(&self, key: &str) -> bool {
        let Some((rate, burst)) = self.api.throttle else {
            return true;
        };
        let Ok(mut buckets) = self.buckets.lock() else {
            return true;
        };
        let now = Instant::now();
        let b = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: f64::from(burst),
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(f64::from(burst));
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether a body of `content_type` is binary for this API: its media type (without
    /// parameters) is one of the API's binary media types, matched as API Gateway matches them
    /// (`*/*` and `image/*` match a type and its subtypes).
    fn is_binary(&self, content_type: &str) -> bool {
        let media = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let (kind, _) = media.split_once('/').unwrap_or((&media, ""));
        self.api.binary_media_types.iter().any(|t| {
            let t = t.to_ascii_lowercase();
            t == media || t == "*/*" || t.strip_suffix("/*") == Some(kind)
        })
    }

    /// The answer to a request over the payload limits: the API's `REQUEST_TOO_LARGE` gateway
    /// response when it has one, else API Gateway's default.
    fn too_large(&self) -> Response<Full<Bytes>> {
        match &self.api.too_large {
            Some((status, body)) => gateway_answer(*status, "RequestTooLongException", body),
            None => gateway_error(413, "RequestTooLongException", "Request Too Long"),
        }
    }

    /// Answer one request from `peer`.
    pub async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        let request_id = super::request_id();
        let mut r = self.route(req, peer, &request_id).await;
        if let Ok(v) = hyper::header::HeaderValue::from_str(&request_id) {
            r.headers_mut().insert("x-amzn-RequestId", v);
        }
        r
    }

    async fn route(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        request_id: &str,
    ) -> Response<Full<Bytes>> {
        // The whole request is read before any answer, as API Gateway reads it: answering
        // first would close the connection under a client still sending its body (a TLS
        // EOF on its side, not the 403 it was sent).
        let (parts, body) = req.into_parts();
        let body = match http_body_util::Limited::new(body, MAX_PAYLOAD)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => return self.too_large(),
            Err(_) => {
                return gateway_error(
                    400,
                    "BadRequestException",
                    "Could not read the request body",
                );
            }
        };
        let method = parts.method.as_str().to_string();
        let full_path = parts.uri.path().to_string();
        let prefix = format!("/{}", self.api.stage);
        let path = match full_path.strip_prefix(&prefix) {
            Some("") => "/".to_string(),
            Some(p) if p.starts_with('/') => p.to_string(),
            _ => return missing_token(),
        };
        let Some(route) = self
            .api
            .routes
            .iter()
            .find(|r| r.path == path && (r.method == method || r.method == "ANY"))
        else {
            return missing_token();
        };
        let key = parts
            .headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let key_id = key
            .as_deref()
            .and_then(|k| self.api.keys.iter().find(|(v, _)| v == k))
            .map(|(_, id)| id.clone());
        if route.key_required && key_id.is_none() {
            return gateway_error(403, "ForbiddenException", "Forbidden");
        }
        if !self.admit(key_id.as_deref().unwrap_or("")) {
            return gateway_error(429, "TooManyRequestsException", "Too Many Requests");
        }
        let Some(executor) = route.function.as_ref().and_then(|f| self.executors.get(f)) else {
            return internal_error();
        };
        let query = parts.uri.query().map(str::to_string);
        let event = self.event(
            route,
            &path,
            &full_path,
            &parts,
            query.as_deref(),
            &body,
            peer,
            request_id,
            key.as_deref().zip(key_id.as_deref()),
        );
        let event = event.to_string();
        // Lambda refuses a larger event; API Gateway answers the request as too large.
        if event.len() > MAX_EVENT {
            return self.too_large();
        }
        match executor.invoke(request_id, Bytes::from(event)).await {
            Ok(Outcome::Response(b)) => proxy_response(&b).unwrap_or_else(internal_error),
            Ok(Outcome::Error(_)) | Err(_) => internal_error(),
        }
    }

    /// The REST v1 proxy event API Gateway sends for this request.
    #[allow(clippy::too_many_arguments)]
    fn event(
        &self,
        route: &Route,
        path: &str,
        full_path: &str,
        parts: &hyper::http::request::Parts,
        query: Option<&str>,
        body: &[u8],
        peer: SocketAddr,
        request_id: &str,
        key: Option<(&str, &str)>,
    ) -> Value {
        let mut headers = Map::new();
        let mut multi: Map<String, Value> = Map::new();
        for (k, v) in &parts.headers {
            let v = String::from_utf8_lossy(v.as_bytes()).to_string();
            headers.insert(k.as_str().to_string(), json!(v));
            match multi.get_mut(k.as_str()) {
                Some(Value::Array(a)) => a.push(json!(v)),
                _ => {
                    multi.insert(k.as_str().to_string(), json!([v]));
                }
            }
        }
        let (mut q, mut mq) = (Map::new(), Map::new());
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (k, v) = (urlencoding::decode(k), urlencoding::decode(v));
            q.insert(k.clone(), json!(v));
            match mq.get_mut(&k) {
                Some(Value::Array(a)) => a.push(json!(v)),
                _ => {
                    mq.insert(k, json!([v]));
                }
            }
        }
        // A body of a binary media type is base64-encoded; any other is passed as text (bytes
        // that are not UTF-8 replaced, as API Gateway does).
        let content_type = parts
            .headers
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let (body, b64) = if body.is_empty() {
            (Value::Null, false)
        } else if self.is_binary(content_type) {
            (
                json!(base64::engine::general_purpose::STANDARD.encode(body)),
                true,
            )
        } else {
            (json!(String::from_utf8_lossy(body)), false)
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let host = headers
            .get("host")
            .and_then(Value::as_str)
            .unwrap_or("localhost")
            .to_string();
        json!({
            "resource": route.path,
            "path": path,
            "httpMethod": parts.method.as_str(),
            "headers": if headers.is_empty() { Value::Null } else { Value::Object(headers) },
            "multiValueHeaders": if multi.is_empty() { Value::Null } else { Value::Object(multi) },
            "queryStringParameters": if q.is_empty() { Value::Null } else { Value::Object(q) },
            "multiValueQueryStringParameters": if mq.is_empty() { Value::Null } else { Value::Object(mq) },
            "pathParameters": null,
            "stageVariables": null,
            "requestContext": {
                "resourceId": route.resource_id,
                "resourcePath": route.path,
                "httpMethod": parts.method.as_str(),
                "requestId": request_id,
                "extendedRequestId": request_id,
                "requestTime": mlinfra_core::clock::now_rfc3339(),
                "requestTimeEpoch": now,
                "path": full_path,
                "accountId": self.account,
                "protocol": format!("{:?}", parts.version),
                "stage": self.api.stage,
                "domainName": host,
                "domainPrefix": host.split('.').next().unwrap_or(""),
                "apiId": self.api.id,
                "identity": {
                    "sourceIp": peer.ip().to_string(),
                    "userAgent": parts.headers.get("user-agent").and_then(|v| v.to_str().ok()),
                    "apiKey": key.map(|k| k.0),
                    "apiKeyId": key.map(|k| k.1),
                    "accessKey": null, "accountId": null, "caller": null, "user": null, "userArn": null,
                    "cognitoIdentityId": null, "cognitoIdentityPoolId": null,
                    "cognitoAuthenticationType": null, "cognitoAuthenticationProvider": null,
                },
            },
            "body": body,
            "isBase64Encoded": b64,
        })
    }
}

/// Serve `gw` on `listener` (over TLS when an acceptor is given) until `stop` resolves.
pub async fn serve(
    gw: Arc<Gateway>,
    beside: crate::serve::Beside,
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: impl std::future::Future<Output = ()>,
) {
    use hyper::server::conn::http1;
    use hyper_util::rt::TokioIo;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let gw = Arc::clone(&gw);
                let beside = beside.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let gw = Arc::clone(&gw);
                        let beside = beside.clone();
                        async move {
                            let resp = if beside.owns(req.uri().path()) {
                                beside.handle(req).await
                            } else {
                                gw.handle(req, peer).await
                            };
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    match tls {
                        Some(a) => {
                            if let Ok(s) = a.accept(stream).await {
                                let _ = http1::Builder::new().serve_connection(TokioIo::new(s), svc).await;
                            }
                        }
                        None => {
                            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                        }
                    }
                });
            }
        }
    }
}

/// The HTTP response of a function's proxy answer (`statusCode`, `headers`,
/// `multiValueHeaders`, `body`, `isBase64Encoded`); `None` when it is not one.
fn proxy_response(payload: &[u8]) -> Option<Response<Full<Bytes>>> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    let status = v.get("statusCode")?.as_u64()?;
    let status = hyper::StatusCode::from_u16(u16::try_from(status).ok()?).ok()?;
    let body = match v.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) if v["isBase64Encoded"] == true => {
            base64::engine::general_purpose::STANDARD.decode(s).ok()?
        }
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(_) => return None,
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let mut add = |k: &str, v: &Value| {
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if let (Ok(k), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(k.as_bytes()),
            hyper::header::HeaderValue::from_str(&text),
        ) {
            r.headers_mut().append(k, v);
        }
    };
    if let Some(h) = v["headers"].as_object() {
        for (k, v) in h {
            add(k, v);
        }
    }
    if let Some(h) = v["multiValueHeaders"].as_object() {
        for (k, vs) in h {
            for v in vs.as_array().into_iter().flatten() {
                add(k, v);
            }
        }
    }
    Some(r)
}

fn gateway_error(status: u16, kind: &str, message: &str) -> Response<Full<Bytes>> {
    gateway_answer(status, kind, &json!({ "message": message }).to_string())
}

/// What API Gateway answers itself: a JSON `body` with its error type.
fn gateway_answer(status: u16, kind: &str, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(kind) {
        r.headers_mut().insert("x-amzn-ErrorType", v);
    }
    r
}

fn missing_token() -> Response<Full<Bytes>> {
    gateway_error(
        403,
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
    )
}

fn internal_error() -> Response<Full<Bytes>> {
    gateway_error(502, "InternalServerErrorException", "Internal server error")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_decoded_and_proxy_answers_become_responses() {
        let r = proxy_response(
            br#"{"statusCode":201,"headers":{"content-type":"application/json"},"multiValueHeaders":{"x-a":["1","2"]},"body":"{}"}"#,
        )
        .unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers().get_all("x-a").iter().count(), 2);
        let r =
            proxy_response(br#"{"statusCode":200,"body":"aGk=","isBase64Encoded":true}"#).unwrap();
        assert_eq!(r.status(), 200);
        assert!(proxy_response(br#"{"body":"no status"}"#).is_none());
        assert!(proxy_response(b"not json").is_none());
    }
}
