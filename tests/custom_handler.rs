//! The four function binaries as Azure Functions custom handlers on Azurite's storage: each is
//! started as the Functions host starts it (`FUNCTIONS_CUSTOMHANDLER_PORT`, the app settings
//! `up --env azurite` recorded for it, the storage connection string) and sent the payloads
//! Microsoft documents: a blob trigger to `etl`, timer triggers to `train` and `monitor`, a
//! forwarded HTTP request to `predict`. The loop — ingest → ETL → train → approve → predict →
//! monitor — runs through them, and the blobs are read back with the SDK.

#![allow(clippy::unwrap_used)]

#[path = "support/azurite.rs"]
mod azurite;
#[path = "support/cli.rs"]
mod cli;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mlinfra_core::azure::Account;
use mlinfra_core::azure::blob::BlobLake;
use mlinfra_core::lake::Lake as _;
use serde_json::{Value, json};

const LAKE: &str = "mlinfra-heart-disease-lake";

/// The function binaries built with the `azure` feature (the custom-handler mode), in this
/// build's target directory.
fn handlers() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let target = profile_dir.parent().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut c = Command::new(cargo);
    c.args(["build", "-q"]);
    for f in ["etl", "train", "predict", "monitor"] {
        c.args(["-p", &format!("mlinfra-{f}")]);
        c.args(["--features", &format!("mlinfra-{f}/azure")]);
    }
    let status = c
        .arg("--target-dir")
        .arg(target)
        .current_dir(cli::repo_root())
        .status()
        .unwrap();
    assert!(status.success(), "building the function binaries failed");
    profile_dir
}

/// A function binary running as a custom handler, killed when dropped.
struct Handler {
    port: u16,
    child: Child,
}

impl Drop for Handler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(bin: &Path, records: &Path, function: &str) -> Handler {
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(records.join(format!("functions/{function}.json"))).unwrap(),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = Command::new(bin.join(function));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env(
            "AZURE_STORAGE_CONNECTION_STRING",
            azurite::server().connection_string(),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in doc["env"].as_object().unwrap() {
        c.env(k, v.as_str().unwrap());
    }
    let child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{function} did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Handler { port, child }
}

/// `POST path` with a JSON body: (status, the body as JSON, or as a string when it is not).
fn post(port: u16, path: &str, body: &str) -> (u16, Value) {
    let (status, body) = cli::post(port, path, &[], body);
    (status, serde_json::from_str(&body).unwrap_or(json!(body)))
}

/// A timer trigger's invocation, as the host sends it.
fn timer(function: &str) -> String {
    json!({
        "Data": {
            "timer": {
                "Schedule": { "AdjustForDST": true },
                "ScheduleStatus": {
                    "Last": "2026-11-23T03:00:00+00:00",
                    "Next": "2026-11-30T03:00:00+00:00",
                    "LastUpdated": "2026-11-23T03:00:00+00:00"
                },
                "IsPastDue": false
            }
        },
        "Metadata": {
            "sys": { "MethodName": function, "UtcNow": "2026-11-30T03:00:00.01Z", "RandGuid": "6a2f1e0e-3c1b-4f5e-9d38-2b7f6f1c9a11" }
        }
    })
    .to_string()
}

#[test]
fn the_loop_runs_through_the_custom_handlers_on_azurite() {
    let bins = handlers();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("stacks")).unwrap();
    let stack = dir.path().join("stacks/heart-disease.yaml");
    std::fs::copy(cli::repo_root().join("stacks/heart-disease.yaml"), &stack).unwrap();
    let run = |args: &[&str]| {
        let mut c = cli::command(dir.path(), args);
        c.args(["-f", stack.to_str().unwrap(), "--env", "azurite"])
            .env(
                "AZURE_STORAGE_CONNECTION_STRING",
                azurite::server().connection_string(),
            );
        let (code, out, err) = cli::output(c);
        assert_eq!(code, 0, "mlinfra {args:?}\n{out}{err}");
        out
    };
    run(&["up", "--yes"]);
    let records = dir.path().join(".mlinfra/heart-disease/azurite");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let account = Account::from_connection_string(&azurite::server().connection_string()).unwrap();
    let lake = BlobLake::new(&account, LAKE).unwrap();

    // A new file lands in raw/; the blob trigger (through Event Grid) invokes `etl`.
    let csv =
        std::fs::read(cli::repo_root().join("examples/heart-disease/processed.cleveland.csv"))
            .unwrap();
    rt.block_on(lake.put("raw/week-48.csv", &csv)).unwrap();
    let etl = start(&bins, &records, "etl");
    let blob = json!({
        "Data": { "blob": String::from_utf8_lossy(&csv) },
        "Metadata": {
            "BlobTrigger": format!("{LAKE}/raw/week-48.csv"),
            "Uri": lake.uri("raw/week-48.csv"),
            "name": "week-48.csv",
            "Properties": { "ContentLength": csv.len(), "BlobType": "BlockBlob" },
            "sys": { "MethodName": "etl", "UtcNow": "2026-11-30T10:00:00Z", "RandGuid": "0b5c0d8e-6a55-4f43-9a8a-3c0f1b7e2d10" }
        }
    });
    let (status, answer) = post(etl.port, "/etl", &blob.to_string());
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(answer["Outputs"], json!({}), "{answer:#}");
    let curated = &answer["ReturnValue"]["objects"][0];
    assert_eq!(curated["outcome"], "curated", "{answer:#}");
    let keys = rt.block_on(lake.list("curated/")).unwrap();
    assert!(keys.iter().any(|k| k.ends_with("/data.csv")), "{keys:?}");
    // An invocation without the trigger's metadata fails it, saying why, in the host's form.
    let (status, answer) = post(etl.port, "/etl", r#"{"Data": {}, "Metadata": {}}"#);
    assert_eq!(status, 500, "{answer:#}");
    assert!(
        answer["Logs"][0]
            .as_str()
            .unwrap()
            .contains("Metadata.BlobTrigger"),
        "{answer:#}"
    );

    // The weekly timer invokes `train`: version 1 is registered from the curated data.
    let train = start(&bins, &records, "train");
    let (status, answer) = post(train.port, "/train", &timer("train"));
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(answer["ReturnValue"]["registered_version"], 1, "{answer:#}");
    assert_eq!(answer["ReturnValue"]["reason"], "schedule", "{answer:#}");

    // The schedule asks for Production; a person approves it.
    assert_eq!(answer["ReturnValue"]["request"], "r1", "{answer:#}");
    run(&["models", "approve", "r1", "--as", "bob"]);

    // `predict` serves it: the client's request forwarded as it was sent.
    let predict = start(&bins, &records, "predict");
    let row = r#"{"features": {"age": 63, "sex": 1, "cp": 1, "trestbps": 145, "chol": 233, "fbs": 1, "restecg": 2, "thalach": 150, "exang": 0, "oldpeak": 2.3, "slope": 3, "ca": 0, "thal": 6}}"#;
    let (status, answer) = post(predict.port, "/api/v1/predict", row);
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(answer["model"]["version"], 1, "{answer:#}");
    assert_eq!(answer["model"]["stage"], "Production", "{answer:#}");
    let p = &answer["predictions"][0];
    let sum: f64 = p["probabilities"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_f64().unwrap())
        .sum();
    // Each probability is an f32.
    assert!((sum - 1.0).abs() < 1e-6, "{p}");
    let (status, _) = post(predict.port, "/api/v2/predict", row);
    assert_eq!(status, 404);
    let (status, answer) = post(predict.port, "/predict", &timer("predict"));
    assert_eq!(status, 500, "{answer:#}");

    // The daily timer invokes `monitor`: its report lands in the lake.
    let monitor = start(&bins, &records, "monitor");
    let (status, answer) = post(monitor.port, "/monitor", &timer("monitor"));
    assert_eq!(status, 200, "{answer:#}");
    let report = answer["ReturnValue"]["report"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        rt.block_on(lake.get(&report)).unwrap().is_some(),
        "{report}"
    );
    drop((etl, train, predict, monitor));
    run(&["down", "--yes", "--delete-data"]);
}
