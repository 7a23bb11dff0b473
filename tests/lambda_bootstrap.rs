//! The packaged functions themselves, as Lambda runs them: each `bootstrap` is taken out of the
//! `bootstrap.zip` that `mlinfra build` made and run by `mlinfra`'s Lambda executor
//! (`mlinfra::lambda`: a Runtime API per instance, the Extensions API's shutdown signal, warm
//! instances), directly or through `mlinfra invoke`, with real event fixtures from
//! `tests/fixtures/events/`.
//!
//! Also checked: no `bootstrap` needs a glibc symbol newer than 2.34 (`provided.al2023`), and the
//! predict package stays within 12 MB (tokenizers and picture decoders included). `MLINFRA_COLDSTART_RUNS=N` makes the cold-start test
//! measure N starts and print the median (`make bench` does).

#![allow(clippy::unwrap_used)]

#[path = "support/cli.rs"]
mod cli;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/reference.rs"]
mod reference;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::error::ProvideErrorMetadata as _;
use hyper::body::Bytes;
use mlinfra::lambda::{Executor, FunctionFailure, FunctionSpec, Outcome};
use reference::{
    heart_instances, onnxruntime, python, regression_stack, same_probabilities, same_values,
};
use serde_json::{Value, json};

/// A function's package run by the executor (as `mlinfra invoke` and `serve` run it) with the
/// environment `vars`.
fn executor(function: &str, dir: &Path, vars: &[(String, String)]) -> Executor {
    let name = format!("heart-disease-{function}");
    Executor::new(
        FunctionSpec {
            name: name.clone(),
            bootstrap: unpack(function, dir),
            env: vars.to_vec(),
            memory_mb: 256,
            timeout: Duration::from_secs(60),
            concurrency: 1,
            arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{name}:live"),
        },
        mlinfra::lambda::stderr_sink(),
    )
}

/// Invoke and wait for the outcome.
fn outcome(rt: &tokio::runtime::Runtime, ex: &Executor, id: &str, event: &Value) -> Outcome {
    rt.block_on(ex.invoke(id, Bytes::from(event.to_string())))
        .unwrap()
}

/// Invoke; the function's response (a function error fails the test).
fn respond(rt: &tokio::runtime::Runtime, ex: &Executor, id: &str, event: &Value) -> Value {
    match outcome(rt, ex, id, event) {
        Outcome::Response(b) => serde_json::from_slice(&b).unwrap(),
        Outcome::Error(f) => panic!("`{id}` failed: {f}"),
    }
}

/// Invoke; the function's error (a response fails the test).
fn failure(
    rt: &tokio::runtime::Runtime,
    ex: &Executor,
    id: &str,
    event: &Value,
) -> FunctionFailure {
    match outcome(rt, ex, id, event) {
        Outcome::Error(f) => f,
        Outcome::Response(b) => panic!("`{id}` answered {}", String::from_utf8_lossy(&b)),
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
    // Without its configuration a function reports an init error, which is the invocation's.
    for function in ["etl", "train", "predict", "monitor"] {
        let ex = executor(function, tmp.path(), &[]);
        let f = failure(&rt, &ex, "req-1", &json!({}));
        assert_eq!(f.error_type, "mlinfra.InvalidConfig", "{function}: {f}");
        assert!(f.message.contains("MLINFRA_"), "{function}: {f}");
        assert!(!f.handled);
    }
    // On an S3 lake and a DynamoDB registry without the role's credentials in its environment,
    // `predict` says so at start, naming the variables.
    let vars = config_vars(
        "predict",
        "s3://heart-disease-lake",
        "heart-disease-registry",
    );
    let f = failure(
        &rt,
        &executor("predict", tmp.path(), &vars),
        "req-1",
        &json!({}),
    );
    assert_eq!(f.error_type, "mlinfra.InvalidConfig", "{f}");
    assert!(
        f.message
            .contains("`AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` are not set"),
        "{f}"
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
    let runs: usize = std::env::var("MLINFRA_COLDSTART_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut cold = Vec::new();
    for _ in 0..runs {
        // A new executor: the first invocation starts the instance (a cold start).
        let ex = executor("predict", tmp.path(), &vars);
        let t0 = Instant::now();
        let r = respond(&rt, &ex, "cold", &fixture("apigw-predict.json"));
        cold.push(t0.elapsed());
        assert_eq!(ex.cold_starts(), 1);
        assert_eq!(r["statusCode"], 200, "{r}");
        let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
        let preds = body["predictions"].as_array().unwrap();
        assert_eq!(preds.len(), 2, "{body}");
        for p in preds {
            let c = p["confidence"].as_f64().unwrap();
            assert!((0.5..=1.0).contains(&c), "{p}");
        }
        assert_eq!(body["model"]["version"], 1, "{body}");
        let h = respond(&rt, &ex, "health", &fixture("apigw-health.json"));
        assert_eq!(h["statusCode"], 200, "{h}");
        assert_eq!(ex.cold_starts(), 1, "the second call is warm");
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
    // Issue 32's bound, with the tokenizer and the picture decoders in it.
    assert!(zip <= 12_000_000, "predict zip is {zip} bytes");
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

/// The answer's probabilities are those of the ONNX file `onnx` run by tract on the request's
/// instances (within 1e-4).
fn same_as_tract(onnx: &[u8], instances: &Value, answer: &Value) {
    let sha = format!("sha256:{}", mlinfra_core::pipeline::sha256_hex(onnx));
    let served = mlinfra_core::serving::Served::load(
        onnx,
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
    let tract = mlinfra_core::scorer::Scorer::load(onnx, served.features.len(), k)
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
}

/// 40 patients far older and with far higher cholesterol than the training data's.
fn shifted_traffic() -> Vec<Value> {
    (0..40)
        .map(|i| {
            json!({"age": 90 + i % 5, "sex": 1, "cp": 4, "trestbps": 200, "chol": 550 + i,
                "fbs": 1, "restecg": 2, "thalach": 80, "exang": 1, "oldpeak": 6.0, "slope": 3,
                "ca": 3, "thal": 7})
        })
        .collect()
}

/// The project's example stack with `from` replaced by `to`, and its on-call webhook (an SNS
/// https subscription) pointed at `hook`.
fn edit_stack(dir: &Path, from: &str, to: &str, hook: &Webhook) {
    let stack_file = dir.join("stacks/heart-disease.yaml");
    let stack = std::fs::read_to_string(&stack_file).unwrap();
    let url = "https://hooks.example.com/mlinfra/on-call";
    for s in [from, url] {
        assert!(stack.contains(s), "the example stack changed: no `{s}`");
    }
    let edited = stack.replacen(from, to, 1).replacen(url, &hook.url, 1);
    std::fs::write(&stack_file, edited).unwrap();
}

/// The instances of the API Gateway fixture's body.
fn example_instances() -> Value {
    serde_json::from_str(fixture("apigw-predict.json")["body"].as_str().unwrap()).unwrap()
}

/// `POST /predict` of `instances` as request `id`: answered 200; the answer's body.
fn predicted(rt: &tokio::runtime::Runtime, ex: &Executor, id: &str, instances: &Value) -> Value {
    let r = respond(rt, ex, id, &apigw_event(id, "/predict", instances));
    assert_eq!(r["statusCode"], 200, "{r}");
    serde_json::from_str(r["body"].as_str().unwrap()).unwrap()
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

/// A function's own configuration, as `up` deployed it, and the emulator's endpoint and
/// credentials.
fn deployed_vars(
    rt: &tokio::runtime::Runtime,
    sdk: &aws_config::SdkConfig,
    endpoint: &str,
    function: &str,
) -> Vec<(String, String)> {
    let conf = rt
        .block_on(
            aws_sdk_lambda::Client::new(sdk)
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
        ("AWS_ENDPOINT_URL".to_string(), endpoint.to_string()),
        ("AWS_ACCESS_KEY_ID".to_string(), "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY".to_string(), "testing".to_string()),
    ]);
    v
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
    edit_stack(&dir, "model_refresh_s: 30", "model_refresh_s: 2", &hook);
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
    let vars = |function: &str| deployed_vars(&rt, &sdk, &endpoint, function);
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
    // `mlinfra invoke etl --s3-key KEY` with that package, and `extra` flags.
    let invoke_other = |extra: &[&str]| {
        let mut args = vec![
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
        ];
        args.extend_from_slice(extra);
        cli::run(&dir, &args)
    };
    let (code, out, err) = invoke_other(&[]);
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
    // `--local-build` runs the package that is not the deployed code anyway, unpacked under the
    // environment's directory that the relative stack path names (the same object again:
    // already curated).
    let (code, out, err) = invoke_other(&["--local-build"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["objects"][0]["outcome"], "skipped", "{r}");

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
    let predict = executor("predict", tmp.path(), &vars("predict"));
    let body = |r: &Value| -> Value { serde_json::from_str(r["body"].as_str().unwrap()).unwrap() };
    let instances = example_instances();
    let answer = predicted(&rt, &predict, "p-1", &instances);
    assert_eq!(answer["model"]["version"], 1, "{answer}");
    assert_eq!(answer["model"]["stage"], "Production", "{answer}");
    // The same probabilities as the registered ONNX file in S3, run by tract here.
    let onnx = object(&format!("models/heart-disease/{run}/model.onnx")).unwrap();
    same_as_tract(&onnx, &instances, &answer);

    // Cold starts against the emulator: exec of the packaged bootstrap -> the `CURRENT` item
    // read from DynamoDB, the model read from S3 and checked -> the first prediction answered.
    // `MLINFRA_COLDSTART_RUNS=N` measures N starts (`make bench` does 30).
    let runs: usize = std::env::var("MLINFRA_COLDSTART_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let predict_vars = vars("predict");
    let mut cold = Vec::new();
    for i in 0..runs {
        let ex = executor("predict", &tmp.path().join("cold"), &predict_vars);
        let id = format!("cold-{i}");
        let t0 = Instant::now();
        let r = respond(&rt, &ex, &id, &apigw_event(&id, "/predict", &instances));
        cold.push(t0.elapsed());
        assert_eq!(body(&r)["model"]["version"], 1);
        rt.block_on(ex.shutdown(Duration::from_secs(2)));
    }
    cold.sort();
    println!(
        "predict cold start on S3 + DynamoDB (moto): median {:.1} ms over {runs} runs (min {:.1}, max {:.1})",
        cold[cold.len() / 2].as_secs_f64() * 1e3,
        cold[0].as_secs_f64() * 1e3,
        cold[cold.len() - 1].as_secs_f64() * 1e3
    );

    // Feedback on that prediction goes to the lake's `feedback/` in S3.
    let feedback = apigw_event(
        "f-1",
        "/feedback",
        &json!({"request_id": "p-1", "label": 1}),
    );
    let r = respond(&rt, &predict, "f-1", &feedback);
    assert_eq!(r["statusCode"], 202, "{r}");
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
    let r = invoke(&["train", "--schedule", "retrain"]);
    assert_eq!(r["registered_version"], 2, "{r}");
    let request = r["request"].as_str().unwrap().to_string();
    cloud(&["models", "approve", &request, "--as", "bob"]);
    let approved = Instant::now();
    let mut n = 0;
    let swapped = loop {
        n += 1;
        let id = format!("p-swap-{n}");
        let answer = body(&respond(
            &rt,
            &predict,
            &id,
            &apigw_event(&id, "/predict", &instances),
        ));
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
    let shifted = shifted_traffic();
    let load = apigw_event("p-load", "/predict", &json!({ "instances": shifted }));
    assert_eq!(
        body(&respond(&rt, &predict, "p-load", &load))["predictions"]
            .as_array()
            .unwrap()
            .len(),
        40
    );

    // The sampled predictions are in S3: the earlier ones by age, the last one (sent just
    // before the shutdown signal) flushed at shutdown.
    let last = "p-load".to_string();
    assert_eq!(
        predict.extensions(),
        vec!["mlinfra-shutdown".to_string()],
        "the predict function registers for the shutdown signal"
    );
    let ends = rt.block_on(predict.shutdown(Duration::from_secs(5)));
    assert_eq!(
        ends,
        ["exit status: 0"],
        "predict at the shutdown (SIGTERM)"
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
    let monitor = executor("monitor", tmp.path(), &vars("monitor"));
    let scheduled = fixture("eventbridge-scheduled.json");
    let r = respond(&rt, &monitor, "req-1", &scheduled);
    let report = r["report"].as_str().unwrap();
    assert!(object(report).is_some(), "{report}");
    assert_eq!(r["dataset_drift"], true, "{r}");
    assert_eq!(r["alert_delivered"], true, "{r}");
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
    assert_eq!(r["retrain"], true, "{r}");
    assert_eq!(r["retrained"]["invoked"], "heart-disease-train:live", "{r}");
    assert_eq!(r["retrained"]["status"], 202, "{r}");
    // A second monitor run within the cooldown does not start another retraining.
    let r = respond(&rt, &monitor, "req-2", &scheduled);
    assert_eq!(r["retrain"], false, "{r}");
    assert!(r["retrained"].is_null(), "{r}");
}

/// The whole loop through `mlinfra serve --env localstack` on the moto server, every function
/// run by the executor and every event delivered as AWS would: `up` → `data ingest` → the ETL
/// started by the bucket's notification → `invoke train --schedule retrain` → version 1 →
/// request by one person, approval by another → `POST https://…/v1/predict` with the API key
/// (the same probabilities as tract on the registered model) → feedback → shifted traffic → the
/// monitor's rule fires (`rate(1 minute)` here) → the alert published to SNS → `train` invoked
/// by `monitor` through the Lambda `Invoke` API served here → version 2 in Staging with
/// Production requested. Checked through the HTTP answers, S3, DynamoDB (the CLI's registry
/// verbs) and the SNS subscription's deliveries.
#[test]
fn the_whole_loop_runs_through_serve_on_the_cloud_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("project");
    project(&dir);
    let hook = webhook();
    edit_stack(
        &dir,
        "expression: rate(1 day)",
        "expression: rate(1 minute)",
        &hook,
    );
    let env = CloudEnv::new(&dir, "mlinfra-heart-disease-lake");
    let base = env.base();
    let cloud = |args: &[&str]| env.run(args);
    let object = |k: &str| env.object(k);
    cloud(&["up", "--yes"]);
    let wait_for = |what: &str, secs: u64, mut done: Box<dyn FnMut() -> bool + '_>| {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !done() {
            assert!(Instant::now() < deadline, "{what}: not within {secs} s");
            std::thread::sleep(Duration::from_millis(250));
        }
    };

    // serve: the deployed API over HTTPS, the functions run here.
    let served = CloudServe::start(&dir, &base);
    let port = served.port;
    let cert = served.cert.clone();
    let log = || served.log();
    let logged = |s: &str| assert!(log().contains(s), "no `{s}` in serve's output:\n{}", log());
    logged("rule `heart-disease-monitor`: `rate(1 minute)` -> heart-disease-monitor");
    logged("s3://mlinfra-heart-disease-lake/raw/…: new objects -> heart-disease-etl");

    // data ingest: the object under raw/ is curated by the ETL the notification starts.
    let csv = dir.join("examples/heart-disease/processed.cleveland.csv");
    cloud(&["data", "ingest", csv.to_str().unwrap()]);
    wait_for(
        "curated/latest.json",
        60,
        Box::new(|| object("curated/latest.json").is_some()),
    );

    // train on the weekly rule's event, then the two-person approval.
    let r: Value =
        serde_json::from_str(&cloud(&["invoke", "train", "--schedule", "retrain"])).unwrap();
    assert_eq!(r["registered_version"], 1, "{r}");
    let run = r["run_id"].as_str().unwrap().to_string();
    let request = r["request"].as_str().unwrap().to_string();
    cloud(&["models", "approve", &request, "--as", "bob"]);

    // predict through the HTTPS front, with the deployed API key.
    let key = env.api_key("heart-disease-key");
    let post = |path: &str, body: &Value| -> (u16, Value) {
        let url = format!("https://localhost:{port}/v1{path}");
        cli::https_post(&cert, &url, Some(&key), &body.to_string())
    };
    let instances: Value =
        serde_json::from_str(fixture("apigw-predict.json")["body"].as_str().unwrap()).unwrap();
    let (code, answer) = post("/predict", &instances);
    assert_eq!(code, 200, "{answer}\n{}", log());
    assert_eq!(answer["model"]["version"], 1, "{answer}");
    let onnx = object(&format!("models/heart-disease/{run}/model.onnx")).unwrap();
    same_as_tract(&onnx, &instances, &answer);
    let request_id = answer["request_id"].as_str().unwrap().to_string();
    let (code, fb) = post("/feedback", &json!({"request_id": request_id, "label": 1}));
    assert_eq!(code, 202, "{fb}");
    assert!(object(&format!("feedback/{request_id}.json")).is_some());

    // New data, then traffic far from the training data's; the monitor's rule fires within its
    // minute, alerts, and starts `train` through the Invoke API served here.
    let text = std::fs::read_to_string(&csv).unwrap();
    let week = dir.join("week-2.csv");
    let mut rows: Vec<&str> = text.lines().take(1).collect();
    rows.extend(text.lines().skip(101).take(100));
    std::fs::write(&week, rows.join("\n") + "\n").unwrap();
    cloud(&["data", "ingest", week.to_str().unwrap()]);
    let shifted = shifted_traffic();
    let (code, _) = post("/predict", &json!({ "instances": shifted }));
    assert_eq!(code, 200);
    let before = hook.notifications().len();
    let version_2 = || {
        let (code, out, _) = cli::run(
            &dir,
            &[&base[..], &["models", "list", "--output", "json"]].concat(),
        );
        code == 0 && out.contains("\"version\": 2")
    };
    wait_for(
        "version 2 trained by the monitor's retraining",
        240,
        Box::new(version_2),
    );
    // serve logs an event's delivery when the function has answered, which can be a moment
    // after train registered version 2.
    for line in [
        "Invoke (Event) -> heart-disease-train",
        "rule `heart-disease-monitor` -> heart-disease-monitor",
    ] {
        wait_for(line, 60, Box::new(|| log().contains(line)));
    }
    let notes = hook.notifications();
    assert!(notes.len() > before, "no alert published: {notes:?}");
    assert!(
        notes.iter().any(|n| n["TopicArn"]
            .as_str()
            .is_some_and(|t| t.ends_with(":heart-disease-alerts"))),
        "{notes:?}"
    );
    drop(served);
}

/// A project's cloud environment on the moto server: the CLI's arguments (`--env localstack`,
/// the endpoint, the packaged artifacts), and the SDK reading what the platform wrote.
struct CloudEnv {
    dir: PathBuf,
    endpoint: String,
    artifacts: String,
    bucket: String,
    rt: tokio::runtime::Runtime,
    sdk: aws_config::SdkConfig,
    s3: aws_sdk_s3::Client,
}

impl CloudEnv {
    /// The environment of the project in `dir`, whose lake is the bucket `bucket`.
    fn new(dir: &Path, bucket: &str) -> CloudEnv {
        let endpoint = moto::server().endpoint.clone();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let sdk = rt.block_on(moto::sdk_config(&endpoint));
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        );
        CloudEnv {
            dir: dir.to_path_buf(),
            endpoint,
            artifacts: cli::artifacts().to_str().unwrap().to_string(),
            bucket: bucket.to_string(),
            rt,
            sdk,
            s3,
        }
    }

    /// The arguments that put the CLI on this environment.
    fn base(&self) -> [&str; 6] {
        [
            "--env",
            "localstack",
            "--endpoint",
            &self.endpoint,
            "--artifacts",
            &self.artifacts,
        ]
    }

    /// `mlinfra` with `args` on this environment, which must succeed; its standard output.
    fn run(&self, args: &[&str]) -> String {
        ok(&self.dir, &[&self.base()[..], args].concat())
    }

    /// The lake's object `key`, when it exists.
    fn object(&self, key: &str) -> Option<Vec<u8>> {
        let o = self
            .rt
            .block_on(self.s3.get_object().bucket(&self.bucket).key(key).send())
            .ok()?;
        Some(
            self.rt
                .block_on(o.body.collect())
                .unwrap()
                .into_bytes()
                .to_vec(),
        )
    }

    /// The value of the deployed API key `name`.
    fn api_key(&self, name: &str) -> String {
        self.rt
            .block_on(
                aws_sdk_apigateway::Client::new(&self.sdk)
                    .get_api_keys()
                    .name_query(name)
                    .include_values(true)
                    .send(),
            )
            .unwrap()
            .items
            .unwrap_or_default()
            .into_iter()
            .find_map(|k| k.value)
            .unwrap()
    }
}

/// `mlinfra serve` on the cloud environment (`base`: `--env localstack --endpoint ...`): the
/// deployed API over HTTPS with its self-signed certificate, the functions run here; stopped
/// with SIGINT when dropped.
struct CloudServe {
    child: std::process::Child,
    port: u16,
    cert: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl CloudServe {
    fn start(dir: &Path, base: &[&str]) -> CloudServe {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut full = base.to_vec();
        let port_text = port.to_string();
        full.extend_from_slice(&["serve", "--port", &port_text]);
        let mut command = cli::command(dir, &full);
        command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().unwrap();
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let kept = Arc::clone(&lines);
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                kept.lock().unwrap().push(line);
            }
        });
        let mut served = CloudServe {
            child,
            port,
            cert: String::new(),
            lines,
        };
        let listening = format!("listening on https://127.0.0.1:{port}/v1/");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !served.log().contains(&listening) {
            assert!(
                Instant::now() < deadline,
                "serve not listening within 60 s:\n{}",
                served.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        served.cert = served
            .log()
            .lines()
            .find_map(|l| l.split_once("self-signed certificate for "))
            .and_then(|(_, rest)| rest.split_once(": "))
            .map(|(_, p)| p.split(" (").next().unwrap().to_string())
            .unwrap();
        served
    }

    /// What serve has written to its standard error so far.
    fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
}

impl Drop for CloudServe {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Temporary credentials of a function's execution role, as Lambda hands them to it.
struct RoleCredentials {
    access_key: String,
    secret: String,
    token: String,
}

/// Least privilege, proven by running: with IAM enforced by the emulator (every request signed
/// by a known identity and allowed by its policies, checked against the ARNs it touches, with
/// the `s3:prefix` conditions), each packaged function runs its whole job with only its own
/// role's credentials — ETL curates, train registers and notifies, predict serves, takes
/// feedback and logs, monitor reports, alerts and starts `train:live` — and calls outside a
/// role's policy are denied: a function run with another's role fails naming the denial, a
/// role lists only its own prefixes, publishes and invokes only what its policy names, and
/// credentials the emulator never issued are refused.
#[test]
fn each_function_works_with_only_its_own_role_and_a_call_outside_it_is_denied() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("project");
    project(&dir);
    let hook = webhook();
    edit_stack(&dir, "model_refresh_s: 30", "model_refresh_s: 30", &hook);
    let moto = moto::enforcing_server();
    let endpoint = moto.endpoint.clone();
    let artifacts = cli::artifacts();
    let artifacts = artifacts.to_str().unwrap().to_string();
    let cloud_as = |creds: Option<(&str, &str)>, args: &[&str]| -> String {
        let mut full = vec!["--env", "localstack", "--endpoint", &endpoint];
        full.extend_from_slice(&["--artifacts", &artifacts]);
        full.extend_from_slice(args);
        let mut c = cli::command(&dir, &full);
        if let Some((key, secret)) = creds {
            c.env("AWS_ACCESS_KEY_ID", key)
                .env("AWS_SECRET_ACCESS_KEY", secret);
        }
        let (code, out, err) = cli::output(c);
        assert_eq!(code, 0, "mlinfra {full:?}:\n{out}\n{err}");
        out
    };
    cloud_as(None, &["up", "--yes"]);

    // Before enforcement: an administrator for the CLI and the test's own reads, and each
    // function's role assumed (Lambda's part: only `lambda.amazonaws.com` may assume them).
    let open = rt.block_on(moto::sdk_config(&endpoint));
    let iam = aws_sdk_iam::Client::new(&open);
    rt.block_on(iam.create_user().user_name("operator").send())
        .unwrap();
    rt.block_on(
        iam.put_user_policy()
            .user_name("operator")
            .policy_name("everything")
            .policy_document(
                json!({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": "*", "Resource": "*"}]})
                .to_string(),
            )
            .send(),
    )
    .unwrap();
    let key = rt
        .block_on(iam.create_access_key().user_name("operator").send())
        .unwrap()
        .access_key
        .unwrap();
    let admin = (key.access_key_id, key.secret_access_key);
    let lambda_open = aws_sdk_lambda::Client::new(&open);
    let sts = aws_sdk_sts::Client::new(&open);
    let mut roles = std::collections::HashMap::new();
    for f in ["etl", "train", "predict", "monitor"] {
        let conf = rt
            .block_on(
                lambda_open
                    .get_function_configuration()
                    .function_name(format!("heart-disease-{f}"))
                    .send(),
            )
            .unwrap();
        let c = rt
            .block_on(
                sts.assume_role()
                    .role_arn(conf.role.unwrap())
                    .role_session_name(format!("heart-disease-{f}"))
                    .send(),
            )
            .unwrap()
            .credentials
            .unwrap();
        let vars: Vec<(String, String)> = conf
            .environment
            .and_then(|e| e.variables)
            .unwrap_or_default()
            .into_iter()
            .collect();
        let creds = RoleCredentials {
            access_key: c.access_key_id,
            secret: c.secret_access_key,
            token: c.session_token,
        };
        roles.insert(f, (vars, creds));
    }
    let bucket = "mlinfra-heart-disease-lake";
    let raw_key = fixture("s3-put-raw.json")["Records"][0]["s3"]["object"]["key"]
        .as_str()
        .unwrap()
        .to_string();
    let csv = std::fs::read(dir.join("examples/heart-disease/processed.cleveland.csv")).unwrap();

    moto.enforce_iam();

    // Credentials nobody issued are refused; the operator's are accepted.
    let s3_of = |conf: &aws_config::SdkConfig| {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(conf)
                .force_path_style(true)
                .build(),
        )
    };
    let unknown = s3_of(&open);
    let refused = rt
        .block_on(unknown.list_objects_v2().bucket(bucket).send())
        .unwrap_err();
    assert_eq!(refused.code(), Some("InvalidAccessKeyId"), "{refused:?}");
    let operator = s3_of(&rt.block_on(moto::sdk_config_as(&endpoint, &admin.0, &admin.1, None)));
    rt.block_on(
        operator
            .put_object()
            .bucket(bucket)
            .key(&raw_key)
            .body(csv.into())
            .send(),
    )
    .unwrap();
    let object = |k: &str| -> Option<Vec<u8>> {
        rt.block_on(operator.get_object().bucket(bucket).key(k).send())
            .ok()
            .map(|o| rt.block_on(o.body.collect()).unwrap().into_bytes().to_vec())
    };
    let as_operator = |args: &[&str]| cloud_as(Some((&admin.0, &admin.1)), args);
    // The CLI with credentials the endpoint does not know says so, not "no message".
    let (code, out, err) = cli::run(
        &dir,
        &[
            "--env",
            "localstack",
            "--endpoint",
            &endpoint,
            "models",
            "list",
        ],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("access denied") && !err.contains("no message"),
        "{err}"
    );

    // Each function's environment as deployed, with `role`'s credentials.
    let vars = |function: &str, role: &str| -> Vec<(String, String)> {
        let mut v = roles[function].0.clone();
        let c = &roles[role].1;
        v.extend([
            ("AWS_ENDPOINT_URL".to_string(), endpoint.clone()),
            ("AWS_ACCESS_KEY_ID".to_string(), c.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), c.secret.clone()),
            ("AWS_SESSION_TOKEN".to_string(), c.token.clone()),
        ]);
        v
    };
    let role_sdk = |role: &str| {
        let c = &roles[role].1;
        rt.block_on(moto::sdk_config_as(
            &endpoint,
            &c.access_key,
            &c.secret,
            Some(c.token.clone()),
        ))
    };

    // A function run with another function's role fails, naming the denial, and writes nothing.
    let s3_event = fixture("s3-put-raw.json");
    let wrong = executor("etl", &tmp.path().join("wrong"), &vars("etl", "predict"));
    let f = failure(&rt, &wrong, "wrong-role", &s3_event);
    assert!(f.message.contains("Access Denied (AccessDenied)"), "{f}");
    assert!(object("curated/latest.json").is_none());

    // etl with its own role: the S3 event curates the object.
    let etl = executor("etl", tmp.path(), &vars("etl", "etl"));
    let r = respond(&rt, &etl, "etl-1", &s3_event);
    assert_eq!(r["objects"][0]["outcome"], "curated", "{r}");
    assert!(object("curated/latest.json").is_some());

    // train with its own role: the weekly event trains, registers in DynamoDB and notifies.
    let train = executor("train", tmp.path(), &vars("train", "train"));
    let scheduled = fixture("eventbridge-scheduled.json");
    let r = respond(&rt, &train, "train-1", &scheduled);
    assert_eq!(r["registered_version"], 1, "{r}");
    let request = r["request"].as_str().unwrap().to_string();
    as_operator(&["models", "approve", &request, "--as", "bob"]);

    // predict with its own role: the Production model from S3, feedback, sampled logs.
    let predict = executor("predict", tmp.path(), &vars("predict", "predict"));
    let answer = predicted(&rt, &predict, "p-1", &example_instances());
    assert_eq!(answer["model"]["version"], 1, "{answer}");
    let feedback = apigw_event(
        "f-1",
        "/feedback",
        &json!({"request_id": "p-1", "label": 1}),
    );
    let r = respond(&rt, &predict, "f-1", &feedback);
    assert_eq!(r["statusCode"], 202, "{r}");
    assert!(object("feedback/p-1.json").is_some());
    let load = apigw_event(
        "p-load",
        "/predict",
        &json!({ "instances": shifted_traffic() }),
    );
    assert_eq!(respond(&rt, &predict, "p-load", &load)["statusCode"], 200);
    assert_eq!(
        rt.block_on(predict.shutdown(Duration::from_secs(5))),
        ["exit status: 0"]
    );
    let logged = rt
        .block_on(
            operator
                .list_objects_v2()
                .bucket(bucket)
                .prefix("predictions/")
                .send(),
        )
        .unwrap()
        .key_count
        .unwrap_or(0);
    assert!(logged > 0, "no prediction logs in S3");

    // monitor with its own role: new data arrived, traffic shifted → report, alert, retraining
    // started by invoking `train:live`.
    let text = String::from_utf8(
        std::fs::read(dir.join("examples/heart-disease/processed.cleveland.csv")).unwrap(),
    )
    .unwrap();
    let week = dir.join("week-2.csv");
    std::fs::write(
        &week,
        text.lines().take(101).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    as_operator(&["data", "ingest", week.to_str().unwrap()]);
    let monitor = executor("monitor", tmp.path(), &vars("monitor", "monitor"));
    let r = respond(&rt, &monitor, "m-1", &scheduled);
    assert!(object(r["report"].as_str().unwrap()).is_some(), "{r}");
    assert_eq!(r["alert_delivered"], true, "{r}");
    assert!(
        hook.notifications().iter().any(|n| n["Message"]
            .as_str()
            .unwrap_or("")
            .contains(r["report"].as_str().unwrap())),
        "the monitor's alert reached the topic's subscriber"
    );
    assert_eq!(r["retrained"]["invoked"], "heart-disease-train:live", "{r}");
    assert_eq!(r["retrained"]["status"], 202, "{r}");

    // Calls outside each policy are denied, each with the service's own error code.
    let train_s3 = s3_of(&role_sdk("train"));
    // The listing's error code, if any.
    let list = |prefix: &str| {
        rt.block_on(
            train_s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .send(),
        )
        .map(|_| ())
        .map_err(|e| e.code().map(str::to_string))
    };
    assert_eq!(list("curated/"), Ok(()));
    assert_eq!(list("raw/"), Err(Some("AccessDenied".to_string())));
    let put = train_s3
        .put_object()
        .bucket(bucket)
        .key("curated/latest.json")
        .body(b"{}".to_vec().into());
    denied(rt.block_on(put.send()), "AccessDenied");
    let publish = aws_sdk_sns::Client::new(&role_sdk("predict"))
        .publish()
        .topic_arn("arn:aws:sns:us-east-1:123456789012:heart-disease-alerts")
        .message("not mine to send");
    denied(rt.block_on(publish.send()), "AuthorizationError");
    let invoke = aws_sdk_lambda::Client::new(&role_sdk("monitor"))
        .invoke()
        .function_name("heart-disease-predict");
    denied(rt.block_on(invoke.send()), "AccessDeniedException");
    use aws_sdk_dynamodb::types::AttributeValue::S;
    let delete = aws_sdk_dynamodb::Client::new(&role_sdk("predict"))
        .delete_item()
        .table_name("heart-disease-registry")
        .key("pk", S("MODEL#heart-disease".into()))
        .key("sk", S("CURRENT".into()));
    denied(rt.block_on(delete.send()), "AccessDeniedException");
}

/// The call failed with the error code `code`.
fn denied<T: std::fmt::Debug, E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug>(
    result: Result<T, E>,
    code: &str,
) {
    let e = result.unwrap_err();
    assert_eq!(e.code(), Some(code), "{e:?}");
}

/// Each prediction's probabilities (by class name) within `tolerance` of the softmax of the
/// reference's logits (onnxruntime's, row after row).
fn same_as_softmax(preds: &[Value], logits: &Value, classes: &[&str], tolerance: f64) {
    assert_eq!(preds.len(), logits.as_array().map_or(0, Vec::len));
    for (i, p) in preds.iter().enumerate() {
        let z: Vec<f64> = logits[i]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let max = z.iter().copied().fold(f64::MIN, f64::max);
        let sum: f64 = z.iter().map(|v| (v - max).exp()).sum();
        for (c, class) in classes.iter().enumerate() {
            let served = p["probabilities"][class].as_f64().unwrap();
            let theirs = (z[c] - max).exp() / sum;
            assert!(
                (served - theirs).abs() <= tolerance,
                "row {i} {class}: {served} vs {theirs}"
            );
        }
    }
}

/// A model exported by its own tool, imported on S3 and DynamoDB (moto) and approved into
/// Production by a second person: `files` copied from `tests/fixtures/imported/` (a folder with
/// its files), the card `models import` writes edited by `card`, evaluated on `data`'s `label`.
struct Imported {
    rt: tokio::runtime::Runtime,
    // Holds the project and the unpacked bootstraps until the test ends.
    tmp: tempfile::TempDir,
    dir: PathBuf,
    base: Vec<String>,
    /// The last `models import`'s JSON outcome.
    import: Value,
    /// The predict bootstrap, started after the last version's approval.
    serving: Option<Executor>,
}

impl Imported {
    fn new(
        files: &[&str],
        model: &str,
        card: &dyn Fn(String) -> String,
        data: &str,
        label: &str,
    ) -> Imported {
        let mut m = Imported::up(&|stack| stack);
        m.approved(files, model, card, data, label);
        m
    }

    /// The example project, its stack file edited by `stack`, deployed (`up`): nothing
    /// imported yet.
    fn up(stack: &dyn Fn(String) -> String) -> Imported {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("project");
        project(&dir);
        let file = dir.join("stacks/heart-disease.yaml");
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, stack(text)).unwrap();
        let endpoint = moto::server().endpoint.clone();
        let base: Vec<String> = [
            "--env",
            "localstack",
            "--endpoint",
            endpoint.as_str(),
            "--artifacts",
            cli::artifacts().to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (code, _, err) = cli::output(cli::command(
            &dir,
            &[
                base.iter().map(String::as_str).collect(),
                vec!["up", "--yes"],
            ]
            .concat(),
        ));
        assert_eq!(code, 0, "{err}");
        Imported {
            rt,
            tmp,
            dir,
            base,
            import: Value::Null,
            serving: None,
        }
    }

    /// Import `model` as the next version (see [`Imported::new`]), have it approved into
    /// Production, and start a predict bootstrap that serves it.
    fn approved(
        &mut self,
        files: &[&str],
        model: &str,
        card: &dyn Fn(String) -> String,
        data: &str,
        label: &str,
    ) {
        let fixtures = cli::repo_root().join("tests/fixtures/imported");
        for f in files {
            let from = match std::env::var_os("MLINFRA_TEXT_MODEL") {
                Some(p) if *f == "text_classifier.onnx" => PathBuf::from(p),
                _ => fixtures.join(f),
            };
            let to = self.dir.join(f);
            if from.is_dir() {
                std::fs::create_dir_all(&to).unwrap();
                for e in std::fs::read_dir(&from).unwrap() {
                    let e = e.unwrap();
                    std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
                }
            } else {
                std::fs::copy(from, to).unwrap();
            }
        }
        let (code, _, err) = self.run(&["models", "import", model]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("wrote the card"), "{err}");
        let card_path = self.dir.join(model.replace(".onnx", ".card.yaml"));
        let text = std::fs::read_to_string(&card_path).unwrap();
        std::fs::write(&card_path, card(text)).unwrap();
        let (code, out, err) = self.run(&[
            "models", "import", model, "--data", data, "--label", label, "--as", "alice",
            "--output", "json",
        ]);
        assert_eq!(code, 0, "{out}{err}");
        self.import = serde_json::from_str(&out).unwrap();
        let version = self.import["registered"]["version"].to_string();
        assert_ne!(version, "null", "{out}");
        let (code, out, err) = self.run(&[
            "models",
            "request",
            &version,
            "--to",
            "production",
            "--as",
            "alice",
            "--output",
            "json",
        ]);
        assert_eq!(code, 0, "{out}{err}");
        let request: Value = serde_json::from_str(&out).unwrap();
        let (code, out, err) = self.run(&[
            "models",
            "approve",
            request["id"].as_str().unwrap(),
            "--as",
            "bob",
        ]);
        assert_eq!(code, 0, "{out}{err}");
        let endpoint = &moto::server().endpoint;
        let sdk = self.rt.block_on(moto::sdk_config(endpoint));
        let vars = deployed_vars(&self.rt, &sdk, endpoint, "predict");
        let dir = self.tmp.path().join(format!("v{version}"));
        self.serving = Some(executor("predict", &dir, &vars));
    }

    /// The predict bootstrap serving the last version approved.
    fn predict(&self) -> &Executor {
        self.serving.as_ref().unwrap()
    }

    /// `mlinfra --env localstack … ARGS` in the project: (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let base: Vec<&str> = self.base.iter().map(String::as_str).collect();
        cli::output(cli::command(&self.dir, &[&base[..], args].concat()))
    }

    fn predicted(&self, id: &str, body: &Value) -> Value {
        predicted(&self.rt, self.predict(), id, body)
    }
}

/// A model trained elsewhere (a scikit-learn pipeline exported by skl2onnx with its defaults,
/// `tests/fixtures/imported/`) imported on the cloud environment against the moto server: its
/// card written from the graph, then the import with labelled data registers it in DynamoDB
/// with its file in S3; after a second person's approval the packaged `predict` bootstrap
/// answers an API Gateway event with the probabilities onnxruntime gives (within 1e-5).
#[test]
fn an_imported_model_is_served_by_the_predict_bootstrap_on_s3_and_dynamodb() {
    let m = Imported::new(
        &["sklearn_pipeline.onnx", "heart.csv"],
        "sklearn_pipeline.onnx",
        &|card| card,
        "heart.csv",
        "target",
    );
    let uri = m.import["registered"]["artifact_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("s3://mlinfra-heart-disease-lake/models/heart-disease/import-"),
        "{uri}"
    );
    let dir = &m.dir;
    let instances = heart_instances(dir, 10, None);
    let answer = m.predicted("i-1", &json!({ "instances": instances }));
    assert_eq!(answer["model"]["version"], 1, "{answer}");
    let ort = onnxruntime(
        &dir.join("sklearn_pipeline.onnx"),
        &dir.join("heart.csv"),
        "",
    );
    assert_eq!(
        answer["predictions"].as_array().unwrap().len(),
        10,
        "{answer}"
    );
    same_probabilities("sklearn_pipeline", &answer["predictions"], &ort, 1e-5);
}

/// Tree ensembles exported by their own tools with their defaults (LightGBM's and XGBoost's by
/// onnxmltools, scikit-learn's forest by skl2onnx), imported one after the other on S3 and
/// DynamoDB (moto), each blessed against the last in Production and approved, then answered by
/// the packaged predict bootstrap with onnxruntime's probabilities (within 1e-5).
#[test]
fn tree_ensembles_from_each_tool_are_served_by_the_predict_bootstrap() {
    let numeric = ["age", "trestbps", "chol", "thalach", "oldpeak"];
    let named = |mut card: String| {
        for (i, c) in numeric.iter().enumerate() {
            card = card.replace(&format!("\"feature_{i}\""), c);
        }
        card
    };
    // In the order of their roc_auc on heart.csv, so that each is blessed against the last.
    let models = ["lightgbm.onnx", "random_forest.onnx", "xgboost.onnx"];
    let mut m = Imported::new(
        &[models[0], "heart.csv"],
        models[0],
        &named,
        "heart.csv",
        "target",
    );
    for (i, model) in models.iter().enumerate() {
        if i > 0 {
            m.approved(&[model], model, &named, "heart.csv", "target");
        }
        let instances = heart_instances(&m.dir, 25, Some(&numeric));
        let answer = m.predicted(&format!("{model}-1"), &json!({ "instances": instances }));
        assert_eq!(answer["model"]["version"], i + 1, "{model}: {answer}");
        let ort = onnxruntime(
            &m.dir.join(model),
            &m.dir.join("heart.csv"),
            &numeric.join(","),
        );
        assert_eq!(
            answer["predictions"].as_array().unwrap().len(),
            instances.len(),
            "{model}: {answer}"
        );
        same_probabilities(model, &answer["predictions"], &ort, 1e-5);
    }
}

/// A scikit-learn regressor (skl2onnx's defaults) imported into a regression stack on S3 and
/// DynamoDB (moto), blessed on RMSE and approved: the packaged predict bootstrap answers each
/// row's value as onnxruntime predicts it, and takes the true value as feedback.
#[test]
fn a_regressor_is_served_its_values_by_the_predict_bootstrap() {
    let columns = ["age", "trestbps", "thalach", "oldpeak"];
    let mut m = Imported::up(&|stack| regression_stack(&stack));
    m.approved(
        &["gradient_boosting_regressor.onnx", "heart.csv"],
        "gradient_boosting_regressor.onnx",
        &|mut card| {
            for (i, c) in columns.iter().enumerate() {
                card = card.replace(&format!("\"feature_{i}\""), c);
            }
            card
        },
        "heart.csv",
        "chol",
    );
    assert_eq!(m.import["evaluation"]["task"], "regression", "{}", m.import);
    assert_eq!(m.import["blessing"]["metric"], "rmse", "{}", m.import);
    let instances = heart_instances(&m.dir, 25, Some(&columns));
    let answer = m.predicted("r-1", &json!({ "instances": instances }));
    let ort = onnxruntime(
        &m.dir.join("gradient_boosting_regressor.onnx"),
        &m.dir.join("heart.csv"),
        &columns.join(","),
    );
    assert_eq!(
        answer["predictions"].as_array().unwrap().len(),
        25,
        "{answer}"
    );
    same_values(&answer["predictions"], &ort, "variable", 1e-5);
    // The interval calibrated at import travels in the registered file.
    let half_width = m.import["interval"]["half_width"].as_f64().unwrap();
    let p0 = &answer["predictions"][0];
    let v = p0["value"].as_f64().unwrap();
    assert_eq!(p0["interval"]["level"], 0.9, "{p0}");
    assert!(
        (p0["interval"]["high"].as_f64().unwrap() - (v + half_width)).abs() < 1e-9,
        "{p0}"
    );
    let id = answer["request_id"].as_str().unwrap();
    let r = respond(
        &m.rt,
        m.predict(),
        "r-2",
        &apigw_event(
            "r-2",
            "/feedback",
            &json!({"request_id": id, "label": 241.5}),
        ),
    );
    assert_eq!(r["statusCode"], 202, "{r}");
}

/// A Hugging Face text classifier imported on S3 and DynamoDB (moto) is served by the packaged
/// predict bootstrap: the tokenizer inside the registered file, the texts tokenized in the
/// function as the Python tokenizer does, onnxruntime's probabilities (within 1e-4).
#[test]
fn a_text_model_is_served_by_the_predict_bootstrap_on_s3_and_dynamodb() {
    // `MLINFRA_TEXT_MODEL=FILE` serves another BERT of the same tokenizer (`make bench`'s cold
    // start of a ~20 MB model); `MLINFRA_COLDSTART_RUNS=N` measures N cold starts.
    let m = Imported::new(
        &["text_classifier.onnx", "tokenizer.json", "tweets.csv"],
        "text_classifier.onnx",
        &|card| {
            card.replace("max_length: 128", "max_length: 16")
                .replace("[\"0\", \"1\", \"2\"]", "[fire, flood, other]")
        },
        "tweets.csv",
        "label",
    );
    let dir = &m.dir;
    let texts = [
        "Fire near the café in São Paulo 🔥",
        "洪水 warning: water rising in 京都",
        "Crème brûlée at Málaga ☕😎 Crème brûlée at Málaga ☕😎 Crème brûlée at Málaga ☕😎",
    ];
    let instances: Vec<Value> = texts.iter().map(|t| json!({ "text": t })).collect();
    let runs: usize = std::env::var("MLINFRA_COLDSTART_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if runs > 0 {
        let vars = m.predict().spec().env.clone();
        let mut cold = Vec::new();
        for i in 0..runs {
            // A new instance: the first request reads the model from S3, loads and answers.
            let place = m.dir.with_file_name(format!("cold-{i}"));
            std::fs::create_dir_all(&place).unwrap();
            let ex = executor("predict", &place, &vars);
            let t0 = Instant::now();
            let r = respond(
                &m.rt,
                &ex,
                &format!("c-{i}"),
                &apigw_event(
                    &format!("c-{i}"),
                    "/predict",
                    &json!({ "instances": instances }),
                ),
            );
            cold.push(t0.elapsed());
            assert_eq!(r["statusCode"], 200, "{r}");
        }
        cold.sort();
        let bytes = std::fs::metadata(dir.join("text_classifier.onnx"))
            .unwrap()
            .len();
        println!(
            "text model ({bytes} bytes) cold start, exec to first answer: median {:?} of {runs} (min {:?}, max {:?})",
            cold[runs / 2],
            cold[0],
            cold[runs - 1]
        );
    }
    let answer = m.predicted("t-1", &json!({ "instances": instances }));
    assert_eq!(answer["model"]["version"], 1, "{answer}");
    let mut child = Command::new(cli::repo_root().join(".venv/bin/python"))
        .arg(cli::repo_root().join("python/text_run.py"))
        .arg(dir.join("text_classifier.onnx"))
        .arg(dir.join("tokenizer.json"))
        .arg("16")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(serde_json::to_string(&texts).unwrap().as_bytes())
            .unwrap();
    }
    let reference: Value =
        serde_json::from_slice(&child.wait_with_output().unwrap().stdout).unwrap();
    let preds = answer["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 3, "{answer}");
    same_as_softmax(
        preds,
        &reference["logits"],
        &["fire", "flood", "other"],
        1e-4,
    );
    for (i, p) in preds.iter().enumerate() {
        assert_eq!(p["truncated"], reference["overflowing"][i], "{answer}");
    }
    // The Open Inference Protocol through the same function, as API Gateway's `/v2/{proxy+}`
    // passes it: the same probabilities.
    let mut e = apigw_event(
        "t-2",
        "/v2/models/heart-disease/infer",
        &json!({"inputs": [{"name": "text", "shape": [3], "datatype": "BYTES", "data": texts}]}),
    );
    e["resource"] = json!("/v2/{proxy+}");
    let r = respond(&m.rt, m.predict(), "t-2", &e);
    assert_eq!(r["statusCode"], 200, "{r}");
    let infer: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
    let probabilities = infer["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "probabilities")
        .unwrap_or_else(|| panic!("{infer}"));
    assert_eq!(probabilities["shape"], json!([3, 3]), "{infer}");
    for (i, p) in preds.iter().enumerate() {
        for (c, class) in ["fire", "flood", "other"].iter().enumerate() {
            let ours = p["probabilities"][class].as_f64().unwrap();
            let v2 = probabilities["data"][i * 3 + c].as_f64().unwrap();
            assert!(
                (ours - v2).abs() <= 1e-6,
                "text {i} {class}: {ours} vs {v2}"
            );
        }
    }
    // Feedback, and the monitor on S3: traffic unlike the evaluation set (long texts of unknown
    // words) drifts in its tokens, unknown tokens and truncation.
    let odd: Vec<Value> = (0..40)
        .map(|i| json!({"text": format!("Ünknown wörds ñ {i} quixotic zephyr jabberwocky bewildering xylophones galore 🦄🦄")}))
        .collect();
    let e = apigw_event("t-3", "/predict", &json!({ "instances": odd }));
    assert_eq!(respond(&m.rt, m.predict(), "t-3", &e)["statusCode"], 200);
    // Accuracy counts labelled single-instance predictions.
    let e = apigw_event(
        "t-4",
        "/predict",
        &json!({"instances": [{"text": "flames seen downtown"}]}),
    );
    assert_eq!(respond(&m.rt, m.predict(), "t-4", &e)["statusCode"], 200);
    let e = apigw_event(
        "f-1",
        "/feedback",
        &json!({"request_id": "t-4", "label": "fire"}),
    );
    let r = respond(&m.rt, m.predict(), "f-1", &e);
    assert_eq!(r["statusCode"], 202, "{r}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let report = loop {
        let (code, out, err) = m.run(&["monitor", "check", "--output", "json"]);
        assert_eq!(code, 0, "{out}{err}");
        let out: Value = serde_json::from_str(&out).unwrap();
        let report = if out["report"].is_object() {
            out["report"].clone()
        } else {
            out
        };
        // Every request logged: the three texts, their protocol twin, the forty, the one.
        if report["requests"].as_u64().unwrap_or(0) >= 4 {
            break report;
        }
        assert!(Instant::now() < deadline, "not logged in S3: {report}");
        std::thread::sleep(Duration::from_millis(500));
    };
    let drifted: Vec<&str> = report["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["drifted"] == true)
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    for f in ["tokens", "unknown", "truncated"] {
        assert!(drifted.contains(&f), "{f} not drifted: {report}");
    }
    assert_eq!(report["performance"]["labelled"], 1, "{report}");
    // The user's own training code runs on `local`; here the CLI says it is not built.
    let stack = dir.join("stacks/heart-disease.yaml");
    let text = std::fs::read_to_string(&stack).unwrap();
    std::fs::write(
        &stack,
        text.replacen(
            "\nschedules:",
            "\ntraining:\n  command: [python3, train.py]\n\nschedules:",
            1,
        ),
    )
    .unwrap();
    let (code, out, err) = m.run(&["retrain", "--as", "alice"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("`training.command` runs on the `local` environment only: on `localstack` it is to run as a SageMaker training job"),
        "{err}"
    );
}

/// A torchvision image classifier imported on S3 and DynamoDB (moto) is served by the packaged
/// predict bootstrap: pictures in base64 JSON decoded, resized and normalised in the function,
/// onnxruntime's probabilities on Pillow's tensor (PNG within 1/255 of Pillow's pixels, JPEG
/// within 3/255: 1e-3).
#[test]
fn an_image_model_is_served_by_the_predict_bootstrap_on_s3_and_dynamodb() {
    use base64::Engine as _;
    let m = Imported::new(
        &["image_classifier.onnx", "images"],
        "image_classifier.onnx",
        &|card| card.replace("[\"0\", \"1\", \"2\"]", "[red, green, blue]"),
        "images/labels.csv",
        "label",
    );
    let dir = &m.dir;
    let names = ["00_red.png", "03_red.jpg", "08_blue.png", "13_green.jpg"];
    let instances: Vec<Value> = names
        .iter()
        .map(|n| {
            let b = std::fs::read(dir.join("images").join(n)).unwrap();
            json!({"image": {"b64": base64::engine::general_purpose::STANDARD.encode(b)}})
        })
        .collect();
    let answer = m.predicted("p-1", &json!({ "instances": instances }));
    assert_eq!(answer["model"]["version"], 1, "{answer}");
    let reference = python(
        "image_run.py",
        [
            dir.join("image_classifier.onnx").into_os_string(),
            "64".into(),
        ]
        .into_iter()
        .chain(
            names
                .iter()
                .map(|n| dir.join("images").join(n).into_os_string()),
        ),
    );
    let preds = answer["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 4, "{answer}");
    same_as_softmax(preds, &reference["logits"], &["red", "green", "blue"], 1e-3);

    // A picture posted as its raw bytes: a binary media type of the API (`up` declares them),
    // so API Gateway sends it base64-encoded; the same answer as the picture in JSON.
    for (i, n) in names.iter().enumerate() {
        let bytes = std::fs::read(dir.join("images").join(n)).unwrap();
        let mut e = apigw_event(&format!("raw-{i}"), "/predict", &Value::Null);
        let media = if n.ends_with(".png") {
            "image/png"
        } else {
            "image/jpeg"
        };
        e["headers"]["Content-Type"] = json!(media);
        e["multiValueHeaders"]["Content-Type"] = json!([media]);
        e["body"] = json!(base64::engine::general_purpose::STANDARD.encode(&bytes));
        e["isBase64Encoded"] = json!(true);
        let r = respond(&m.rt, m.predict(), &format!("raw-{i}"), &e);
        assert_eq!(r["statusCode"], 200, "{n}: {r}");
        let raw: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
        assert_eq!(
            raw["predictions"][0]["probabilities"], preds[i]["probabilities"],
            "{n}"
        );
    }
}

/// A regression's lifecycle on the cloud environment (moto), every job run by its packaged
/// bootstrap: `init` on the cars data, `up`, the ETL the upload starts, the weekly rule's
/// training, the two-person approval, values with intervals over the HTTPS front, feedback,
/// the monitor function's report with the feedback's RMSE, MAE and coverage, and a retraining
/// on the data the feedback added.
#[test]
fn a_regression_lives_its_lifecycle_on_the_cloud_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("project");
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("cars.csv");
    std::fs::copy(
        cli::repo_root().join("tests/fixtures/regression/cars.csv"),
        &csv,
    )
    .unwrap();
    ok(&dir, &["init", "--data", "cars.csv", "--label", "mpg"]);
    // A smaller search keeps the release bootstrap quick here.
    let stack = std::fs::read_to_string(dir.join("mlinfra.yaml")).unwrap();
    assert!(stack.contains("trials: 20"), "{stack}");
    std::fs::write(
        dir.join("mlinfra.yaml"),
        stack.replacen("trials: 20", "trials: 6", 1),
    )
    .unwrap();
    let env = CloudEnv::new(&dir, "mlinfra-cars-lake");
    let base = env.base();
    let cloud = |args: &[&str]| env.run(args);
    let object = |k: &str| env.object(k);
    cloud(&["up", "--yes"]);
    let served = CloudServe::start(&dir, &base);

    // The upload's notification runs the ETL function, which reads the target as a number.
    cloud(&["data", "ingest", "cars.csv"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while object("curated/latest.json").is_none() {
        assert!(Instant::now() < deadline, "not curated:\n{}", served.log());
        std::thread::sleep(Duration::from_millis(250));
    }
    let pointer: Value = serde_json::from_slice(&object("curated/latest.json").unwrap()).unwrap();
    assert_eq!(pointer["rows"], 406, "{pointer}");

    // The weekly rule's event trains a regression; a second person approves it.
    let r: Value =
        serde_json::from_str(&cloud(&["invoke", "train", "--schedule", "retrain"])).unwrap();
    assert_eq!(r["registered_version"], 1, "{r}");
    assert!(r["metrics"]["rmse"].as_f64().unwrap() > 0.0, "{r}");
    let run = r["run_id"].as_str().unwrap().to_string();
    let record: Value =
        serde_json::from_slice(&object(&format!("artifacts/runs/{run}/run.json")).unwrap())
            .unwrap();
    let half_width = record["interval"]["half_width"].as_f64().unwrap();
    cloud(&[
        "models",
        "approve",
        r["request"].as_str().unwrap(),
        "--as",
        "bob",
    ]);

    // Values with their intervals through the HTTPS front, with the deployed API key.
    let key = env.api_key("cars-key");
    let post = |path: &str, body: &Value| -> (u16, Value) {
        let url = format!("https://localhost:{}/v1{path}", served.port);
        cli::https_post(&served.cert, &url, Some(&key), &body.to_string())
    };
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: Vec<(Value, f64)> = lines
        .filter_map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            let mpg: f64 = cells.last()?.parse().ok()?;
            let o: serde_json::Map<String, Value> = header[..header.len() - 1]
                .iter()
                .zip(&cells)
                .map(|(h, c)| {
                    let v = match (*h, c.parse::<f64>()) {
                        ("origin", _) => json!(c),
                        (_, Ok(n)) => json!(n),
                        _ => Value::Null,
                    };
                    ((*h).to_string(), v)
                })
                .collect();
            Some((Value::Object(o), mpg))
        })
        .collect();
    let (mut pairs, mut last) = (Vec::new(), Value::Null);
    for (instance, mpg) in rows.iter().step_by(13).take(25) {
        let (code, answer) = post("/predict", &json!({ "instances": [instance] }));
        assert_eq!(code, 200, "{answer}\n{}", served.log());
        let p = &answer["predictions"][0];
        let v = p["value"].as_f64().unwrap();
        assert_eq!(p["interval"]["level"], 0.9, "{answer}");
        assert!((p["interval"]["high"].as_f64().unwrap() - (v + half_width)).abs() < 1e-9);
        let (code, fb) = post(
            "/feedback",
            &json!({"request_id": answer["request_id"], "label": mpg}),
        );
        assert_eq!(code, 202, "{fb}");
        pairs.push((v, *mpg));
        last = answer["request_id"].clone();
    }
    let (code, fb) = post("/feedback", &json!({"request_id": last, "label": "high"}));
    assert_eq!(code, 400, "{fb}");
    assert!(fb.to_string().contains("is not a number"), "{fb}");

    // The monitor function: the feedback's RMSE, MAE and coverage, as computed here (the log
    // is written in the background: invoked until the 25 answers are in it).
    let n = pairs.len() as f64;
    let rmse = (pairs.iter().map(|(p, t)| (t - p).powi(2)).sum::<f64>() / n).sqrt();
    let mae = pairs.iter().map(|(p, t)| (t - p).abs()).sum::<f64>() / n;
    let deadline = Instant::now() + Duration::from_secs(60);
    let report = loop {
        let m: Value =
            serde_json::from_str(&cloud(&["invoke", "monitor", "--schedule", "monitor"])).unwrap();
        let key = m["report"].as_str().unwrap().to_string();
        let report: Value = serde_json::from_slice(&object(&key).unwrap()).unwrap();
        if report["performance"]["labelled"] == 25 {
            break report;
        }
        assert!(Instant::now() < deadline, "{report}");
        std::thread::sleep(Duration::from_millis(500));
    };
    let q = &report["performance"]["regression"];
    assert!(
        (q["rmse"].as_f64().unwrap() - rmse).abs() < 1e-9,
        "{q} vs {rmse}"
    );
    assert!(
        (q["mae"].as_f64().unwrap() - mae).abs() < 1e-9,
        "{q} vs {mae}"
    );
    assert_eq!(q["level"], 0.9, "{q}");
    assert!(report["prediction"]["test"].is_string(), "{report}");

    // Retraining on the weekly rule: the feedback is training data now.
    let r: Value =
        serde_json::from_str(&cloud(&["invoke", "train", "--schedule", "retrain"])).unwrap();
    assert_eq!(r["rows"], 398 + 25, "{r}");
    assert!(r["metrics"]["rmse"].as_f64().is_some(), "{r}");
    drop(served);
}

/// `mlinfra` with `args` on `dir`, `input` on its standard input; must succeed.
fn ok_stdin(dir: &Path, args: &[&str], input: &str) -> String {
    use std::io::Write as _;
    let mut c = cli::command(dir, args);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "mlinfra {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// MLflow code against the cloud environment: the quickstart script logs through the HTTPS
/// front of `serve --env localstack` (moto), its run lands in S3, its ONNX model becomes a
/// version in the DynamoDB registry; alice's transition is a request, bob's token approves it,
/// and the predict function serves the version.
#[test]
fn mlflow_code_logs_and_registers_through_the_https_front_on_the_cloud_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("project");
    project(&dir);
    let env = CloudEnv::new(&dir, "mlinfra-heart-disease-lake");
    let base = env.base();
    let cloud = |args: &[&str]| env.run(args);
    cloud(&["up", "--yes"]);
    cloud(&["pipeline", "run", "--as", "tester"]);
    for (name, password) in [
        ("alice", "alice-password-123"),
        ("bob", "bob-password-1234"),
    ] {
        let args: Vec<&str> = [&base[..], &["users", "add", name]].concat();
        ok_stdin(&dir, &args, &format!("{password}\n"));
    }
    let made: Value = serde_json::from_str(&cloud(&[
        "users", "token", "create", "bob", "--output", "json",
    ]))
    .unwrap();
    let bob = made["token"].as_str().unwrap().to_string();
    let served = CloudServe::start(&dir, &base);
    // Announced once the console and the API beside the front are ready.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !served.log().contains("the MLflow API on https://") {
        assert!(Instant::now() < deadline, "{}", served.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let uri = format!("https://localhost:{}", served.port);
    let mlflow = |who: &[(&str, &str)], script: &str, args: &[&str]| -> Value {
        let mut c = Command::new(cli::repo_root().join(".venv/bin/python"));
        c.arg(cli::repo_root().join("python").join(script))
            .args(args)
            .env("MLFLOW_TRACKING_URI", &uri)
            .env("MLFLOW_TRACKING_SERVER_CERT_PATH", &served.cert)
            .env("MLFLOW_DISABLE_TELEMETRY", "true")
            .env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0");
        for (k, v) in who {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap_or_else(|_| {
            panic!(
                "{script}: {stdout}\n{}\n{}",
                String::from_utf8_lossy(&out.stderr),
                served.log()
            )
        })
    };
    let alice = [
        ("MLFLOW_TRACKING_USERNAME", "alice"),
        ("MLFLOW_TRACKING_PASSWORD", "alice-password-123"),
    ];
    let csv = dir.join("examples/heart-disease/processed.cleveland.csv");
    let out = mlflow(
        &alice,
        "mlflow_quickstart.py",
        &[csv.to_str().unwrap(), "heart-disease"],
    );
    assert_eq!(out["version"], "2", "{out}");
    let run = out["run_id"].as_str().unwrap();
    // The run is in the S3 lake; the version in the DynamoDB registry, registered by alice.
    assert!(
        env.object(&format!("artifacts/tracking/runs/{run}/run.json"))
            .is_some()
    );
    let doc: Value = serde_json::from_str(&cloud(&["models", "list", "--output", "json"])).unwrap();
    let v2 = doc["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == 2)
        .unwrap();
    assert_eq!(v2["created_by"], "alice", "{v2}");
    let listed = cloud(&["runs", "list"]);
    assert!(listed.contains(&run[..12]), "{listed}");

    let move_to_production = [
        "transition_model_version_stage",
        "heart-disease",
        "2",
        "Production",
    ];
    let asked = mlflow(&alice, "mlflow_call.py", &move_to_production);
    assert_eq!(asked["error_code"], "INVALID_STATE", "{asked}");
    assert!(
        asked["message"]
            .as_str()
            .unwrap()
            .contains("a different person must approve")
    );
    let approved = mlflow(
        &[("MLFLOW_TRACKING_TOKEN", &bob)],
        "mlflow_call.py",
        &move_to_production,
    );
    assert_eq!(approved["ok"]["current_stage"], "Production", "{approved}");

    // The predict function serves version 2 through the same front.
    let key = env.api_key("heart-disease-key");
    let instances: Value =
        serde_json::from_str(fixture("apigw-predict.json")["body"].as_str().unwrap()).unwrap();
    let (code, answer) = cli::https_post(
        &served.cert,
        &format!("https://localhost:{}/v1/predict", served.port),
        Some(&key),
        &instances.to_string(),
    );
    assert_eq!(code, 200, "{answer}\n{}", served.log());
    assert_eq!(answer["model"]["version"], 2, "{answer}");
}
