//! A model whose classes are words (`high`, `low`): the class name is the label everywhere (the
//! API, feedback, batch CSV and SQLite, the monitor), feedback names a class the model has and a
//! request it served, and accuracy and F1 count it.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::Project;
use common::server::Server;
use serde_json::{Value, json};

/// The heart data with `num` as the words `high` (> 0) and `low`, and a multiclass stack.
fn project() -> (Project, Vec<(Value, &'static str)>) {
    let p = Project::with_data();
    let path = p
        .path()
        .join("examples/heart-disease/processed.cleveland.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut out = vec![header.join(",")];
    let mut rows = Vec::new();
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let class = if cells[13].parse::<f64>().unwrap() > 0.0 {
            "high"
        } else {
            "low"
        };
        let mut obj = serde_json::Map::new();
        for (h, c) in header.iter().zip(&cells).take(13) {
            obj.insert(
                h.to_string(),
                c.parse::<f64>().map_or(Value::Null, |x| json!(x)),
            );
        }
        rows.push((Value::Object(obj), class));
        out.push(format!("{},{class}", cells[..13].join(",")));
    }
    std::fs::write(&path, out.join("\n") + "\n").unwrap();
    p.edit_stack("    positive_when: \"> 0\"\n", "");
    p.edit_stack("trials: 20", "trials: 4");
    (p, rows)
}

#[test]
fn class_names_are_the_labels_everywhere() {
    let (p, rows) = project();
    p.run(&["up", "--yes"]).ok();
    p.run(&["pipeline", "run", "--as", "alice"]).ok();
    p.approve_to_production("1", "alice", "bob");
    let server = Server::start(&p);
    server.wait_for("production", 1);

    // The API answers with the class name, its confidence and every class's probability.
    let (status, body) = server.post("/v1/predict", &json!({"features": rows[0].0}).to_string());
    assert_eq!(status, 200, "{body}");
    let pred = &body["predictions"][0];
    let label = pred["label"].as_str().expect("a class name");
    assert!(["high", "low"].contains(&label), "{pred}");
    let keys: Vec<&String> = pred["probabilities"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["high", "low"]);
    assert_eq!(pred["confidence"], pred["probabilities"][label]);
    let rid = body["request_id"].as_str().unwrap().to_string();

    // Feedback: a class of the model, by its name; a second one replaces the first.
    let (st, fb) = server.post(
        "/v1/feedback",
        &json!({"request_id": rid, "label": "low"}).to_string(),
    );
    assert_eq!(
        (st, fb["class"].clone(), fb["replaced"].clone()),
        (202, json!("low"), json!(false)),
        "{fb}"
    );
    let (st, fb) = server.post(
        "/v1/feedback",
        &json!({"request_id": rid, "label": rows[0].1}).to_string(),
    );
    assert_eq!((st, fb["replaced"].clone()), (202, json!(true)), "{fb}");
    let (st, fb) = server.post(
        "/v1/feedback",
        &json!({"request_id": rid, "label": "medium"}).to_string(),
    );
    assert_eq!(st, 400, "{fb}");
    let msg = fb["details"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("`medium` is not a class of the model: expected one of `high`, `low`"),
        "{fb}"
    );
    let (st, fb) = server.post(
        "/v1/feedback",
        &json!({"request_id": "never-served", "label": "low"}).to_string(),
    );
    assert_eq!(st, 404, "{fb}");
    assert!(
        fb["error"]
            .as_str()
            .unwrap()
            .contains("no logged prediction has request_id `never-served`"),
        "{fb}"
    );

    // Forty more labelled predictions: the monitor counts every one of them.
    for (inst, class) in &rows[1..41] {
        let (st, b) = server.post("/v1/predict", &json!({"features": inst}).to_string());
        assert_eq!(st, 200, "{b}");
        let (st, fb) = server.post(
            "/v1/feedback",
            &json!({"request_id": b["request_id"], "label": class}).to_string(),
        );
        assert_eq!(st, 202, "{fb}");
    }
    let logs = p.env_dir().join("lake/predictions");
    let deadline = Instant::now() + Duration::from_secs(20);
    let logged = || -> usize {
        let mut n = 0;
        for day in std::fs::read_dir(&logs).into_iter().flatten().flatten() {
            for f in std::fs::read_dir(day.path()).unwrap().flatten() {
                n += std::fs::read_to_string(f.path()).unwrap().lines().count();
            }
        }
        n
    };
    while logged() < 41 {
        assert!(Instant::now() < deadline, "serve logged {} of 41", logged());
        std::thread::sleep(Duration::from_millis(100));
    }
    let check = p.run(&["monitor", "check", "--output", "json"]);
    let report: Value =
        serde_json::from_str(&check.raw_stdout).unwrap_or_else(|_| panic!("{}", check.snapshot()));
    let report = if report["report"].is_object() {
        &report["report"]
    } else {
        &report
    };
    let perf = &report["performance"];
    assert_eq!(perf["labelled"], 41, "{perf}");
    assert_eq!(
        perf["f1_average"],
        json!({"average": "macro", "classes": 2}),
        "{perf}"
    );
    let bins: Vec<&str> = report["prediction"]["histogram"]["bins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap())
        .collect();
    assert_eq!(bins, ["high", "low"], "{}", report["prediction"]);
    let text = p.run(&["monitor", "check"]);
    assert!(
        text.stdout.contains("(macro average over 2 classes)"),
        "{}",
        text.stdout
    );

    // The API's description says so too.
    let spec: Value = serde_json::from_str(&p.run(&["api", "spec"]).raw_stdout).unwrap();
    let label = json!({"type": "string", "enum": ["high", "low"]});
    assert_eq!(
        spec["components"]["schemas"]["Predictions"]["properties"]["predictions"]["items"]["properties"]
            ["label"],
        label
    );
    assert_eq!(
        spec["components"]["schemas"]["Feedback"]["properties"]["label"],
        label
    );

    // Batch: the same class names and probability columns in CSV and in SQLite.
    let data = "examples/heart-disease/processed.cleveland.csv";
    p.run(&["predict", "--input", data, "--out", "out.csv"])
        .ok();
    let csv = std::fs::read_to_string(p.path().join("out.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "row,label,confidence,p_high,p_low,model,version"
    );
    let first: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert!(["high", "low"].contains(&first[1]), "{first:?}");
    p.run(&["predict", "--input", data, "--out", "sqlite://out.db"])
        .ok();
    let conn = rusqlite::Connection::open(p.path().join("out.db")).unwrap();
    let (label, p_high, p_low): (String, f64, f64) = conn
        .query_row(
            "SELECT label, p_high, p_low FROM predictions ORDER BY row LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(label, first[1]);
    assert!((p_high + p_low - 1.0).abs() < 1e-6);
    assert!((p_high - first[3].parse::<f64>().unwrap()).abs() < 1e-6);
}
