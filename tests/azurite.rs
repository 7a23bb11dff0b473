//! `--env azurite` end to end: the `mlinfra` binary provisions the example stack's storage on
//! Azurite (the lake and registry containers, the jobs' settings, the state with its lease lock)
//! and runs the lifecycle on it — ingest → ETL → train → approve by a second person → retrain →
//! monitor — with every blob read back independently of mlinfra; two concurrent `up`s get one
//! lease; a lease left by a killed `up` is broken by `unlock`.

#![allow(clippy::unwrap_used)]

#[path = "support/azurite.rs"]
mod azurite;
#[path = "support/cli.rs"]
mod cli;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mlinfra_core::azure::Account;
use mlinfra_core::azure::blob::BlobLake;
use mlinfra_core::lake::Lake as _;

struct Env {
    dir: tempfile::TempDir,
    /// The stack file as a user in the project's root types it: relative (issue 30: `serve`
    /// once started its handlers from a relative path and could not find them).
    stack: String,
    /// The same file by its absolute path, for commands run from elsewhere.
    stack_abs: String,
    rt: tokio::runtime::Runtime,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("stacks")).unwrap();
        let stack = dir.path().join("stacks/heart-disease.yaml");
        std::fs::copy(cli::repo_root().join("stacks/heart-disease.yaml"), &stack).unwrap();
        // The dataset the stack names, beside it as in the repository.
        let data = dir.path().join("examples/heart-disease");
        std::fs::create_dir_all(&data).unwrap();
        for f in std::fs::read_dir(cli::repo_root().join("examples/heart-disease")).unwrap() {
            let f = f.unwrap();
            if f.file_type().unwrap().is_file() {
                std::fs::copy(f.path(), data.join(f.file_name())).unwrap();
            }
        }
        Env {
            stack: "stacks/heart-disease.yaml".to_string(),
            stack_abs: stack.to_str().unwrap().to_string(),
            dir,
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = cli::command(self.dir.path(), args);
        c.args(["-f", &self.stack, "--env", "azurite"]).env(
            "AZURE_STORAGE_CONNECTION_STRING",
            azurite::server().connection_string(),
        );
        c
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        cli::output(self.command(args))
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "mlinfra {args:?}\n{out}{err}");
        format!("{out}{err}")
    }

    /// A container read with the SDK, independently of the CLI.
    fn container(&self, name: &str) -> BlobLake {
        let account =
            Account::from_connection_string(&azurite::server().connection_string()).unwrap();
        BlobLake::new(&account, name).unwrap()
    }

    fn list(&self, container: &str, prefix: &str) -> Vec<String> {
        self.rt
            .block_on(self.container(container).list(prefix))
            .unwrap()
    }

    fn get(&self, container: &str, key: &str) -> Option<Vec<u8>> {
        self.rt
            .block_on(self.container(container).get(key))
            .unwrap()
    }
}

const LAKE: &str = "mlinfra-heart-disease-lake";
const REGISTRY: &str = "heart-disease-registry";

#[test]
fn the_lifecycle_runs_on_azurite_and_the_blobs_say_so() {
    let env = Env::new();
    let out = env.ok(&["up", "--yes"]);
    assert!(
        out.contains(&format!(
            "lake_uri            = {}/{LAKE}/",
            azurite::server().blob_endpoint
        )),
        "{out}"
    );
    let out = env.ok(&["up", "--yes"]);
    assert!(out.contains("No changes."), "{out}");
    let (code, out, err) = env.run(&["diff", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}{err}");
    // The state and the jobs' settings are blobs of the lake container.
    let state: serde_json::Value =
        serde_json::from_slice(&env.get(LAKE, "state/azurite/state.json").unwrap()).unwrap();
    assert_eq!(state["env"], "azurite");
    assert!(state["resources"]["lake"].is_object(), "{state:#}");
    assert!(env.get(LAKE, mlinfra_core::keys::SETTINGS).is_some());
    // Each schedule carries its Azure Functions timer.
    let records = env.dir.path().join(".mlinfra/heart-disease/azurite");
    let timer = |name: &str| -> serde_json::Value {
        let doc: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(records.join(format!("schedules/{name}.json"))).unwrap(),
        )
        .unwrap();
        doc["props"]["ncrontab"].clone()
    };
    assert_eq!(timer("retrain"), "0 0 3 * * 1", "cron(0 3 ? * MON *)");
    assert_eq!(timer("monitor"), "0 0 0 * * *", "rate(1 day)");
    // The functions' app settings name the containers, and no key or SAS.
    let etl = std::fs::read_to_string(records.join("functions/etl.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&etl).unwrap();
    let endpoint = &azurite::server().blob_endpoint;
    assert_eq!(doc["env"]["MLINFRA_LAKE"], format!("{endpoint}/{LAKE}"));
    assert_eq!(
        doc["env"]["MLINFRA_REGISTRY"],
        format!("{endpoint}/{REGISTRY}")
    );
    assert_eq!(doc["props"]["runtime"], "custom");
    assert!(
        !etl.contains("sig=") && !etl.contains("AccountKey"),
        "{etl}"
    );

    // Ingest: ETL curates the file in the lake.
    let data = env
        .dir
        .path()
        .join("examples/heart-disease/processed.cleveland.csv");
    let out = env.ok(&["data", "ingest", data.to_str().unwrap()]);
    assert!(out.contains("303 rows added"), "{out}");
    let curated = env.list(LAKE, "curated/");
    assert!(
        curated.iter().any(|k| k.ends_with("/data.csv")),
        "{curated:?}"
    );

    // Train and register; a second person approves Production; the requester cannot.
    let out = env.ok(&["pipeline", "run", "--as", "alice"]);
    assert!(out.contains("registered as version 1"), "{out}");
    env.ok(&[
        "models",
        "request",
        "1",
        "--to",
        "production",
        "--as",
        "alice",
    ]);
    let (code, _, err) = env.run(&["models", "approve", "r1", "--as", "alice"]);
    assert_eq!(code, 1);
    assert!(err.contains("a different person must approve it"), "{err}");
    env.ok(&["models", "approve", "r1", "--as", "bob"]);

    // The registry's blobs, read independently: the document says Production is version 1,
    // whose model is the ONNX file in the lake with the recorded sha256.
    let doc: serde_json::Value =
        serde_json::from_slice(&env.get(REGISTRY, "heart-disease/doc.json").unwrap()).unwrap();
    let v1 = &doc["doc"]["versions"][0];
    assert_eq!(v1["stage"], "Production", "{doc:#}");
    let uri = v1["artifact_uri"].as_str().unwrap();
    let prefix = format!("{}/{LAKE}/", azurite::server().blob_endpoint);
    let key = uri.strip_prefix(&prefix).unwrap();
    let model = env.get(LAKE, key).unwrap();
    assert_eq!(
        v1["sha256"].as_str().unwrap(),
        format!("sha256:{}", mlinfra_core::pipeline::sha256_hex(&model))
    );
    let audit = env.list(REGISTRY, "heart-disease/audit/");
    assert_eq!(
        audit.len(),
        5,
        "register, staging, request, approve, promote: {audit:?}"
    );
    let approve: serde_json::Value =
        serde_json::from_slice(&env.get(REGISTRY, &audit[3]).unwrap()).unwrap();
    assert_eq!(
        (approve["action"].as_str(), approve["actor"].as_str()),
        (Some("approve"), Some("bob"))
    );

    // `serve --env azurite` runs the function app packages as the Functions host does: the
    // HTTP trigger answers from the containers (version 1, in Production) with the function key.
    let packages = env.dir.path().join("packages");
    let mut build = cli::command(
        &cli::repo_root(),
        &["build", "--target", "azure", "--profile", "dev"],
    );
    build.args([
        "-f",
        &env.stack_abs,
        "--artifacts",
        packages.to_str().unwrap(),
    ]);
    let (code, out, err) = cli::output(build);
    assert_eq!(code, 0, "mlinfra build --target azure\n{out}{err}");
    assert!(packages.join("predict/functionapp.zip").is_file(), "{out}");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut serve = env
        .command(&["serve", "--port", &port.to_string()])
        .args(["--artifacts", packages.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = serve.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        use std::io::Read as _;
        let mut text = String::new();
        let _ = std::io::BufReader::new(log).read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "serve did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    // `up` kept the key with the records of the compute (the stack sets `../.mlinfra/<stack>`).
    let key = std::fs::read_to_string(
        env.dir
            .path()
            .join(".mlinfra/heart-disease/azurite/secrets/api-key"),
    )
    .unwrap();
    let row = r#"{"features": {"age": 63, "sex": 1, "cp": 1, "trestbps": 145, "chol": 233, "fbs": 1, "restecg": 2, "thalach": 150, "exang": 0, "oldpeak": 2.3, "slope": 3, "ca": 0, "thal": 6}}"#;
    let (status, body) = cli::post(
        port,
        "/api/v1/predict",
        &[("x-functions-key", key.trim())],
        row,
    );
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["model"]["version"], 1, "{answer:#}");
    assert_eq!(answer["model"]["stage"], "Production", "{answer:#}");
    let (status, body) = cli::post(
        port,
        &format!("/api/v1/predict?code={}", key.trim()),
        &[],
        row,
    );
    assert_eq!(status, 200, "the key in `code`: {body}");
    let (status, body) = cli::post(
        port,
        "/api/v1/predict",
        &[("x-functions-key", "wrong")],
        row,
    );
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("x-functions-key"), "{body}");
    let (status, _) = cli::post(
        port,
        "/api/v2/predict",
        &[("x-functions-key", key.trim())],
        row,
    );
    assert_eq!(status, 404);
    // The OpenAPI contract on Azure Functions: `api spec` describes the routes under `/api` and
    // the function key (401 without it), and schemathesis finds nothing against this host. Its
    // requests say `X-Mlinfra-Monitor: false`, so monitoring below still counts only ours. Left
    // out: `unsupported_method`, which wants a 405 where the host (as Azure) answers a method
    // the trigger does not take with 404.
    let spec: serde_json::Value = serde_json::from_str(&env.ok(&["api", "spec"])).unwrap();
    assert_eq!(spec["servers"][0]["url"], "/api/v1", "{spec}");
    assert_eq!(
        spec["components"]["securitySchemes"]["functionKey"]["name"],
        "x-functions-key"
    );
    assert!(spec["paths"]["/predict"]["post"]["responses"]["401"].is_object());
    let spec_file = env.dir.path().join("openapi.json");
    std::fs::write(&spec_file, spec.to_string()).unwrap();
    let (found_nothing, contract_out) = cli::schemathesis(
        &spec_file,
        &format!("http://127.0.0.1:{port}/api/v1"),
        &[
            &format!("x-functions-key: {}", key.trim()),
            "X-Mlinfra-Monitor: false",
        ],
        &[
            "--exclude-checks",
            "unsupported_method",
            "--max-examples",
            "25",
        ],
        env.dir.path(),
    );
    assert!(
        found_nothing,
        "schemathesis against the Functions host:\n{contract_out}"
    );
    assert!(contract_out.contains("Tested: 3"), "{contract_out}");
    // The console on the same port reads the registry from its container.
    let mut add = env.command(&["users", "add", "carol"]);
    add.stdin(Stdio::piped()).stdout(Stdio::null());
    let mut adding = add.spawn().unwrap();
    {
        use std::io::Write as _;
        let mut stdin = adding.stdin.take().unwrap();
        stdin.write_all(b"carol-password-1\n").unwrap();
    }
    assert!(adding.wait().unwrap().success());
    let console = cli::Console::sign_in(
        &format!("http://127.0.0.1:{port}"),
        None,
        env.dir.path().join("console-cookies"),
        "carol",
        "carol-password-1",
    );
    let (status, models) = console.get("/ui/models");
    assert_eq!(status, 200, "{models}");
    assert!(models.contains("id=\"stage-v1\">Production"), "{models}");
    assert!(
        models.contains("<strong>bob</strong>"),
        "the approver in the audit trail: {models}"
    );
    let (status, runs) = console.get("/ui/runs");
    assert_eq!(status, 200, "{runs}");
    assert!(runs.contains("name=\"run\""), "{runs}");
    // The sampled predictions reach the lake within a second or so.
    let deadline = Instant::now() + Duration::from_secs(15);
    while env.list(LAKE, "predictions/").is_empty() {
        assert!(Instant::now() < deadline, "no prediction log in the lake");
        std::thread::sleep(Duration::from_millis(200));
    }
    // A new blob in raw/: the blob trigger delivers it to `etl`, which curates it.
    let text = std::fs::read_to_string(&data).unwrap();
    let week: String = text.lines().take(101).map(|l| format!("{l}\n")).collect();
    env.rt
        .block_on(env.container(LAKE).put("raw/week-49.csv", week.as_bytes()))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let latest: serde_json::Value =
            serde_json::from_slice(&env.get(LAKE, mlinfra_core::keys::CURATED_LATEST).unwrap())
                .unwrap();
        if latest["rows"] == 403 {
            assert!(
                latest["sources"].to_string().contains("raw/week-49.csv"),
                "{latest:#}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new blob was not curated: {latest:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Ctrl-C stops the host and its handlers.
    Command::new("kill")
        .args(["-INT", &serve.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while serve.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "serve did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = log.join().unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "still listening"
    );
    // No handler outlives the host.
    let handlers = env.dir.path().join(".mlinfra/heart-disease/serve/azurite");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive: Vec<String> = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).into_owned())
            .filter(|c| c.starts_with(handlers.to_str().unwrap()))
            .collect();
        if alive.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "handlers left running: {alive:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for listed in [
        "predict/predict: HTTP GET,POST",
        "etl/etl: blobs created at `mlinfra-heart-disease-lake/raw/{name}`",
        "train/retrain: timer `0 0 3 * * 1` (UTC)",
        "monitor/monitor: timer `0 0 0 * * *` (UTC)",
    ] {
        assert!(log.contains(listed), "{listed}\n{log}");
    }
    assert!(!log.contains("AccountKey"), "{log}");

    // Retraining on the curated data, and monitoring, on the same storage.
    let out = env.ok(&["retrain", "--as", "carol"]);
    assert!(out.contains("trained"), "{out}");
    let out = env.ok(&["monitor", "check"]);
    assert!(
        out.contains("2 requests, 2 instances"),
        "the served request is monitored: {out}"
    );
    let reports = env.list(LAKE, "artifacts/monitoring/reports/");
    assert_eq!(
        reports.len(),
        1,
        "one report per monitoring run: {reports:?}"
    );
    let runs = env.ok(&["runs", "list"]);
    assert!(
        runs.contains("carol (on demand)") && runs.contains("alice (pipeline run)"),
        "{runs}"
    );

    // Down keeps data unless told; with --delete-data both containers go.
    let out = env.ok(&["down", "--yes"]);
    assert!(
        out.contains(&format!("kept the data lake container `{LAKE}`")),
        "{out}"
    );
    env.ok(&["down", "--yes", "--delete-data"]);
    env.rt.block_on(async {
        assert!(!env.container(LAKE).container_exists().await.unwrap());
        assert!(!env.container(REGISTRY).container_exists().await.unwrap());
    });
}

#[test]
fn one_of_two_concurrent_ups_gets_the_lease_and_unlock_breaks_a_killed_ones() {
    let env = Env::new();
    let start = || {
        let mut c = env.command(&["up", "--yes"]);
        c.env("MLINFRA_TEST_STEP_DELAY_MS", "300")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.spawn().unwrap()
    };
    let outs: Vec<_> = [start(), start()]
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let codes: Vec<i32> = outs.iter().map(|o| o.status.code().unwrap_or(-1)).collect();
    let errs: Vec<String> = outs
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .collect();
    let mut sorted = codes.clone();
    sorted.sort();
    assert_eq!(sorted, [0, 1], "{codes:?}\n{errs:#?}");
    let loser = &errs[codes.iter().position(|c| *c == 1).unwrap()];
    assert!(loser.contains("the state is locked by"), "{loser}");
    assert!(
        loser.contains(&format!("/{LAKE}/state/azurite/state.lock")),
        "{loser}"
    );
    assert!(loser.contains("pid "), "the holder is named: {loser}");
    // Released: the lock blob is empty and free again.
    assert_eq!(env.get(LAKE, "state/azurite/state.lock"), Some(vec![]));

    // An `up` killed while it holds the lease leaves it behind.
    env.ok(&["down", "--yes"]);
    let mut c = env.command(&["up", "--yes"]);
    c.env("MLINFRA_TEST_STEP_DELAY_MS", "3000")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while env
        .get(LAKE, "state/azurite/state.lock")
        .is_none_or(|b| b.is_empty())
    {
        assert!(
            Instant::now() < deadline,
            "the first up never took the lock"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let (code, _, err) = env.run(&["up", "--yes"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("the lock is stale"), "{err}");
    let out = env.ok(&["status"]);
    assert!(
        out.contains("lock:") && !out.contains("lock:      free"),
        "{out}"
    );
    let out = env.ok(&["unlock"]);
    assert!(out.contains("Broke the lock held by"), "{out}");
    let out = env.ok(&["up", "--yes"]);
    assert!(out.contains("Apply complete"), "{out}");
    let out = env.ok(&["status"]);
    assert!(out.contains("lock:      free"), "{out}");
    env.ok(&["down", "--yes", "--delete-data"]);
}

#[test]
fn a_schedule_azure_cannot_express_stops_up_before_anything_is_created() {
    let env = Env::new();
    let text = std::fs::read_to_string(&env.stack_abs)
        .unwrap()
        .replace("cron(0 3 ? * MON *)", "cron(0 3 ? * MON#1 *)");
    std::fs::write(&env.stack_abs, text).unwrap();
    let (code, out, err) = env.run(&["up", "--yes"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("schedule.retrain: `cron(0 3 ? * MON#1 *)`: `#` means the n-th weekday of the month, which an Azure Functions timer (NCRONTAB) cannot express"),
        "{err}"
    );
    assert!(err.contains("hint: use a weekday"), "{err}");
    env.rt.block_on(async {
        assert!(!env.container(LAKE).container_exists().await.unwrap());
    });
}

#[test]
fn without_azurite_the_error_says_what_to_do() {
    let env = Env::new();
    let mut c = cli::command(
        env.dir.path(),
        &["up", "--yes", "-f", &env.stack, "--env", "azurite"],
    );
    c.args(["--endpoint", "http://127.0.0.1:9"]);
    let (code, out, err) = cli::output(c);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("cannot reach http://127.0.0.1:9/devstoreaccount1"),
        "{err}"
    );
    assert!(err.contains("hint: start Azurite"), "{err}");
    assert!(!err.contains("localstack"), "{err}");
}
