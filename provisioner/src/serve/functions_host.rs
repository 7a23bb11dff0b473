//! A Functions host on this machine, for `mlinfra serve --env azurite`: each function app
//! package of `mlinfra build --target azure` runs as Azure Functions runs it.
//!
//! - The package is unpacked, its `host.json` read for the custom handler (the executable, its
//!   arguments and working directory) and the HTTP route prefix, and each `<name>/function.json`
//!   for its trigger.
//! - The handler is started with `FUNCTIONS_CUSTOMHANDLER_PORT` and the app's settings (the
//!   records `up --env azurite` kept); the host waits for it to listen, as the real host does
//!   (30 s). Its output is passed on line by line, prefixed with the function.
//! - HTTP triggers: a request under `/<routePrefix>/` is matched against each trigger's `route`
//!   (literal segments, `{name}`, a final `{*name}`) and `methods`; `authLevel: function` asks
//!   for the key in `x-functions-key` or `?code=` (401 without it); the request is then proxied
//!   to the handler as the client sent it (`enableProxyingHttpRequest`), without the key.
//! - Timer triggers fire on their NCRONTAB schedule (UTC), posting the timer's invocation to
//!   `/<name>`.
//! - Blob triggers: the host lists the trigger's container under the path's prefix every few
//!   seconds and posts each blob created since it started to `/<name>` with the metadata
//!   Azure sends (`BlobTrigger`, `Uri`, `name`, `Properties`), as Event Grid's `BlobCreated`
//!   does; the blob's content is in `Data.<binding>`, base64 (`dataType: binary`).
//!
//! An invocation's answer is read as the host reads it: a 2xx with `{"Outputs", "Logs",
//! "ReturnValue"}`, its `Logs` passed on; any other status fails the invocation.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use mlinfra_core::azure::Account;
use mlinfra_core::azure::blob::BlobLake;
use mlinfra_core::lake::Lake as _;
use serde_json::{Value, json};

use crate::build::function_app::{AuthLevel, Binding, FunctionJson, HostJson};
use crate::lambda::LogSink;
use crate::providers::azure::ncrontab::Timer;

/// The largest request body proxied (Azure's limit is 100 MB; the API's own is smaller).
const MAX_BODY: usize = 100 * 1024 * 1024;
/// How long a handler has to listen after it starts.
const INITIALIZATION_TIMEOUT: Duration = Duration::from_secs(30);

/// One trigger of an app: its function's name (its folder) and its trigger binding.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub name: String,
    pub binding: Binding,
}

/// An unpacked function app.
#[derive(Debug, Clone)]
pub struct App {
    /// The mlinfra function it runs (`predict`).
    pub function: String,
    pub dir: PathBuf,
    pub host: HostJson,
    pub triggers: Vec<Trigger>,
}

impl App {
    /// Unpack `zip` into `dir` (emptied first) and read its `host.json` and triggers.
    pub fn unpack(function: &str, zip: &Path, dir: &Path) -> Result<App, String> {
        // The handler is started from this directory with this directory as its working
        // directory: a relative path would be looked up inside itself.
        let dir = &std::path::absolute(dir)
            .map_err(|e| format!("cannot resolve `{}`: {e}", dir.display()))?;
        let file = std::fs::File::open(zip).map_err(|e| {
            format!(
                "cannot read the `{function}` function app package `{}`: {e}\nhint: run `mlinfra build --target azure` (or point `--artifacts` at its output)",
                zip.display()
            )
        })?;
        let mut archive = zip::ZipArchive::new(file)
            .map_err(|e| format!("`{}` is not a zip: {e}", zip.display()))?;
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        let mut functions = Vec::new();
        for i in 0..archive.len() {
            let mut entry = archive
                .by_index(i)
                .map_err(|e| format!("`{}`: {e}", zip.display()))?;
            let Some(rel) = entry.enclosed_name() else {
                return Err(format!(
                    "`{}`: the entry `{}` points outside the package",
                    zip.display(),
                    entry.name()
                ));
            };
            let path = dir.join(&rel);
            if entry.is_dir() {
                continue;
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
            }
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| format!("`{}`: {}: {e}", zip.display(), entry.name()))?;
            std::fs::write(&path, &bytes)
                .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
            #[cfg(unix)]
            if let Some(mode) = entry.unix_mode() {
                use std::os::unix::fs::PermissionsExt as _;
                let _ =
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o777));
            }
            let parts: Vec<_> = rel.components().collect();
            if parts.len() == 2 && rel.ends_with("function.json") {
                let name = parts[0].as_os_str().to_string_lossy().to_string();
                functions.push((name, bytes));
            }
        }
        fn read<T: serde::de::DeserializeOwned>(
            p: &Path,
            bytes: &[u8],
            zip: &Path,
        ) -> Result<T, String> {
            serde_json::from_slice(bytes)
                .map_err(|e| format!("`{}` in `{}`: {e}", p.display(), zip.display()))
        }
        let host_path = dir.join("host.json");
        let host: HostJson = read(
            Path::new("host.json"),
            &std::fs::read(&host_path)
                .map_err(|_| format!("`{}` has no host.json", zip.display()))?,
            zip,
        )?;
        let mut triggers = Vec::new();
        for (name, bytes) in functions {
            let doc: FunctionJson = read(&Path::new(&name).join("function.json"), &bytes, zip)?;
            let binding = doc.trigger().cloned().ok_or_else(|| {
                format!(
                    "`{name}/function.json` in `{}` has no trigger binding",
                    zip.display()
                )
            })?;
            triggers.push(Trigger { name, binding });
        }
        Ok(App {
            function: function.to_string(),
            dir: dir.to_path_buf(),
            host,
            triggers,
        })
    }

    fn route_prefix(&self) -> String {
        self.host.route_prefix()
    }
}

/// A running handler.
pub struct Worker {
    pub app: App,
    pub port: u16,
    child: Mutex<std::process::Child>,
    logs: LogSink,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Worker {
    /// Start the app's handler with `settings` as its environment (and `PATH`); ready once it
    /// listens on its port.
    pub async fn start(
        app: App,
        settings: &[(String, String)],
        logs: LogSink,
    ) -> Result<Worker, String> {
        let d = &app.host.custom_handler.description;
        let exe = Some(d.default_executable_path.as_str())
            .filter(|e| !e.is_empty())
            .ok_or_else(|| {
                format!(
                    "the `{}` app's host.json names no `customHandler.description.defaultExecutablePath`",
                    app.function
                )
            })?;
        let cwd = match Some(d.working_directory.as_str()).filter(|w| !w.is_empty()) {
            Some(w) => app.dir.join(w),
            None => app.dir.clone(),
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("cannot find a free port: {e}"))?
            .port();
        let mut c = Command::new(app.dir.join(exe));
        c.args(&d.arguments)
            .current_dir(&cwd)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
            .env("FUNCTIONS_WORKER_RUNTIME", "custom")
            .envs(settings.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c
            .spawn()
            .map_err(|e| format!("cannot start the `{}` handler `{exe}`: {e}", app.function))?;
        crate::lambda::pass_output(&mut child, &logs, &app.function);
        let started = Instant::now();
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "the `{}` handler exited before listening ({status}); its output is above",
                    app.function
                ));
            }
            if started.elapsed() > INITIALIZATION_TIMEOUT {
                let _ = child.kill();
                return Err(format!(
                    "the `{}` handler did not listen on port {port} within {} s",
                    app.function,
                    INITIALIZATION_TIMEOUT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Worker {
            app,
            port,
            child: Mutex::new(child),
            logs,
        })
    }

    /// Stop the handler (the host's timers and watchers may still hold this worker).
    pub fn stop(&self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Send one request to the handler; its answer, whole.
    async fn send(&self, req: Request<Full<Bytes>>) -> Result<Response<Bytes>, String> {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .map_err(|e| format!("the `{}` handler is not listening: {e}", self.app.function))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("the `{}` handler: {e}", self.app.function))?;
        tokio::spawn(conn);
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("the `{}` handler did not answer: {e}", self.app.function))?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("the `{}` handler's answer: {e}", self.app.function))?
            .to_bytes();
        Ok(Response::from_parts(parts, body))
    }

    /// Invoke the trigger `name` with the host's payload; its `ReturnValue`, or why it failed.
    pub async fn invoke(&self, name: &str, data: Value, metadata: Value) -> Result<Value, String> {
        let body = json!({ "Data": data, "Metadata": metadata }).to_string();
        let req = Request::post(format!("/{name}"))
            .header("host", format!("127.0.0.1:{}", self.port))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let resp = self.send(req).await?;
        let (status, body) = (resp.status().as_u16(), resp.into_body());
        let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let label = format!("{}/{name}", self.app.function);
        for line in answer["Logs"].as_array().into_iter().flatten() {
            (self.logs)(&label, line.as_str().unwrap_or_default());
        }
        if (200..300).contains(&status) {
            Ok(answer["ReturnValue"].clone())
        } else {
            Err(format!(
                "`{name}` failed (HTTP {status}): {}",
                answer["Logs"]
                    .as_array()
                    .and_then(|l| l.first())
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned())
            ))
        }
    }
}

/// Whether `path` (after the route prefix) matches a trigger's `route` template.
fn route_matches(route: &str, path: &str) -> bool {
    let mut want = route.trim_matches('/').split('/').filter(|s| !s.is_empty());
    let mut have = path.trim_matches('/').split('/').filter(|s| !s.is_empty());
    loop {
        match (want.next(), have.next()) {
            (None, None) => return true,
            (Some(w), _) if w.starts_with("{*") => return true,
            (Some(w), Some(_)) if w.starts_with('{') && w.ends_with('}') => {}
            (Some(w), Some(h)) if w.eq_ignore_ascii_case(h) => {}
            _ => return false,
        }
    }
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn answer(status: u16, message: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(
        json!({ "error": message }).to_string(),
    )));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// The host: the running apps, and the function key HTTP triggers with `authLevel: function`
/// ask for.
pub struct Host {
    pub workers: Vec<Arc<Worker>>,
    key: Option<String>,
}

impl Host {
    pub fn new(workers: Vec<Worker>, key: Option<String>) -> Host {
        Host {
            workers: workers.into_iter().map(Arc::new).collect(),
            key,
        }
    }

    /// Stop every handler.
    pub fn stop(&self) {
        for w in &self.workers {
            w.stop();
        }
    }

    /// Each trigger, `(function, trigger)`, for the start-up listing.
    pub fn triggers(&self) -> impl Iterator<Item = (&Arc<Worker>, &Trigger)> {
        self.workers
            .iter()
            .flat_map(|w| w.app.triggers.iter().map(move |t| (w, t)))
    }

    /// Answer one client request: route it to an HTTP trigger and proxy it to its handler.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        let method = req.method().as_str().to_ascii_lowercase();
        let found = self.triggers().find_map(|(w, t)| {
            let Binding::HttpTrigger {
                auth_level,
                methods,
                route,
                ..
            } = &t.binding
            else {
                return None;
            };
            let prefix = format!("/{}", w.app.route_prefix());
            let matches = path
                .strip_prefix(&prefix)
                .filter(|r| r.is_empty() || r.starts_with('/'))
                .is_some_and(|rest| route_matches(route.as_deref().unwrap_or(&t.name), rest))
                && methods
                    .as_ref()
                    .is_none_or(|m| m.iter().any(|x| x.eq_ignore_ascii_case(&method)));
            matches.then_some((w, t, *auth_level))
        });
        let Some((worker, _, auth_level)) = found else {
            return answer(404, &format!("no function answers {} {path}", req.method()));
        };
        let raw_query = req.uri().query().unwrap_or_default().to_string();
        if auth_level != AuthLevel::Anonymous
            && let Some(key) = &self.key
        {
            let given = req
                .headers()
                .get("x-functions-key")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .or_else(|| {
                    mlinfra_core::serving::api::query_parameters(Some(&raw_query)).remove("code")
                });
            if !given.is_some_and(|g| same(&g, key)) {
                return answer(
                    401,
                    "this function needs its key: send it in the `x-functions-key` header or the `code` query parameter",
                );
            }
        }
        // The request as the client sent it, without the key.
        let kept: Vec<&str> = raw_query
            .split('&')
            .filter(|p| !p.is_empty() && p.split('=').next() != Some("code"))
            .collect();
        let uri = if kept.is_empty() {
            path.clone()
        } else {
            format!("{path}?{}", kept.join("&"))
        };
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return answer(413, &format!("the body exceeds {MAX_BODY} bytes")),
        };
        let mut fwd = Request::builder().method(parts.method).uri(uri);
        for (k, v) in &parts.headers {
            if k != "x-functions-key" {
                fwd = fwd.header(k, v);
            }
        }
        let Ok(fwd) = fwd.body(Full::new(body)) else {
            return answer(400, "the request cannot be forwarded");
        };
        // The handler's answer as it gave it: status, headers and body.
        match worker.send(fwd).await {
            Ok(resp) => resp.map(Full::new),
            Err(e) => answer(502, &e),
        }
    }

    /// Fire each timer trigger on its schedule, for as long as the process runs.
    pub fn start_timers(&self) -> Result<(), String> {
        for (worker, trigger) in self.triggers() {
            let Binding::TimerTrigger { schedule, name, .. } = &trigger.binding else {
                continue;
            };
            let timer = Timer::parse(schedule).map_err(|e| {
                format!(
                    "`{}/function.json` of `{}`: {e}",
                    trigger.name, worker.app.function
                )
            })?;
            let worker = Arc::clone(worker);
            let (name, binding) = (trigger.name.clone(), name.clone());
            tokio::spawn(async move {
                let mut last = mlinfra_core::jobs::now();
                loop {
                    let now = mlinfra_core::jobs::now();
                    let Some(next) = timer.next_after(now) else {
                        return;
                    };
                    tokio::time::sleep(Duration::from_secs(next - now)).await;
                    let after = timer.next_after(next).unwrap_or(next);
                    let rfc = mlinfra_core::clock::rfc3339;
                    let data = json!({ binding.as_str(): {
                        "Schedule": { "AdjustForDST": true },
                        "ScheduleStatus": { "Last": rfc(last), "Next": rfc(after), "LastUpdated": rfc(next) },
                        "IsPastDue": false,
                    }});
                    let metadata = json!({ "sys": sys(&name) });
                    if let Err(e) = worker.invoke(&name, data, metadata).await {
                        (worker.logs)(&worker.app.function, &e);
                    }
                    last = next;
                }
            });
        }
        Ok(())
    }

    /// Deliver each blob created under a blob trigger's path to its function, checking every
    /// `every`.
    pub async fn watch_blobs(&self, account: &Account, every: Duration) -> Result<(), String> {
        for (worker, trigger) in self.triggers() {
            let Binding::BlobTrigger { path, name, .. } = &trigger.binding else {
                continue;
            };
            let (container, pattern) = path.split_once('/').ok_or_else(|| {
                format!(
                    "`{}/function.json`: the blob path `{path}` is not `<container>/<pattern>`",
                    trigger.name
                )
            })?;
            let prefix = pattern.split('{').next().unwrap_or_default().to_string();
            let lake = BlobLake::new(account, container).map_err(|e| e.to_string())?;
            let worker = Arc::clone(worker);
            // Event Grid delivers the blobs created from now on.
            let mut seen: BTreeSet<String> = lake
                .list(&prefix)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .collect();
            let (name, binding, container) =
                (trigger.name.clone(), name.clone(), container.to_string());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let Ok(keys) = lake.list(&prefix).await else {
                        continue;
                    };
                    for key in keys {
                        if !seen.insert(key.clone()) {
                            continue;
                        }
                        let Ok(Some(bytes)) = lake.get(&key).await else {
                            continue;
                        };
                        let data = json!({
                            binding.as_str(): base64::engine::general_purpose::STANDARD.encode(&bytes)
                        });
                        let metadata = json!({
                            "BlobTrigger": format!("{container}/{key}"),
                            "Uri": lake.uri(&key),
                            "name": key.strip_prefix(&prefix).unwrap_or(&key),
                            "Properties": { "ContentLength": bytes.len(), "BlobType": "BlockBlob" },
                            "sys": sys(&name),
                        });
                        if let Err(e) = worker.invoke(&name, data, metadata).await {
                            (worker.logs)(&worker.app.function, &e);
                        }
                    }
                }
            });
        }
        Ok(())
    }
}

/// The `sys` metadata the host adds to every invocation.
fn sys(name: &str) -> Value {
    json!({
        "MethodName": name,
        "UtcNow": mlinfra_core::clock::now_rfc3339(),
        "RandGuid": crate::lambda::request_id(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_as_the_host_matches_them() {
        assert!(route_matches("v1/{*path}", "/v1/predict"));
        assert!(route_matches("v1/{*path}", "/v1"));
        assert!(route_matches("V1/{*path}", "/v1/a/b"));
        assert!(!route_matches("v1/{*path}", "/v2/predict"));
        assert!(route_matches("items/{id}", "/items/7"));
        assert!(!route_matches("items/{id}", "/items/7/x"));
        assert!(!route_matches("items/{id}", "/items"));
    }

    #[test]
    fn keys_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }
}
