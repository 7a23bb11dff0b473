//! The API keeps its OpenAPI contract, checked by independent tools from the test venv: the
//! document `mlinfra serve` serves (the same `mlinfra api spec` prints) validates against the
//! OpenAPI 3 schema (`openapi-spec-validator`), and `schemathesis --checks all` finds nothing
//! against the running server with a Production model: every status is documented, schema-valid
//! requests are accepted, schema-invalid ones refused, no 5xx, the key is required everywhere,
//! and the stateful phase follows the document's link from a prediction to its feedback.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::Project;
use common::server::{Server, http};
use serde_json::Value;

fn venv(tool: &str) -> Command {
    Command::new(common::repo_root().join(".venv/bin").join(tool))
}

#[test]
fn the_api_keeps_its_openapi_contract() {
    let p = Project::with_data();
    p.run(&["up", "--yes"]).ok();
    p.run(&["pipeline", "run", "--as", "alice"]).ok();
    p.approve_to_production("1", "alice", "bob");
    let server = Server::start(&p);
    server.wait_for("production", 1);

    let (status, served) = http(server.port, "GET", "/openapi.json", &[], "");
    assert_eq!(status, 200, "{served}");
    let served: Value = serde_json::from_str(&served).unwrap();
    let printed: Value = serde_json::from_str(&p.run(&["api", "spec"]).ok().raw_stdout).unwrap();
    assert_eq!(
        served, printed,
        "`mlinfra api spec` and /openapi.json differ"
    );
    // Every operation needs the key, and says it can answer 403 without it.
    assert_eq!(served["security"], serde_json::json!([{"apiKey": []}]));
    for (path, method) in [
        ("/predict", "post"),
        ("/feedback", "post"),
        ("/health", "get"),
    ] {
        let op = &served["paths"][path][method];
        assert!(op["responses"]["403"].is_object(), "{path}: {op}");
        let statuses: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
        assert!(
            statuses
                .iter()
                .all(|s| !s.starts_with('5') || path == "/feedback"),
            "{path} documents a server error: {statuses:?}"
        );
    }

    let file = p.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_string_pretty(&served).unwrap()).unwrap();
    let o = venv("openapi-spec-validator").arg(&file).output().unwrap();
    assert!(
        o.status.success(),
        "the document is not valid OpenAPI 3:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );

    let o = venv("schemathesis")
        .args([
            "run",
            &format!("http://127.0.0.1:{}/openapi.json", server.port),
        ])
        .args(["--checks", "all", "--seed", "20261130"])
        .args(["-H", &format!("x-api-key: {}", server.key)])
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(p.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "schemathesis found failures:\n{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // It did test: all three operations, and the stateful phase through the feedback link.
    assert!(out.contains("Tested: 3"), "{out}");
    assert!(out.contains("1 covered / 1 selected"), "{out}");
    assert!(
        walk_count(&p.env_dir().join("lake/feedback")) > 0,
        "no feedback was stored: the stateful phase never reached 202"
    );
}

fn walk_count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |rd| rd.flatten().count())
}
