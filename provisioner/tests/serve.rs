//! `mlinfra serve` end to end on the local environment: pipeline → register → approve (two
//! identities) → serve → `POST /predict` gives the probabilities the ONNX file gives in tract;
//! the staging route; a new approval swaps the model without a restart; feedback; metrics;
//! OpenAPI; every kind of malformed request gets a 4xx that says what is wrong.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::Project;
use common::server::{Server, http};
use serde_json::{Value, json};

/// The first `n` rows of the heart data as request instances (null for `?`).
fn instances(p: &Project, n: usize) -> (Vec<Value>, Vec<Vec<f32>>) {
    let text = std::fs::read_to_string(
        p.path()
            .join("examples/heart-disease/processed.cleveland.csv"),
    )
    .unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut out = Vec::new();
    let mut rows = Vec::new();
    for line in lines.take(n) {
        let cells: Vec<&str> = line.split(',').collect();
        let mut obj = serde_json::Map::new();
        let mut row = Vec::new();
        for (h, c) in header.iter().zip(&cells).take(13) {
            let v: Option<f64> = c.parse().ok();
            obj.insert(h.to_string(), v.map_or(Value::Null, |x| json!(x)));
            row.push(v.map_or(f32::NAN, |x| x as f32));
        }
        out.push(Value::Object(obj));
        rows.push(row);
    }
    (out, rows)
}

#[test]
fn serve_end_to_end() {
    let p = Project::with_data();
    p.run(&["up", "--yes"]).ok();
    let server = Server::start(&p);
    let (status, body) = server.post("/v1/predict", "{\"features\": {}}");
    assert_eq!(status, 404, "{body}");
    assert!(
        body["hint"]
            .as_str()
            .unwrap()
            .contains("mlinfra models request"),
        "{body}"
    );

    let run1: Value = serde_json::from_str(
        &p.run(&["pipeline", "run", "--as", "alice", "--output", "json"])
            .raw_stdout,
    )
    .unwrap();
    p.approve_to_production("1", "alice", "bob");
    server.wait_for("production", 1);

    // Probabilities equal those of the ONNX file run directly by tract.
    let (inst, rows) = instances(&p, 20);
    let (status, body) = server.post("/v1/predict", &json!({"instances": inst}).to_string());
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["model"],
        json!({"name": "heart-disease", "version": 1, "stage": "Production"})
    );
    let id = run1["run"]["run_id"].as_str().unwrap();
    let onnx = std::fs::read(
        p.env_dir()
            .join(format!("lake/models/heart-disease/{id}/model.onnx")),
    )
    .unwrap();
    let scorer = mlinfra_core::scorer::Scorer::load(&onnx, 13, 2).unwrap();
    let direct = scorer.score(rows.len(), &rows.concat()).unwrap();
    for (i, pred) in body["predictions"].as_array().unwrap().iter().enumerate() {
        for c in 0..2 {
            let served = pred["probabilities"][c.to_string()].as_f64().unwrap();
            // Served by the model's own evaluator, which agrees with the graph within 1e-5
            // (checked when it is loaded).
            assert!(
                (served - f64::from(direct.probabilities[i * 2 + c])).abs() <= 1e-5,
                "row {i}"
            );
        }
        assert_eq!(pred["label"].as_i64().unwrap(), direct.labels[i]);
        let conf = pred["confidence"].as_f64().unwrap();
        assert!(
            (conf
                - pred["probabilities"][direct.labels[i].to_string()]
                    .as_f64()
                    .unwrap())
            .abs()
                < 1e-12
        );
    }

    // Staging: a second model (trees only), registered by carol, goes to Staging by policy.
    let (status, _) = server.post(
        "/v1/predict?stage=staging",
        &json!({"instances": &inst[..1]}).to_string(),
    );
    assert_eq!(status, 404);
    p.edit_stack(
        "families: [logistic_regression, gradient_boosted_trees]",
        "families: [gradient_boosted_trees]",
    );
    p.run(&["pipeline", "run", "--as", "carol"]).ok();
    server.wait_for("staging", 2);
    let (status, body) = server.post(
        "/v1/predict?stage=staging",
        &json!({"instances": &inst[..1]}).to_string(),
    );
    assert_eq!(
        (
            status,
            body["model"]["version"].clone(),
            body["model"]["stage"].clone()
        ),
        (200, json!(2), json!("Staging"))
    );

    // A new approval: the server switches without a restart.
    p.approve_to_production("2", "carol", "bob");
    server.wait_for("production", 2);
    let (status, body) = server.post("/v1/predict", &json!({"instances": &inst[..1]}).to_string());
    assert_eq!((status, body["model"]["version"].clone()), (200, json!(2)));

    // Feedback is stored by request id.
    let rid = body["request_id"].as_str().unwrap().to_string();
    let (status, fb) = server.post(
        "/v1/feedback",
        &json!({"request_id": rid, "label": 1}).to_string(),
    );
    assert_eq!(status, 202, "{fb}");
    let stored: Value = serde_json::from_str(
        &std::fs::read_to_string(p.env_dir().join(format!("lake/feedback/{rid}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(stored["label"], 1);

    // Sampled predictions reach the lake, batched.
    let deadline = Instant::now() + Duration::from_secs(5);
    let logged = loop {
        let n = walk(&p.env_dir().join("lake/predictions"));
        if n > 0 || Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(logged > 0, "no prediction log written");

    // Metrics and OpenAPI.
    let (_, metrics) = http(server.port, "GET", "/metrics", &[], "");
    assert!(
        metrics.contains("mlinfra_requests_total{route=\"/predict\",status=\"200\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("mlinfra_model_version 2"), "{metrics}");
    assert!(
        metrics.contains("mlinfra_predictions_total{class="),
        "{metrics}"
    );
    assert!(
        metrics.contains("mlinfra_request_duration_seconds_bucket{le=\"+Inf\"}"),
        "{metrics}"
    );
    let (_, spec) = http(server.port, "GET", "/openapi.json", &[], "");
    let spec: Value = serde_json::from_str(&spec).unwrap();
    assert_eq!(spec["openapi"], "3.0.3");
    assert_eq!(
        spec["components"]["schemas"]["Instance"]["required"]
            .as_array()
            .unwrap()
            .len(),
        13
    );
    assert!(spec["paths"]["/predict"]["post"]["responses"]["413"].is_object());

    malformed(&server);
}

fn walk(dir: &std::path::Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            if e.path().is_dir() {
                walk(&e.path())
            } else {
                1
            }
        })
        .sum()
}

/// name, path, extra headers, body, expected status, text the answer must contain.
type Case<'a> = (
    &'a str,
    &'a str,
    Vec<(&'a str, &'a str)>,
    String,
    u16,
    &'a str,
);

/// At least 10 kinds of malformed request, each a 4xx with a useful message, never a 5xx.
fn malformed(server: &Server) {
    let one = json!({"age": 63, "sex": 1, "cp": 1, "trestbps": 145, "chol": 233, "fbs": 1, "restecg": 2,
        "thalach": 150, "exang": 0, "oldpeak": 2.3, "slope": 3, "ca": 0, "thal": 6});
    let with = |k: &str, v: Value| {
        let mut o = one.clone();
        o[k] = v;
        json!({"instances": [o]}).to_string()
    };
    let mut missing = one.clone();
    missing.as_object_mut().unwrap().remove("chol");
    let huge = json!({"instances": vec![one.clone(); 1001]}).to_string();
    let key = server.key.as_str();
    let cases: Vec<Case> = vec![
        (
            "not JSON",
            "/v1/predict",
            vec![],
            "{\"instances\": [".into(),
            400,
            "not valid JSON",
        ),
        (
            "wrong type",
            "/v1/predict",
            vec![],
            with("sex", json!(true)),
            400,
            "instances[0].sex",
        ),
        (
            "missing feature",
            "/v1/predict",
            vec![],
            json!({"instances": [missing]}).to_string(),
            400,
            "instances[0].chol",
        ),
        (
            "NaN",
            "/v1/predict",
            vec![],
            with("age", json!("NaN")),
            400,
            "expected a number, found a string",
        ),
        (
            "string for a number",
            "/v1/predict",
            vec![],
            with("age", json!("63")),
            400,
            "instances[0].age",
        ),
        (
            "unknown feature",
            "/v1/predict",
            vec![],
            with("agee", json!(1)),
            400,
            "unknown feature",
        ),
        (
            "empty batch",
            "/v1/predict",
            vec![],
            "{\"instances\": []}".into(),
            400,
            "`instances` is empty",
        ),
        (
            "huge batch",
            "/v1/predict",
            vec![],
            huge,
            400,
            "exceed the limit of 1000",
        ),
        (
            "a body over 10 MiB",
            "/v1/predict",
            vec![],
            format!("{{\"instances\": [\"{}\"]}}", "x".repeat(11 << 20)),
            413,
            "over serve's limit of 10 MiB",
        ),
        (
            "both shapes",
            "/v1/predict",
            vec![],
            json!({"instances": [one], "features": one}).to_string(),
            400,
            "not both",
        ),
        (
            "an extra field",
            "/v1/predict",
            vec![],
            json!({"instances": [one], "model": "x"}).to_string(),
            400,
            "unknown field",
        ),
        (
            "explain not a boolean",
            "/v1/predict?explain=1",
            vec![],
            json!({"instances": [one]}).to_string(),
            400,
            "not a boolean",
        ),
        (
            "monitor header not a boolean",
            "/v1/predict",
            vec![("x-mlinfra-monitor", "off")],
            json!({"instances": [one]}).to_string(),
            400,
            "neither `true` nor `false`",
        ),
        (
            "unknown stage",
            "/v1/predict?stage=qa",
            vec![],
            json!({"instances": [one]}).to_string(),
            400,
            "unknown stage `qa`",
        ),
        (
            "wrong content type",
            "/v1/predict",
            vec![("content-type", "text/plain")],
            "x".into(),
            415,
            "content type `text/plain`",
        ),
        (
            "unknown route",
            "/v1/predictions",
            vec![],
            "{}".into(),
            404,
            "no route",
        ),
        (
            "wrong method",
            "/v1/health",
            vec![],
            "{}".into(),
            405,
            "takes GET",
        ),
        (
            "no body shape",
            "/v1/predict",
            vec![],
            "[1, 2]".into(),
            400,
            "the body must be",
        ),
        (
            "bad feedback",
            "/v1/feedback",
            vec![],
            "{\"label\": 1}".into(),
            400,
            "request_id",
        ),
    ];
    // `/health` needs the key like every route (API Gateway's answer, with a hint).
    let (s, b) = http(server.port, "GET", "/v1/health", &[], "");
    assert_eq!(s, 403, "{b}");
    assert!(b.contains("\"message\":\"Forbidden\""), "{b}");
    for (name, path, extra, body, status, needle) in cases {
        let mut headers = vec![("x-api-key", key)];
        if !extra.iter().any(|(k, _)| *k == "content-type") {
            headers.push(("content-type", "application/json"));
        }
        headers.extend(extra);
        let (s, b) = http(server.port, "POST", path, &headers, &body);
        assert_eq!(s, status, "{name}: {b}");
        assert!(b.contains(needle), "{name}: {b}");
    }
    let (s, _) = http(
        server.port,
        "POST",
        "/v1/predict",
        &[("content-type", "application/json")],
        "{}",
    );
    assert_eq!(s, 403, "no API key");
    let (s, _) = http(
        server.port,
        "POST",
        "/v1/predict",
        &[("x-api-key", "wrong"), ("content-type", "application/json")],
        "{}",
    );
    assert_eq!(s, 403, "a wrong API key");
}
