//! The MLflow API on `mlinfra serve` ([`mlinfra_core::mlflow`]): the HTTP adapter that reads a
//! request, finds out who sends it, and answers with the API's reply.
//!
//! Who: HTTP basic authentication with an account of the environment (`MLFLOW_TRACKING_USERNAME`
//! and `MLFLOW_TRACKING_PASSWORD`), or an account's API token as a bearer token
//! (`MLFLOW_TRACKING_TOKEN`). Credentials that do not check out are refused at once, before
//! anything is read or written; a password is checked with Argon2 once and then remembered (by a
//! hash of the password and of the stored hash, so a new password is checked again) for
//! [`REMEMBER`]; five wrong passwords in a row lock the name as the console's sign-in does.
//! Requests without credentials get what the API's anonymous access allows (nothing, unless
//! the stack says otherwise).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use mlinfra_core::any::{AnyLake, AnyStore};
use mlinfra_core::mlflow::{Access, Api, Call, Reply};
use mlinfra_core::registry::Registry;

use crate::accounts::Accounts;
use crate::console::session::Throttle;

/// How long a checked password is remembered.
pub const REMEMBER: Duration = Duration::from_secs(10 * 60);
/// The largest artifact upload taken.
pub const MAX_ARTIFACT: usize = 512 * 1024 * 1024;
/// The largest API request body taken.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

pub struct Tracking {
    pub api: Api<AnyLake, AnyStore>,
    accounts: Accounts,
    remembered: Mutex<HashMap<String, (String, Instant)>>,
    throttle: Throttle,
}

fn reply(r: Reply) -> Response<Full<Bytes>> {
    Response::builder()
        .status(r.status)
        .header("content-type", r.content_type)
        .body(Full::new(Bytes::from(r.body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::from_static(b"{}"))))
}

fn refused(code: &str, message: &str) -> Response<Full<Bytes>> {
    let mut r = reply(Reply::error(code, message));
    if code == "UNAUTHENTICATED" {
        r.headers_mut().insert(
            "www-authenticate",
            hyper::header::HeaderValue::from_static("Basic realm=\"mlinfra\""),
        );
    }
    r
}

fn sha256_hex(parts: &[&str]) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

impl Tracking {
    pub fn new(
        lake: AnyLake,
        registry: Registry<AnyStore>,
        accounts: Accounts,
        anonymous: Access,
    ) -> Tracking {
        Tracking {
            api: Api::new(lake, registry, anonymous),
            accounts,
            remembered: Mutex::new(HashMap::new()),
            throttle: Throttle::default(),
        }
    }

    /// Whether `path` is the API's.
    pub fn owns(path: &str) -> bool {
        mlinfra_core::mlflow::owns(path)
    }

    /// The account the `Authorization` header names, `Ok(None)` without one, or the refusal.
    async fn caller(&self, header: Option<&str>) -> Result<Option<String>, (String, String)> {
        let Some(h) = header else {
            return Ok(None);
        };
        let unauthenticated = |m: &str| ("UNAUTHENTICATED".to_string(), m.to_string());
        let internal = |m: String| ("INTERNAL_ERROR".to_string(), m);
        let (scheme, value) = h.split_once(' ').unwrap_or((h, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            return match self
                .accounts
                .token_account(value.trim())
                .map_err(internal)?
            {
                Some(a) => Ok(Some(a)),
                None => Err(unauthenticated(
                    "the token is not valid: it was revoked, mistyped, or is of another environment (`mlinfra users token list` shows the live ones)",
                )),
            };
        }
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(unauthenticated(
                "the Authorization header must be `Basic` (MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD) or `Bearer` (MLFLOW_TRACKING_TOKEN)",
            ));
        }
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                unauthenticated("the Basic credentials are not base64 of `name:password`")
            })?;
        let (name, password) = decoded
            .split_once(':')
            .ok_or_else(|| unauthenticated("the Basic credentials are not `name:password`"))?;
        if let Some(left) = self.throttle.locked(name) {
            return Err(unauthenticated(&format!(
                "`{name}` is locked for {} more seconds after repeated wrong passwords",
                left.as_secs() + 1
            )));
        }
        let stored = self.accounts.password_hash(name).map_err(internal)?;
        let key = stored.as_deref().map(|h| sha256_hex(&[name, h, password]));
        if let Some(k) = &key
            && let Ok(mut m) = self.remembered.lock()
        {
            if let Some((who, at)) = m.get(k)
                && at.elapsed() < REMEMBER
            {
                return Ok(Some(who.clone()));
            }
            m.remove(k);
        }
        let accounts = self.accounts.clone();
        let (n, p) = (name.to_string(), password.to_string());
        let ok = tokio::task::spawn_blocking(move || accounts.verify(&n, &p))
            .await
            .map_err(|e| internal(e.to_string()))?
            .map_err(internal)?;
        if !ok {
            self.throttle.failed(name);
            return Err(unauthenticated(&format!(
                "wrong name or password for `{name}` (the accounts are `mlinfra users list`'s)"
            )));
        }
        self.throttle.succeeded(name);
        if let Some(k) = key
            && let Ok(mut m) = self.remembered.lock()
        {
            m.retain(|_, (_, at)| at.elapsed() < REMEMBER);
            m.insert(k, (name.to_string(), Instant::now()));
        }
        Ok(Some(name.to_string()))
    }

    pub async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let method = req.method().as_str().to_string();
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or_default().to_string();
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let limit = if path.contains("mlflow-artifacts/") {
            MAX_ARTIFACT
        } else {
            MAX_BODY
        };
        // The body is read before any answer: answering first would close the connection
        // under a client still sending it.
        let body = match Limited::new(req.into_body(), limit).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return refused(
                    "INVALID_PARAMETER_VALUE",
                    &format!(
                        "the request body is over this server's limit of {} MiB",
                        limit >> 20
                    ),
                );
            }
        };
        let caller = match self.caller(auth.as_deref()).await {
            Ok(c) => c,
            Err((code, message)) => return refused(&code, &message),
        };
        let call = Call {
            method: &method,
            path: &path,
            query: &query,
            body: &body,
            caller: caller.as_deref(),
        };
        reply(self.api.handle(&call).await)
    }
}
