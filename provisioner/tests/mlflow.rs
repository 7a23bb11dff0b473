//! The MLflow API on `mlinfra serve` (local environment), driven by MLflow's own client
//! (`mlflow-skinny`, pinned in python/requirements.txt): a training script written as MLflow's
//! quickstart writes it runs unchanged; its ONNX model becomes a registry version that one
//! account requests for Production and another approves through `MlflowClient`; the model
//! serves; MLflow's REST tracking cases pass; refused requests (no credentials, a wrong
//! password, a revoked token, approving one's own request, an injected filter) answer with
//! MLflow's error shape and change nothing.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;

use common::server::{Server, http};
use common::{Project, repo_root};
use serde_json::Value;

const ALICE: (&str, &str) = ("alice", "alice-password-123");
const BOB: (&str, &str) = ("bob", "bob-password-1234");

/// A platform with curated data and a trained version 1, and the accounts of alice and bob.
fn platform() -> Project {
    let p = Project::with_data();
    p.run(&["up", "--yes"]).ok();
    p.run(&["pipeline", "run", "--as", "tester"]).ok();
    for (name, password) in [ALICE, BOB] {
        p.run_stdin(&["users", "add", name], &format!("{password}\n"))
            .ok();
    }
    p
}

fn token(p: &Project, name: &str) -> (String, String) {
    let r = p.run(&["users", "token", "create", name, "--output", "json"]);
    r.ok();
    let v: Value = serde_json::from_str(&r.raw_stdout).unwrap();
    (
        v["token"].as_str().unwrap().to_string(),
        v["id"].as_str().unwrap().to_string(),
    )
}

/// Who a Python program is, as MLflow's client reads it from the environment.
enum As<'a> {
    Password(&'a str, &'a str),
    Token(&'a str),
}

/// Run `python/<script>` with MLflow's client pointed at the server; its last line of stdout,
/// as JSON.
fn python(server: &Server, who: As<'_>, script: &str, args: &[&str]) -> Value {
    let mut c = std::process::Command::new(repo_root().join(".venv/bin/python"));
    c.arg(repo_root().join("python").join(script))
        .args(args)
        .env(
            "MLFLOW_TRACKING_URI",
            format!("http://127.0.0.1:{}", server.port),
        )
        .env("MLFLOW_DISABLE_TELEMETRY", "true")
        .env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        .env_remove("MLFLOW_TRACKING_USERNAME")
        .env_remove("MLFLOW_TRACKING_PASSWORD")
        .env_remove("MLFLOW_TRACKING_TOKEN");
    match who {
        As::Password(n, pw) => {
            c.env("MLFLOW_TRACKING_USERNAME", n)
                .env("MLFLOW_TRACKING_PASSWORD", pw);
        }
        As::Token(t) => {
            c.env("MLFLOW_TRACKING_TOKEN", t);
        }
    }
    let out = c.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|_| {
        panic!(
            "{script} {args:?}: no JSON result\n--- stdout\n{stdout}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A console session over curl (the console's cookies are `Secure`, kept by curl for
/// `localhost`).
struct Console {
    port: u16,
    jar: PathBuf,
}

impl Console {
    fn curl(&self, args: &[&str]) -> (u16, String) {
        let out = std::process::Command::new("curl")
            .args(["-sS", "-b"])
            .arg(&self.jar)
            .arg("-c")
            .arg(&self.jar)
            .args(args)
            .args(["-w", "\n%{http_code}"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.parse().unwrap(), body.to_string())
    }

    fn get(&self, path: &str) -> (u16, String) {
        self.curl(&[&format!("http://localhost:{}{path}", self.port)])
    }

    fn sign_in(port: u16, p: &Project, name: &str, password: &str) -> Console {
        let c = Console {
            port,
            jar: p.path().join("cookies.txt"),
        };
        let (_, page) = c.get("/ui/signin");
        let csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_string();
        let (code, page) = c.curl(&[
            "--data-urlencode",
            &format!("csrf={csrf}"),
            "--data-urlencode",
            &format!("name={name}"),
            "--data-urlencode",
            &format!("password={password}"),
            &format!("http://localhost:{port}/ui/signin"),
        ]);
        assert_eq!(code, 303, "sign-in: {page}");
        c
    }
}

fn data(p: &Project) -> PathBuf {
    p.path()
        .join("examples/heart-disease/processed.cleveland.csv")
}

#[test]
fn a_quickstart_script_runs_unchanged_and_its_model_is_approved_by_another_account_and_served() {
    let p = platform();
    let (bob_token, _) = token(&p, "bob");
    let s = Server::start(&p);
    let out = python(
        &s,
        As::Password(ALICE.0, ALICE.1),
        "mlflow_quickstart.py",
        &[data(&p).to_str().unwrap(), "heart-disease"],
    );
    assert_eq!(out["version"], "2", "{out}");
    let run_id = out["run_id"].as_str().unwrap().to_string();

    // The version is in mlinfra's registry: imported, evaluated, registered by alice.
    let list = p.run(&["models", "list", "--output", "json"]);
    list.ok();
    let doc: Value = serde_json::from_str(&list.raw_stdout).unwrap();
    let v2 = doc["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == 2)
        .unwrap_or_else(|| panic!("no version 2: {doc}"));
    assert_eq!(v2["created_by"], "alice", "{v2}");
    assert!(
        v2["run_id"].as_str().unwrap().starts_with("import-"),
        "{v2}"
    );
    assert!(v2["metrics"]["roc_auc"].as_f64().unwrap() > 0.85, "{v2}");
    let text = p.run(&["models", "list"]);
    assert!(text.stdout.contains("alice"), "{}", text.stdout);

    // The run of the user's code is beside the pipeline's, with its params, its metric's
    // history over steps, its artifact and the version made from its model.
    let runs = p.run(&["runs", "list"]);
    runs.ok();
    assert!(
        runs.stdout.contains("runs of your own code"),
        "{}",
        runs.stdout
    );
    assert!(runs.stdout.contains(&run_id[..12]), "{}", runs.stdout);
    assert!(runs.stdout.contains("heart-disease v2"), "{}", runs.stdout);
    let show = p.run(&["runs", "show", &run_id[..10], "--output", "json"]);
    show.ok();
    let shown: Value = serde_json::from_str(&show.raw_stdout).unwrap();
    assert_eq!(shown["user"], "alice");
    assert_eq!(shown["status"], "FINISHED");
    assert_eq!(
        shown["params"]["logisticregression__C"], "0.5",
        "autologged: {shown}"
    );
    assert_eq!(shown["params"]["imputer"], "median");
    assert_eq!(
        shown["history"]["holdout_accuracy"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let steps: Vec<i64> = shown["history"]["holdout_accuracy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["step"].as_i64().unwrap())
        .collect();
    assert_eq!(steps, [0, 1, 2, 3]);
    assert!(
        shown["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["path"] == "coefficients.json"),
        "{shown}"
    );
    assert_eq!(shown["registered"][0]["version"], 2);
    assert!(
        shown["inputs"].as_array().is_some_and(|i| !i.is_empty()),
        "autolog's dataset input: {shown}"
    );

    // The console shows the run beside the pipeline's, its metric's history as a chart.
    let console = Console::sign_in(s.port, &p, ALICE.0, ALICE.1);
    let (code, page) = console.get("/ui/runs");
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("Runs of your own code"), "{page}");
    assert!(page.contains(&format!("/ui/runs/{run_id}")), "{page}");
    let (code, page) = console.get(&format!("/ui/runs/{run_id}"));
    assert_eq!(code, 200, "{page}");
    assert!(
        page.contains("aria-label=\"holdout_accuracy\"") && page.contains("<polyline"),
        "no chart of the metric's history: {page}"
    );
    assert!(page.contains("coefficients.json"), "{page}");
    assert!(page.contains("heart-disease v2"), "{page}");

    // alice asks for Production: a request, pending a different person.
    let asked = python(
        &s,
        As::Password(ALICE.0, ALICE.1),
        "mlflow_call.py",
        &[
            "transition_model_version_stage",
            "heart-disease",
            "2",
            "Production",
        ],
    );
    assert_eq!(asked["error_code"], "INVALID_STATE", "{asked}");
    let message = asked["message"].as_str().unwrap();
    assert!(
        message.contains("request r1") && message.contains("a different person must approve"),
        "{message}"
    );
    // Approving her own request is refused, and changes nothing.
    let again = python(
        &s,
        As::Password(ALICE.0, ALICE.1),
        "mlflow_call.py",
        &[
            "transition_model_version_stage",
            "heart-disease",
            "2",
            "Production",
        ],
    );
    assert_eq!(again["error_code"], "PERMISSION_DENIED", "{again}");
    // bob, with his token, approves: version 2 is in Production.
    let approved = python(
        &s,
        As::Token(&bob_token),
        "mlflow_call.py",
        &[
            "transition_model_version_stage",
            "heart-disease",
            "2",
            "Production",
        ],
    );
    assert_eq!(approved["ok"]["current_stage"], "Production", "{approved}");
    let audit = p.run(&["models", "audit", "--output", "json"]);
    let events: Value = serde_json::from_str(&audit.raw_stdout).unwrap();
    let approval = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "approve")
        .unwrap();
    assert_eq!(approval["actor"], "bob", "{approval}");
    assert_eq!(approval["request"], "r1");
    let alias = python(
        &s,
        As::Token(&bob_token),
        "mlflow_call.py",
        &["get_model_version_by_alias", "heart-disease", "champion"],
    );
    assert_eq!(alias["ok"]["version"], "2", "{alias}");

    // The model serves.
    s.wait_for("production", 2);
    let (header, rows) = common::heart_cells(&p);
    let body = serde_json::json!({"instances": [common::heart_instance(&header, &rows[0])]});
    let (status, answer) = s.post("/v1/predict", &body.to_string());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["model"]["version"], 2, "{answer}");
    let p1 = answer["predictions"][0]["probabilities"]["1"]
        .as_f64()
        .unwrap();
    assert!((0.0..=1.0).contains(&p1), "{answer}");
}

#[test]
fn mlflow_rest_tracking_cases_pass_against_serve() {
    let p = platform();
    let (bob_token, _) = token(&p, "bob");
    let s = Server::start(&p);
    let out = python(&s, As::Token(&bob_token), "mlflow_rest_cases.py", &[]);
    let failed = out["failed"].as_object().unwrap();
    assert!(failed.is_empty(), "failed cases: {failed:#?}");
    let passed = out["passed"].as_array().unwrap();
    assert!(passed.len() >= 33, "{passed:?}");
    assert!(!out["out_of_scope"].as_object().unwrap().is_empty());
}

/// The files under the environment directory (content and time), for "nothing changed".
fn files(p: &Project) -> Vec<(PathBuf, std::time::SystemTime, Vec<u8>)> {
    p.snapshot()
}

fn basic(name: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{name}:{password}"))
    )
}

/// `(status, error_code, message)` of a refused request.
fn refused(
    port: u16,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, String, String) {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = auth {
        headers.push(("authorization", a));
    }
    let (status, text) = http(port, method, path, &headers, body);
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (
        status,
        v["error_code"].as_str().unwrap_or_default().to_string(),
        v["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn refused_requests_answer_in_mlflows_shape_and_change_nothing() {
    let p = platform();
    let (revoked, id) = token(&p, "bob");
    p.run(&["users", "token", "revoke", &id]).ok();
    let s = Server::start(&p);
    let alice = basic(ALICE.0, ALICE.1);
    // One experiment and run to aim at.
    let (status, text) = http(
        s.port,
        "POST",
        "/api/2.0/mlflow/experiments/create",
        &[
            ("authorization", &alice),
            ("content-type", "application/json"),
        ],
        r#"{"name": "target"}"#,
    );
    assert_eq!(status, 200, "{text}");
    let (_, text) = http(
        s.port,
        "POST",
        "/api/2.0/mlflow/runs/create",
        &[
            ("authorization", &alice),
            ("content-type", "application/json"),
        ],
        r#"{"experiment_id": "1"}"#,
    );
    let run: Value = serde_json::from_str(&text).unwrap();
    let run_id = run["run"]["info"]["run_id"].as_str().unwrap().to_string();
    // alice requests Production for version 1 (in Staging after the pipeline run).
    let (status, code, message) = refused(
        s.port,
        "POST",
        "/api/2.0/mlflow/model-versions/transition-stage",
        Some(&alice),
        r#"{"name": "heart-disease", "version": "1", "stage": "Production"}"#,
    );
    assert_eq!((status, code.as_str()), (409, "INVALID_STATE"), "{message}");
    let before = files(&p);

    let log = format!(
        r#"{{"run_id": "{run_id}", "key": "loss", "value": 1.0, "timestamp": 1, "step": 0}}"#
    );
    let wrong = basic("alice", "not-her-password");
    let bearer = format!("Bearer {revoked}");
    for (what, auth, says) in [
        ("no credentials", None, "needs credentials"),
        (
            "a wrong password",
            Some(wrong.as_str()),
            "wrong name or password",
        ),
        (
            "a revoked token",
            Some(bearer.as_str()),
            "the token is not valid",
        ),
    ] {
        let (status, code, message) = refused(
            s.port,
            "POST",
            "/api/2.0/mlflow/runs/log-metric",
            auth,
            &log,
        );
        assert_eq!(
            (status, code.as_str()),
            (401, "UNAUTHENTICATED"),
            "{what}: {message}"
        );
        assert!(message.contains(says), "{what}: {message}");
    }
    let (status, code, message) = refused(
        s.port,
        "POST",
        "/api/2.0/mlflow/model-versions/transition-stage",
        Some(&alice),
        r#"{"name": "heart-disease", "version": "1", "stage": "Production"}"#,
    );
    assert_eq!(
        (status, code.as_str()),
        (403, "PERMISSION_DENIED"),
        "{message}"
    );
    assert!(
        message.contains("a different person must approve"),
        "{message}"
    );
    for filter in [
        "params.a = 'x' OR 1=1",
        "params.a = 'x'; DROP TABLE runs; --",
        "attributes.run_id = '' UNION SELECT password FROM accounts",
    ] {
        let body = serde_json::json!({"experiment_ids": ["1"], "filter": filter}).to_string();
        let (status, code, message) = refused(
            s.port,
            "POST",
            "/api/2.0/mlflow/runs/search",
            Some(&alice),
            &body,
        );
        assert_eq!(
            (status, code.as_str()),
            (400, "INVALID_PARAMETER_VALUE"),
            "{filter}: {message}"
        );
        assert!(message.contains("Invalid filter"), "{filter}: {message}");
    }
    // An artifact path that climbs out of the run's is refused too.
    let (status, code, _) = refused(
        s.port,
        "PUT",
        &format!("/api/2.0/mlflow-artifacts/artifacts/1/{run_id}/artifacts/../../../../state.json"),
        Some(&alice),
        "{}",
    );
    assert_eq!((status, code.as_str()), (400, "INVALID_PARAMETER_VALUE"));

    assert!(
        before == files(&p),
        "a refused request changed the environment"
    );
    let audit = p.run(&["models", "audit", "--output", "json"]);
    let events: Value = serde_json::from_str(&audit.raw_stdout).unwrap();
    assert!(
        !events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "approve"),
        "{events}"
    );
}
