//! The packaged functions themselves, as Lambda runs them: each `bootstrap` is taken out of the
//! `bootstrap.zip` that `mlinfra build` made and started against a local Lambda Runtime API (a
//! small HTTP server here implementing `/2018-06-01/runtime/invocation/next`, `/response`,
//! `/error` and `/init/error`, and the Extensions API's `register` and `event/next` that a function
//! uses to get the shutdown signal), with real event fixtures from `tests/fixtures/events/`.
//!
//! Also checked: no `bootstrap` needs a glibc symbol newer than 2.34 (`provided.al2023`), and the
//! predict package stays under 10 MB. `MLINFRA_COLDSTART_RUNS=N` makes the cold-start test
//! measure N starts and print the median (`make bench` does).

#![allow(clippy::unwrap_used)]

#[path = "support/cli.rs"]
mod cli;
#[path = "support/moto.rs"]
mod moto;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::{Value, json};

/// What the function posted back.
#[derive(Debug, Clone)]
struct Reply {
    request_id: String,
    kind: &'static str,
    body: Value,
    at: Instant,
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<(String, Value)>,
    replies: Vec<Reply>,
    init_errors: Vec<(Option<String>, Value)>,
    handed_out: usize,
    /// Names of the extensions registered through the Extensions API.
    extensions: Vec<String>,
}

/// A Lambda Runtime API on a free loopback port.
#[derive(Clone)]
struct RuntimeApi {
    addr: String,
    inner: Arc<Mutex<Inner>>,
}

async fn handle(
    api: RuntimeApi,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let extension_name = req
        .headers()
        .get("Lambda-Extension-Name")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let error_type = req
        .headers()
        .get("Lambda-Runtime-Function-Error-Type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let json_body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let ok = |status: u16, body: Value| {
        Ok(Response::builder()
            .status(status)
            .header("Content-Type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap())
    };
    // The Extensions API: a registration answered with an identifier; the event stream of an
    // extension with no events answers only at shutdown, which here is never.
    if method == hyper::Method::POST && path == "/2020-01-01/extension/register" {
        let Some(name) = extension_name else {
            return ok(
                400,
                json!({"errorMessage": "Lambda-Extension-Name is missing"}),
            );
        };
        api.inner.lock().unwrap().extensions.push(name.clone());
        return Ok(Response::builder()
            .status(200)
            .header("Content-Type", "application/json")
            .header("Lambda-Extension-Identifier", format!("ext-{name}"))
            .body(Full::new(Bytes::from(
                json!({"functionName": "heart-disease-fn", "functionVersion": "1", "handler": "bootstrap"})
                    .to_string(),
            )))
            .unwrap());
    }
    if method == hyper::Method::GET && path == "/2020-01-01/extension/event/next" {
        std::future::pending::<()>().await;
    }
    let base = "/2018-06-01/runtime";
    if method == hyper::Method::GET && path == format!("{base}/invocation/next") {
        // Long poll: answer when an event is queued.
        loop {
            let next = {
                let mut i = api.inner.lock().unwrap();
                let n = i.queue.pop_front();
                if n.is_some() {
                    i.handed_out += 1;
                }
                n
            };
            if let Some((id, event)) = next {
                let deadline = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis()
                    + 30_000;
                return Ok(Response::builder()
                    .status(200)
                    .header("Lambda-Runtime-Aws-Request-Id", &id)
                    .header("Lambda-Runtime-Deadline-Ms", deadline.to_string())
                    .header(
                        "Lambda-Runtime-Invoked-Function-Arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:heart-disease-fn:live",
                    )
                    .header(
                        "Lambda-Runtime-Trace-Id",
                        "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
                    )
                    .body(Full::new(Bytes::from(event.to_string())))
                    .unwrap());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    if method == hyper::Method::POST && path == format!("{base}/init/error") {
        api.inner
            .lock()
            .unwrap()
            .init_errors
            .push((error_type, json_body));
        return ok(202, json!({"status": "OK"}));
    }
    if method == hyper::Method::POST
        && let Some(rest) = path.strip_prefix(&format!("{base}/invocation/"))
        && let Some((id, kind)) = rest.split_once('/')
    {
        let kind = match kind {
            "response" => "response",
            "error" => "error",
            _ => return ok(404, json!({"errorMessage": "unknown path"})),
        };
        api.inner.lock().unwrap().replies.push(Reply {
            request_id: id.to_string(),
            kind,
            body: json_body,
            at: Instant::now(),
        });
        return ok(202, json!({"status": "OK"}));
    }
    ok(
        404,
        json!({"errorMessage": format!("no route {method} {path}")}),
    )
}

impl RuntimeApi {
    fn start(rt: &tokio::runtime::Runtime) -> RuntimeApi {
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let api = RuntimeApi {
            addr: listener.local_addr().unwrap().to_string(),
            inner: Arc::default(),
        };
        let server = api.clone();
        rt.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let api = server.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(api.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        api
    }

    fn push(&self, id: &str, event: Value) {
        self.inner
            .lock()
            .unwrap()
            .queue
            .push_back((id.to_string(), event));
    }

    /// Wait for the reply to `id`.
    fn reply(&self, id: &str, child: &mut Child) -> Reply {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(r) = self
                .inner
                .lock()
                .unwrap()
                .replies
                .iter()
                .find(|r| r.request_id == id)
            {
                return r.clone();
            }
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("the function exited ({status}) before answering `{id}`:\n{err}");
            }
            assert!(Instant::now() < deadline, "no reply to `{id}` within 60 s");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn fixture(name: &str) -> Value {
    let p = cli::repo_root().join("tests/fixtures/events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

/// Take `bootstrap` out of a function's zip into `dir`.
fn unpack(function: &str, dir: &Path) -> PathBuf {
    let zip = cli::artifacts().join(function).join("bootstrap.zip");
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
    assert_eq!(archive.len(), 1, "{}: one file", zip.display());
    let mut entry = archive.by_name("bootstrap").unwrap();
    assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
    let out = dir.join(function);
    std::fs::create_dir_all(&out).unwrap();
    let path = out.join("bootstrap");
    let mut f = std::fs::File::create(&path).unwrap();
    std::io::copy(&mut entry, &mut f).unwrap();
    drop(f);
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Start a bootstrap as Lambda would: the Runtime API's address and the function's variables.
fn start(bootstrap: &Path, api: &RuntimeApi, vars: &[(String, String)]) -> Child {
    let mut c = Command::new(bootstrap);
    c.env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &api.addr)
        .env("AWS_LAMBDA_FUNCTION_NAME", "heart-disease-fn")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/heart-disease-fn")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/22/[1]abc")
        .env("AWS_REGION", "us-east-1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in vars {
        c.env(k, v);
    }
    c.spawn().unwrap()
}

fn config_vars(function: &str, lake: &str, registry: &str) -> Vec<(String, String)> {
    let config = mlinfra_core::FunctionConfig {
        stack: "heart-disease".into(),
        function: serde_json::from_value(json!(function)).unwrap(),
        lake: lake.to_string(),
        registry: registry.to_string(),
        model: "heart-disease".into(),
        memory_mb: 256,
        timeout_s: 10,
        serving: None,
        alerts_topic: None,
        retrain_function: None,
    };
    config.to_env().into_iter().collect()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A scratch project with the example stack and data; `mlinfra up` run in it.
fn project(dir: &Path) {
    let root = cli::repo_root();
    std::fs::create_dir_all(dir.join("stacks")).unwrap();
    let stack = std::fs::read_to_string(root.join("stacks/heart-disease.yaml")).unwrap();
    // A smaller search keeps the debug-built CLI and the release bootstrap quick here.
    std::fs::write(
        dir.join("stacks/heart-disease.yaml"),
        stack.replacen("trials: 20", "trials: 4", 1),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("examples/heart-disease")).unwrap();
    std::fs::copy(
        root.join("examples/heart-disease/processed.cleveland.csv"),
        dir.join("examples/heart-disease/processed.cleveland.csv"),
    )
    .unwrap();
    ok(dir, &["up", "--yes"]);
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = cli::run(dir, args);
    assert_eq!(code, 0, "mlinfra {args:?}:\n{out}\n{err}");
    out
}

/// The environment `mlinfra up` gave a function (`functions/<name>.json`).
fn function_env(dir: &Path, function: &str) -> Vec<(String, String)> {
    let conf: Value = serde_json::from_str(
        &std::fs::read_to_string(
            dir.join(format!(".mlinfra/heart-disease/functions/{function}.json")),
        )
        .unwrap(),
    )
    .unwrap();
    conf["env"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

/// `mlinfra invoke FUNCTION` on `local`: the packaged bootstrap run by the executor with the
/// configuration `up` wrote; its response on stdout.
fn invoke(dir: &Path, args: &[&str]) -> Value {
    let artifacts = cli::artifacts();
    let mut full = vec!["--artifacts", artifacts.to_str().unwrap(), "invoke"];
    full.extend_from_slice(args);
    serde_json::from_str(&ok(dir, &full)).unwrap()
}

#[test]
fn etl_train_and_monitor_bootstraps_do_their_work_for_real_events() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("project");
    project(&dir);
    let lake = dir.join(".mlinfra/heart-disease/lake");

    // etl: the S3 put event of `raw/2026-11-22/cleveland.csv` curates it; the same event
    // delivered again (S3 delivers at least once) is skipped.
    let key = fixture("s3-put-raw.json")["Records"][0]["s3"]["object"]["key"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::create_dir_all(lake.join(&key).parent().unwrap()).unwrap();
    std::fs::copy(
        dir.join("examples/heart-disease/processed.cleveland.csv"),
        lake.join(&key),
    )
    .unwrap();
    let r = invoke(&dir, &["etl", "--s3-key", &key]);
    assert_eq!(r["objects"][0]["outcome"], "curated", "{r}");
    assert_eq!(r["objects"][0]["rows"], 303);
    let events = cli::repo_root().join("tests/fixtures/events");
    let r = invoke(
        &dir,
        &[
            "etl",
            "--event",
            events.join("s3-put-raw.json").to_str().unwrap(),
        ],
    );
    assert_eq!(r["objects"][0]["outcome"], "skipped", "{r}");

    // train: the weekly rule's scheduled event trains on the curated data and registers
    // version 1 (Staging is automatic in this stack), requesting Production for a person.
    let r = invoke(&dir, &["train", "--schedule", "retrain"]);
    assert_eq!(r["reason"], "schedule", "{r}");
    assert_eq!(r["registered_version"], 1, "{r}");
    assert_eq!(r["stage"], "Staging");
    assert_eq!(r["rows"], 303);
    let request = r["request"].as_str().unwrap().to_string();
    let listed: Value =
        serde_json::from_str(&ok(&dir, &["models", "list", "--output", "json"])).unwrap();
    assert!(listed.to_string().contains("mlinfra-train"), "{listed}");
    // The same data again: the same model file, which is not registered twice.
    let r = invoke(&dir, &["train", "--schedule", "retrain"]);
    assert!(
        r["not_registered"]
            .as_str()
            .unwrap()
            .contains("already registered"),
        "{r}"
    );

    // monitor: once a person approved version 1, the daily event writes a report.
    ok(&dir, &["models", "approve", &request, "--as", "bob"]);
    let r = invoke(&dir, &["monitor", "--schedule", "monitor"]);
    let report = r["report"].as_str().unwrap();
    assert!(lake.join(report).is_file(), "{report}");
    assert_eq!(r["retrain"], false);

    // A function error is the command's failure, with the function's error on stdout.
    let artifacts = cli::artifacts();
    let (code, out, err) = cli::run(
        &dir,
        &[
            "--artifacts",
            artifacts.to_str().unwrap(),
            "invoke",
            "etl",
            "--event",
            events.join("apigw-health.json").to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    let body: Value = serde_json::from_str(&out).unwrap();
    assert!(body["errorType"].as_str().is_some(), "{body}");
    assert!(err.contains("`heart-disease-etl` failed"), "{err}");
}

#[test]
fn every_bootstrap_reports_init_errors() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // Without its configuration a function reports an init error and exits non-zero.
    for function in ["etl", "train", "predict", "monitor"] {
        let api = RuntimeApi::start(&rt);
        let bin = unpack(function, tmp.path());
        let mut child = start(&bin, &api, &[]);
        let status = child.wait().unwrap();
        assert!(!status.success(), "{function}");
        let errors = api.inner.lock().unwrap().init_errors.clone();
        assert_eq!(errors.len(), 1, "{function}: {errors:?}");
        assert_eq!(
            errors[0].0.as_deref(),
            Some("mlinfra.InvalidConfig"),
            "{function}"
        );
        assert!(
            errors[0].1["errorMessage"]
                .as_str()
                .unwrap()
                .contains("MLINFRA_"),
            "{function}: {errors:?}"
        );
        assert_eq!(api.inner.lock().unwrap().handed_out, 0);
    }
    // On an S3 lake and a DynamoDB registry without the role's credentials in its environment,
    // `predict` says so at start, naming the variables.
    let api = RuntimeApi::start(&rt);
    let bin = unpack("predict", tmp.path());
    let vars = config_vars(
        "predict",
        "s3://heart-disease-lake",
        "heart-disease-registry",
    );
    let mut child = start(&bin, &api, &vars);
    assert!(!child.wait().unwrap().success());
    let errors = api.inner.lock().unwrap().init_errors.clone();
    assert_eq!(
        errors[0].0.as_deref(),
        Some("mlinfra.InvalidConfig"),
        "{errors:?}"
    );
    assert!(
        errors[0].1["errorMessage"]
            .as_str()
            .unwrap()
            .contains("`AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` are not set"),
        "{errors:?}"
    );
}

/// A local environment with a Production model, made with the CLI.
fn production_model(dir: &Path) -> Vec<(String, String)> {
    project(dir);
    let ok = |args: &[&str]| ok(dir, args);
    ok(&["pipeline", "run", "--as", "alice"]);
    let req: Value = serde_json::from_str(&ok(&[
        "models",
        "request",
        "1",
        "--to",
        "production",
        "--as",
        "alice",
        "--output",
        "json",
    ]))
    .unwrap();
    ok(&[
        "models",
        "approve",
        req["id"].as_str().unwrap(),
        "--as",
        "bob",
    ]);
    function_env(dir, "predict")
}

#[test]
fn the_predict_bootstrap_serves_the_production_model_and_its_cold_start_is_measured() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let vars = production_model(tmp.path());
    let bin = unpack("predict", tmp.path());
    let runs: usize = std::env::var("MLINFRA_COLDSTART_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut cold = Vec::new();
    for _ in 0..runs {
        let api = RuntimeApi::start(&rt);
        // The event is waiting before the process starts, as on a cold invocation.
        api.push("cold", fixture("apigw-predict.json"));
        let t0 = Instant::now();
        let mut child = Killed(start(&bin, &api, &vars));
        let r = api.reply("cold", &mut child.0);
        cold.push(r.at.duration_since(t0));
        assert_eq!(r.kind, "response", "{:?}", r.body);
        assert_eq!(r.body["statusCode"], 200, "{:?}", r.body);
        let body: Value = serde_json::from_str(r.body["body"].as_str().unwrap()).unwrap();
        let preds = body["predictions"].as_array().unwrap();
        assert_eq!(preds.len(), 2, "{body}");
        for p in preds {
            let c = p["confidence"].as_f64().unwrap();
            assert!((0.5..=1.0).contains(&c), "{p}");
        }
        assert_eq!(body["model"]["version"], 1, "{body}");
        api.push("health", fixture("apigw-health.json"));
        let h = api.reply("health", &mut child.0);
        assert_eq!(h.body["statusCode"], 200, "{:?}", h.body);
        // The stack samples every prediction (`monitoring.sample_rate: 1.0`): the running
        // bootstrap writes the request's log to the lake's `predictions/`, off the response path.
        let request_id = body["request_id"].as_str().unwrap().to_string();
        let logs = tmp.path().join(".mlinfra/heart-disease/lake/predictions");
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let found = std::fs::read_dir(&logs)
                .into_iter()
                .flatten()
                .flatten()
                .any(|day| {
                    std::fs::read_dir(day.path())
                        .into_iter()
                        .flatten()
                        .flatten()
                        .any(|f| {
                            std::fs::read_to_string(f.path()).is_ok_and(|t| t.contains(&request_id))
                        })
                });
            if found {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no prediction log for {request_id}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = std::fs::remove_dir_all(&logs);
    }
    cold.sort();
    let median = cold[cold.len() / 2];
    println!(
        "predict cold start (exec -> first prediction, model loaded): median {:.1} ms over {runs} runs (min {:.1}, max {:.1})",
        median.as_secs_f64() * 1e3,
        cold[0].as_secs_f64() * 1e3,
        cold[cold.len() - 1].as_secs_f64() * 1e3
    );
}

/// The GLIBC symbol versions an executable needs, from `objdump -T`.
fn glibc_versions(bin: &Path) -> Vec<(u32, u32)> {
    let out = Command::new("objdump").arg("-T").arg(bin).output().unwrap();
    assert!(out.status.success(), "objdump failed on {}", bin.display());
    let text = String::from_utf8_lossy(&out.stdout);
    let mut v: Vec<(u32, u32)> = text
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|w| w.strip_prefix("GLIBC_"))
        .filter_map(|ver| {
            let mut it = ver.split('.');
            Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn every_bootstrap_runs_on_provided_al2023_and_predict_stays_under_10_mb() {
    let tmp = tempfile::tempdir().unwrap();
    for function in ["etl", "train", "predict", "monitor"] {
        let bin = unpack(function, tmp.path());
        let versions = glibc_versions(&bin);
        assert!(
            !versions.is_empty(),
            "{function}: no GLIBC symbols found: not a dynamic glibc binary?"
        );
        let newest = *versions.last().unwrap();
        assert!(
            newest <= (2, 34),
            "{function} needs GLIBC_{}.{} > 2.34: {versions:?}",
            newest.0,
            newest.1
        );
        let syms = Command::new("objdump")
            .arg("-h")
            .arg(&bin)
            .output()
            .unwrap();
        let sections = String::from_utf8_lossy(&syms.stdout);
        assert!(
            !sections.contains(".debug_info"),
            "{function} is not stripped"
        );
    }
    let zip = std::fs::metadata(cli::artifacts().join("predict/bootstrap.zip"))
        .unwrap()
        .len();
    assert!(zip < 10_000_000, "predict zip is {zip} bytes");
}

/// An HTTP endpoint on loopback that answers 200 to everything and keeps the bodies it got.
struct Webhook {
    url: String,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Webhook {
    /// The SNS notifications delivered (not the subscription confirmation).
    fn notifications(&self) -> Vec<Value> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .filter_map(|b| serde_json::from_str::<Value>(b).ok())
            .filter(|v| v["Type"] == "Notification")
            .collect()
    }
}

fn webhook() -> Webhook {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/on-call", listener.local_addr().unwrap());
    let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
    let kept = Arc::clone(&bodies);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = std::io::BufReader::new(stream);
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if std::io::BufRead::read_line(&mut stream, &mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0u8; length];
            let _ = std::io::Read::read_exact(&mut stream, &mut body);
            kept.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&body).into_owned());
            let _ = std::io::Write::write_all(
                stream.get_mut(),
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    Webhook { url, bodies }
}

/// An API Gateway proxy event of the fixture's shape with its own request id, path and body.
fn apigw_event(request_id: &str, path: &str, body: &Value) -> Value {
    let mut e = fixture("apigw-predict.json");
    e["resource"] = json!(path);
    e["path"] = json!(path);
    e["requestContext"]["resourcePath"] = json!(path);
    e["requestContext"]["requestId"] = json!(request_id);
    e["body"] = json!(body.to_string());
    e
}

/// Send SIGTERM, as Lambda does when it shuts an environment down, and wait for the exit.
fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -TERM failed");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "no exit within 5 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The four bootstraps on the cloud environment, against the moto server: the real S3 event of
/// a CSV put under `raw/` curates it in S3; the weekly rule's event trains on it and registers
/// version 1 in DynamoDB with Production requested; a second person approves it with the CLI;
/// the `predict` bootstrap answers an API Gateway event with the Production model read from S3
/// (the same probabilities as that ONNX file run by tract), takes feedback into S3, swaps in a
/// second approved version within `model_refresh_s` without a restart, and writes its sampled
/// predictions to S3 (the last ones at the shutdown signal); the daily event writes the
/// monitoring report to S3.
#[test]
fn the_jobs_run_on_s3_and_dynamodb() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("project");
    project(&dir);
    // A short refresh interval, so that the swap to a newly approved version shows quickly; the
    // on-call webhook (an SNS https subscription) here on loopback, recording what SNS delivers.
    let hook = webhook();
    let stack_file = dir.join("stacks/heart-disease.yaml");
    let stack = std::fs::read_to_string(&stack_file).unwrap();
    for s in [
        "model_refresh_s: 30",
        "https://hooks.example.com/mlinfra/on-call",
    ] {
        assert!(stack.contains(s), "the example stack changed: no `{s}`");
    }
    std::fs::write(
        &stack_file,
        stack
            .replacen("model_refresh_s: 30", "model_refresh_s: 2", 1)
            .replacen("https://hooks.example.com/mlinfra/on-call", &hook.url, 1),
    )
    .unwrap();
    let endpoint = moto::server().endpoint.clone();
    let cloud = |args: &[&str]| -> String {
        let mut full = vec![
            "--env",
            "localstack",
            "--endpoint",
            &endpoint,
            "--artifacts",
        ];
        let artifacts = cli::artifacts();
        let artifacts = artifacts.to_str().unwrap().to_string();
        full.push(&artifacts);
        full.extend_from_slice(args);
        ok(&dir, &full)
    };
    cloud(&["up", "--yes"]);
    let bucket = "mlinfra-heart-disease-lake";
    let sdk = rt.block_on(moto::sdk_config(&endpoint));
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let key = fixture("s3-put-raw.json")["Records"][0]["s3"]["object"]["key"]
        .as_str()
        .unwrap()
        .to_string();
    let csv = std::fs::read(dir.join("examples/heart-disease/processed.cleveland.csv")).unwrap();
    rt.block_on(
        s3.put_object()
            .bucket(bucket)
            .key(&key)
            .body(csv.into())
            .send(),
    )
    .unwrap();
    // The functions' own configuration, as `up` deployed it, and the emulator's endpoint.
    let vars = |function: &str| -> Vec<(String, String)> {
        let conf = rt
            .block_on(
                aws_sdk_lambda::Client::new(&sdk)
                    .get_function_configuration()
                    .function_name(format!("heart-disease-{function}"))
                    .send(),
            )
            .unwrap();
        let mut v: Vec<(String, String)> = conf
            .environment
            .and_then(|e| e.variables)
            .unwrap_or_default()
            .into_iter()
            .collect();
        v.extend([
            ("AWS_ENDPOINT_URL".to_string(), endpoint.clone()),
            ("AWS_ACCESS_KEY_ID".to_string(), "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), "testing".to_string()),
        ]);
        v
    };
    let object = |k: &str| -> Option<Vec<u8>> {
        rt.block_on(s3.get_object().bucket(bucket).key(k).send())
            .ok()
            .map(|o| rt.block_on(o.body.collect()).unwrap().into_bytes().to_vec())
    };

    // A package that is not the deployed code is refused, with the way out.
    let other = tmp.path().join("other-artifacts");
    std::fs::create_dir_all(other.join("etl")).unwrap();
    let mut zip = std::fs::read(cli::artifacts().join("etl/bootstrap.zip")).unwrap();
    zip.extend_from_slice(b"changed");
    std::fs::write(other.join("etl/bootstrap.zip"), &zip).unwrap();
    let (code, out, err) = cli::run(
        &dir,
        &[
            "--env",
            "localstack",
            "--endpoint",
            &endpoint,
            "--artifacts",
            other.to_str().unwrap(),
            "invoke",
            "etl",
            "--s3-key",
            &key,
        ],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("is not the deployed code") && err.contains("--local-build"),
        "{err}"
    );

    // etl: `mlinfra invoke` runs the package with the deployed function's configuration
    // (`GetFunctionConfiguration`); the S3 event curates the object in S3.
    let invoke = |args: &[&str]| -> Value {
        let mut full = vec!["invoke"];
        full.extend_from_slice(args);
        serde_json::from_str(&cloud(&full)).unwrap()
    };
    let r = invoke(&["etl", "--s3-key", &key]);
    assert_eq!(r["objects"][0]["outcome"], "curated", "{r}");
    assert_eq!(r["objects"][0]["rows"], 303);
    let latest: Value = serde_json::from_slice(&object("curated/latest.json").unwrap()).unwrap();
    assert_eq!(latest["rows"], 303, "{latest}");

    // train: the weekly rule's scheduled event trains on the curated data in S3 and registers
    // in DynamoDB.
    let r = invoke(&["train", "--schedule", "retrain"]);
    assert_eq!(r["registered_version"], 1, "{r}");
    assert_eq!(r["stage"], "Staging");
    let request = r["request"].as_str().unwrap().to_string();
    let run = r["run_id"].as_str().unwrap().to_string();
    assert!(object(&format!("models/heart-disease/{run}/model.onnx")).is_some());
    let listed = cloud(&["models", "list", "--output", "json"]);
    assert!(listed.contains("mlinfra-train"), "{listed}");
    cloud(&["models", "approve", &request, "--as", "bob"]);

    // predict: the Production model of the DynamoDB registry, read from S3 and checked.
    let api = RuntimeApi::start(&rt);
    let mut predict = Killed(start(
        &unpack("predict", tmp.path()),
        &api,
        &vars("predict"),
    ));
    let body = |r: &Reply| -> Value {
        assert_eq!(r.kind, "response", "{:?}", r.body);
        serde_json::from_str(r.body["body"].as_str().unwrap()).unwrap()
    };
    let instances: Value =
        serde_json::from_str(fixture("apigw-predict.json")["body"].as_str().unwrap()).unwrap();
    api.push("p-1", apigw_event("p-1", "/predict", &instances));
    let r = api.reply("p-1", &mut predict.0);
    assert_eq!(r.body["statusCode"], 200, "{:?}", r.body);
    let answer = body(&r);
    assert_eq!(answer["model"]["version"], 1, "{answer}");
    assert_eq!(answer["model"]["stage"], "Production", "{answer}");
    // The same probabilities as the registered ONNX file in S3, run by tract here.
    let onnx = object(&format!("models/heart-disease/{run}/model.onnx")).unwrap();
    let sha = format!("sha256:{}", mlinfra_core::pipeline::sha256_hex(&onnx));
    let served = mlinfra_core::serving::Served::load(
        &onnx,
        "heart-disease",
        1,
        mlinfra_core::registry::Stage::Production,
        &sha,
    )
    .unwrap();
    let list = instances["instances"].as_array().unwrap();
    let (rows, errors, _) = mlinfra_core::serving::encode(&served, list);
    assert!(errors.is_empty(), "{errors:?}");
    let k = served.classes.len();
    let tract = mlinfra_core::scorer::Scorer::load(&onnx, served.features.len(), k)
        .unwrap()
        .score(list.len(), &rows)
        .unwrap();
    for (i, p) in answer["predictions"].as_array().unwrap().iter().enumerate() {
        for (c, class) in served.classes.iter().enumerate() {
            let got = p["probabilities"][class].as_f64().unwrap();
            let want = f64::from(tract.probabilities[i * k + c]);
            assert!(
                (got - want).abs() < 1e-4,
                "row {i} class {class}: {got} vs {want}"
            );
        }
    }

    // Cold starts against the emulator: exec of the packaged bootstrap -> the `CURRENT` item
    // read from DynamoDB, the model read from S3 and checked -> the first prediction answered.
    // `MLINFRA_COLDSTART_RUNS=N` measures N starts (`make bench` does 30).
    let runs: usize = std::env::var("MLINFRA_COLDSTART_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let predict_bin = unpack("predict", &tmp.path().join("cold"));
    let predict_vars = vars("predict");
    let mut cold = Vec::new();
    for i in 0..runs {
        let api = RuntimeApi::start(&rt);
        let id = format!("cold-{i}");
        api.push(&id, apigw_event(&id, "/predict", &instances));
        let t0 = Instant::now();
        let mut child = Killed(start(&predict_bin, &api, &predict_vars));
        let r = api.reply(&id, &mut child.0);
        cold.push(r.at.duration_since(t0));
        assert_eq!(body(&r)["model"]["version"], 1);
    }
    cold.sort();
    println!(
        "predict cold start on S3 + DynamoDB (moto): median {:.1} ms over {runs} runs (min {:.1}, max {:.1})",
        cold[cold.len() / 2].as_secs_f64() * 1e3,
        cold[0].as_secs_f64() * 1e3,
        cold[cold.len() - 1].as_secs_f64() * 1e3
    );

    // Feedback on that prediction goes to the lake's `feedback/` in S3.
    api.push(
        "f-1",
        apigw_event(
            "f-1",
            "/feedback",
            &json!({"request_id": "p-1", "label": 1}),
        ),
    );
    let r = api.reply("f-1", &mut predict.0);
    assert_eq!(r.body["statusCode"], 202, "{:?}", r.body);
    let stored: Value = serde_json::from_slice(&object("feedback/p-1.json").unwrap()).unwrap();
    assert_eq!(stored["version"], 1, "{stored}");

    // A second version, trained by the schedule on new data and approved, is served by the same
    // process within the refresh interval.
    let text = std::fs::read_to_string(dir.join("examples/heart-disease/processed.cleveland.csv"))
        .unwrap();
    let week = dir.join("week-2.csv");
    std::fs::write(
        &week,
        text.lines().take(101).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    cloud(&["data", "ingest", week.to_str().unwrap()]);
    let trainer = RuntimeApi::start(&rt);
    let mut child = Killed(start(
        &unpack("train", tmp.path()),
        &trainer,
        &vars("train"),
    ));
    trainer.push("req-2", fixture("eventbridge-scheduled.json"));
    let r = trainer.reply("req-2", &mut child.0);
    assert_eq!(r.body["registered_version"], 2, "{:?}", r.body);
    drop(child);
    let request = r.body["request"].as_str().unwrap().to_string();
    cloud(&["models", "approve", &request, "--as", "bob"]);
    let approved = Instant::now();
    let mut n = 0;
    let swapped = loop {
        n += 1;
        let id = format!("p-swap-{n}");
        api.push(&id, apigw_event(&id, "/predict", &instances));
        let answer = body(&api.reply(&id, &mut predict.0));
        if answer["model"]["version"] == 2 {
            break approved.elapsed();
        }
        assert!(
            approved.elapsed() < Duration::from_secs(10),
            "version 2 not served 10 s after its approval (refresh every 2 s): {answer}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    println!(
        "version 2 served {:.1} s after its approval",
        swapped.as_secs_f64()
    );

    // Shifted traffic for the monitor: 40 patients far older and with far higher cholesterol
    // than the training data's.
    let shifted: Vec<Value> = (0..40)
        .map(|i| {
            json!({"age": 90 + i % 5, "sex": 1, "cp": 4, "trestbps": 200, "chol": 550 + i,
                "fbs": 1, "restecg": 2, "thalach": 80, "exang": 1, "oldpeak": 6.0, "slope": 3,
                "ca": 3, "thal": 7})
        })
        .collect();
    api.push(
        "p-load",
        apigw_event("p-load", "/predict", &json!({ "instances": shifted })),
    );
    assert_eq!(
        body(&api.reply("p-load", &mut predict.0))["predictions"]
            .as_array()
            .unwrap()
            .len(),
        40
    );

    // The sampled predictions are in S3: the earlier ones by age, the last one (sent just
    // before the shutdown signal) flushed at shutdown.
    let last = "p-load".to_string();
    let status = terminate(&mut predict.0);
    assert!(status.success(), "predict exited with {status} at SIGTERM");
    assert_eq!(
        api.inner.lock().unwrap().extensions,
        vec!["mlinfra-shutdown".to_string()],
        "the predict function registers for the shutdown signal"
    );
    let keys: Vec<String> = rt
        .block_on(
            s3.list_objects_v2()
                .bucket(bucket)
                .prefix("predictions/")
                .send(),
        )
        .unwrap()
        .contents
        .unwrap_or_default()
        .into_iter()
        .filter_map(|o| o.key)
        .collect();
    let logged: String = keys
        .iter()
        .map(|k| String::from_utf8(object(k).unwrap()).unwrap())
        .collect();
    for id in ["p-1", last.as_str()] {
        assert!(
            logged.contains(&format!("\"request_id\":\"{id}\"")),
            "no prediction log of {id} in {keys:?}"
        );
    }

    // monitor: the daily event on the shifted traffic writes its report to S3, publishes the
    // alert to the stack's SNS topic, and starts `train` asynchronously (new data arrived since
    // the Production model's, so retraining can change something).
    let week = dir.join("week-3.csv");
    let mut rows: Vec<&str> = text.lines().take(1).collect();
    rows.extend(text.lines().skip(101).take(100));
    std::fs::write(&week, rows.join("\n") + "\n").unwrap();
    cloud(&["data", "ingest", week.to_str().unwrap()]);
    let topic = "arn:aws:sns:us-east-1:123456789012:heart-disease-alerts";
    let before = hook.notifications().len();
    let api = RuntimeApi::start(&rt);
    let mut child = Killed(start(
        &unpack("monitor", tmp.path()),
        &api,
        &vars("monitor"),
    ));
    api.push("req-1", fixture("eventbridge-scheduled.json"));
    let r = api.reply("req-1", &mut child.0);
    assert_eq!(r.kind, "response", "{:?}", r.body);
    let report = r.body["report"].as_str().unwrap();
    assert!(object(report).is_some(), "{report}");
    assert_eq!(r.body["dataset_drift"], true, "{:?}", r.body);
    assert_eq!(r.body["alert_delivered"], true, "{:?}", r.body);
    // SNS delivered the alert to the topic's https subscription (the on-call webhook).
    let notes = hook.notifications();
    assert_eq!(notes.len(), before + 1, "one alert published: {notes:?}");
    let note = notes.last().unwrap();
    assert_eq!(note["TopicArn"], topic, "{note}");
    assert!(
        note["Subject"].as_str().unwrap().contains("heart-disease"),
        "{note}"
    );
    assert!(
        note["Message"]
            .as_str()
            .unwrap()
            .contains(&format!("s3://{bucket}/{report}")),
        "{note}"
    );
    assert_eq!(r.body["retrain"], true, "{:?}", r.body);
    assert_eq!(
        r.body["retrained"]["invoked"], "heart-disease-train:live",
        "{:?}",
        r.body
    );
    assert_eq!(r.body["retrained"]["status"], 202, "{:?}", r.body);
    // A second monitor run within the cooldown does not start another retraining.
    api.push("req-2", fixture("eventbridge-scheduled.json"));
    let r = api.reply("req-2", &mut child.0);
    assert_eq!(r.kind, "response", "{:?}", r.body);
    assert_eq!(r.body["retrain"], false, "{:?}", r.body);
    assert!(r.body["retrained"].is_null(), "{:?}", r.body);
    drop(child);
}
