//! `mlinfra models import` on the local environment, with models exported by their own tools
//! (`tests/fixtures/imported/`, made by `python/fixtures/make_imported.py`): the card written
//! from the graph, the import with labelled data, the registry's versions and their metrics,
//! approval by a second person, and bad input refused with nothing registered.

#![allow(clippy::unwrap_used)]

mod common;

use common::server::Server;
use common::{Project, repo_root};
use serde_json::{Value, json};

fn fixture(p: &Project, name: &str) {
    let bytes = std::fs::read(repo_root().join("tests/fixtures/imported").join(name)).unwrap();
    p.write(name, &bytes);
}

/// `mlinfra models import MODEL --data heart.csv --label LABEL --as alice`, then `extra`.
fn import(p: &Project, model: &str, label: &str, extra: &[&str]) -> common::Run {
    let args = [
        "models",
        "import",
        model,
        "--data",
        "heart.csv",
        "--label",
        label,
        "--as",
        "alice",
    ];
    p.run(&[&args[..], extra].concat())
}

/// onnxruntime's outputs for `model` on `data` (`python/ort_run.py`).
fn onnxruntime(model: &std::path::Path, data: &std::path::Path) -> Value {
    let out = std::process::Command::new(repo_root().join(".venv/bin/python"))
        .arg(repo_root().join("python/ort_run.py"))
        .arg(model)
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn versions(p: &Project) -> usize {
    let r = p.run(&["models", "list", "--output", "json"]);
    r.ok();
    let doc: serde_json::Value = serde_json::from_str(&r.raw_stdout).unwrap();
    doc["versions"].as_array().map_or(0, Vec::len)
}

#[test]
fn a_scikit_learn_pipeline_is_carded_evaluated_registered_and_approved() {
    let p = Project::new();
    p.run(&["up", "--yes"]).ok();
    fixture(&p, "sklearn_pipeline.onnx");
    fixture(&p, "heart.csv");

    // Without a card: the card inferred from the graph is written, nothing registered.
    let first = p.run(&["models", "import", "sklearn_pipeline.onnx", "--as", "alice"]);
    assert_eq!(first.code, 1, "{}", first.snapshot());
    assert!(
        first
            .stderr
            .contains("wrote the card `sklearn_pipeline.card.yaml`"),
        "{}",
        first.stderr
    );
    let card = std::fs::read_to_string(p.path().join("sklearn_pipeline.card.yaml")).unwrap();
    assert!(card.contains("name: \"cp\"\n      type: text"), "{card}");
    assert!(card.contains("classes: [\"0\", \"1\"]"), "{card}");
    assert_eq!(versions(&p), 0);

    // With the card and labelled data: evaluated, blessed, registered (Staging by the stack).
    let r = import(&p, "sklearn_pipeline.onnx", "target", &["--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    let out: serde_json::Value = serde_json::from_str(&r.raw_stdout).unwrap();
    assert_eq!(out["evaluation"]["task"], "classification");
    assert_eq!(out["evaluation"]["rows"], 297);
    let auc = out["evaluation"]["roc_auc"].as_f64().unwrap();
    assert!(auc > 0.85, "{auc}");
    assert_eq!(out["registered"]["version"], 1);
    assert!(
        out["rewrites"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().starts_with("ZipMap")),
        "{out}"
    );
    let show = p.run(&["models", "show", "1", "--output", "json"]);
    show.ok();
    let v: serde_json::Value = serde_json::from_str(&show.raw_stdout).unwrap();
    assert!((v["metrics"]["roc_auc"].as_f64().unwrap() - auc).abs() < 1e-12);
    assert!(v["run_id"].as_str().unwrap().starts_with("import-"));
    // `models show` names the card and the file as it was imported.
    assert_eq!(v["card"]["task"], "classification");
    assert_eq!(v["card"]["output"]["classes"], json!(["0", "1"]));
    assert_eq!(v["imported_from"], out["source_sha256"]);
    let text = p.run(&["models", "show", "1"]);
    assert!(
        text.stdout.contains("card       classification, 7 features (age, trestbps, chol, thalach, oldpeak, cp, thal), classes 0, 1"),
        "{}",
        text.stdout
    );
    // The registered file is the user's with the card appended: its own sha256 checks.
    let file = v["artifact_uri"]
        .as_str()
        .unwrap()
        .trim_start_matches("file://");
    let stored = std::fs::read(file).unwrap();
    let original = std::fs::read(p.path().join("sklearn_pipeline.onnx")).unwrap();
    assert_eq!(&stored[..original.len()], &original[..]);
    assert!(String::from_utf8_lossy(&stored).contains("mlinfra.card"));

    // The same file again: already registered, nothing added.
    let again = import(&p, "sklearn_pipeline.onnx", "target", &[]);
    assert_eq!(again.code, 1, "{}", again.snapshot());
    assert!(
        again.stderr.contains("already registered as version 1"),
        "{}",
        again.stderr
    );
    assert_eq!(versions(&p), 1);

    // Production waits for a second person, as for mlinfra's own models.
    p.approve_to_production("1", "alice", "bob");
    let prod = p.run(&["models", "show", "--output", "json"]);
    prod.ok();
    let v: serde_json::Value = serde_json::from_str(&prod.raw_stdout).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["stage"], "Production");

    // A second model, blessed against the Production one on the same rows (each read as its
    // own card names its features).
    fixture(&p, "random_forest.onnx");
    p.run(&["models", "import", "random_forest.onnx"]);
    let card = p.path().join("random_forest.card.yaml");
    let mut text = std::fs::read_to_string(&card).unwrap();
    for (i, c) in ["age", "trestbps", "chol", "thalach", "oldpeak"]
        .iter()
        .enumerate()
    {
        text = text.replace(&format!("\"feature_{i}\""), c);
    }
    std::fs::write(&card, text).unwrap();
    let r = import(&p, "random_forest.onnx", "target", &["--output", "json"]);
    let second: Value = serde_json::from_str(&r.raw_stdout).unwrap_or(Value::Null);
    let baseline = second["blessing"]["baseline"].as_f64();
    assert!(
        baseline.is_some_and(|b| (b - auc).abs() < 1e-12),
        "the Production version's roc_auc on the same rows: {}",
        r.snapshot()
    );

    // Served over HTTP: the probabilities onnxruntime gives for the same rows (within 1e-5).
    let server = Server::start(&p);
    server.wait_for("production", 1);
    let text = std::fs::read_to_string(p.path().join("heart.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let instances: Vec<Value> = lines
        .take(20)
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            let mut o = serde_json::Map::new();
            for (h, c) in header.iter().zip(&cells) {
                if *h == "target" {
                    continue;
                }
                let v = match c.parse::<f64>() {
                    Ok(x) => json!(x),
                    Err(_) => json!(c),
                };
                o.insert(h.to_string(), v);
            }
            Value::Object(o)
        })
        .collect();
    let (status, body) = server.post("/v1/predict", &json!({"instances": instances}).to_string());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"]["version"], 1);
    let ort = onnxruntime(
        &p.path().join("sklearn_pipeline.onnx"),
        &p.path().join("heart.csv"),
    );
    assert_eq!(body["predictions"].as_array().unwrap().len(), 20, "{body}");
    for (i, pred) in body["predictions"].as_array().unwrap().iter().enumerate() {
        for c in 0..2 {
            let served = pred["probabilities"][c.to_string()].as_f64().unwrap();
            let theirs = ort["output_probability"][i][c].as_f64().unwrap();
            assert!(
                (served - theirs).abs() <= 1e-5,
                "row {i}: {served} vs {theirs}"
            );
        }
        assert_eq!(
            pred["label"].as_f64().unwrap(),
            ort["output_label"][i].as_f64().unwrap(),
            "row {i}"
        );
    }
    // A text category the model never saw is scored as the export does (all zeros).
    let mut unseen = instances[0].clone();
    unseen["cp"] = json!("atypical-ish");
    let (status, body) = server.post("/v1/predict", &json!({"instances": [unseen]}).to_string());
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_regressor_needs_its_columns_named_in_the_card() {
    let p = Project::new();
    p.run(&["up", "--yes"]).ok();
    fixture(&p, "gradient_boosting_regressor.onnx");
    fixture(&p, "heart.csv");
    let first = p.run(&["models", "import", "gradient_boosting_regressor.onnx"]);
    assert_eq!(first.code, 1);
    let path = p.path().join("gradient_boosting_regressor.card.yaml");
    let card = std::fs::read_to_string(&path).unwrap();
    assert!(card.contains("tensor: \"X\""), "{card}");
    // As written, the columns `feature_0`... are not in the data: the error names them.
    let args = [
        "models",
        "import",
        "gradient_boosting_regressor.onnx",
        "--data",
        "heart.csv",
        "--label",
        "chol",
        "--as",
        "alice",
    ];
    let unnamed = p.run(&args);
    assert_eq!(unnamed.code, 1);
    assert!(
        unnamed.stderr.contains(
            "the evaluation data has no column `feature_0`, `feature_1`, `feature_2`, `feature_3`"
        ),
        "{}",
        unnamed.stderr
    );
    let mut named = card;
    for (i, c) in ["age", "trestbps", "thalach", "oldpeak"].iter().enumerate() {
        named = named.replace(&format!("\"feature_{i}\""), c);
    }
    std::fs::write(&path, named).unwrap();
    let r = p.run(&[&args[..], &["--output", "json"]].concat());
    assert_eq!(r.code, 0, "{}", r.snapshot());
    let out: serde_json::Value = serde_json::from_str(&r.raw_stdout).unwrap();
    assert_eq!(out["evaluation"]["task"], "regression");
    let rmse = out["evaluation"]["rmse"].as_f64().unwrap();
    assert!(rmse > 10.0 && rmse < 60.0, "{rmse}");
    assert_eq!(out["registered"]["version"], 1);
}

#[test]
fn bad_models_and_cards_are_refused_and_nothing_is_registered() {
    let p = Project::new();
    p.run(&["up", "--yes"]).ok();
    fixture(&p, "sklearn_pipeline.onnx");
    fixture(&p, "heart.csv");
    // Not an ONNX file.
    p.write("notes.onnx", b"these are not weights");
    let r = p.run(&["models", "import", "notes.onnx"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("error: `notes.onnx`: the file is not an ONNX model"),
        "{}",
        r.stderr
    );
    assert!(!p.path().join("notes.card.yaml").exists());
    // An operator tract does not run, and weights in a file outside the model's directory:
    // named, and no card written.
    fixture(&p, "svm_classifier.onnx");
    let r = p.run(&["models", "import", "svm_classifier.onnx"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("operator `ai.onnx.ml.SVMClassifier` (node `"),
        "{}",
        r.stderr
    );
    assert!(!p.path().join("svm_classifier.card.yaml").exists());
    fixture(&p, "external_data.onnx");
    let r = p.run(&["models", "import", "external_data.onnx"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(
            "tensor `unused_weights` keeps its data in another file (`../../external_weights.bin`)"
        ),
        "{}",
        r.stderr
    );
    assert!(!p.path().join("external_data.card.yaml").exists());
    // A card with a typo in the YAML schema: positioned.
    p.write(
        "typo.card.yaml",
        b"card: 1\ntask: clasification\ninput:\n  features: []\noutput: {}\n",
    );
    let r = p.run(&[
        "models",
        "import",
        "sklearn_pipeline.onnx",
        "--card",
        "typo.card.yaml",
        "--data",
        "heart.csv",
        "--label",
        "target",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("typo.card.yaml:2:7"), "{}", r.stderr);
    // A card that does not match the graph: every mismatch named.
    p.run(&["models", "import", "sklearn_pipeline.onnx"]);
    let path = p.path().join("sklearn_pipeline.card.yaml");
    let card = std::fs::read_to_string(&path).unwrap().replace(
        "name: \"cp\"\n      type: text",
        "name: \"cp\"\n      type: number",
    );
    std::fs::write(&path, card).unwrap();
    let r = import(&p, "sklearn_pipeline.onnx", "target", &[]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(
            "the card does not match the model's graph:\n  - `input.features`: `cp` is `number`, but the graph takes strings (type: text)"
        ),
        "{}",
        r.stderr
    );
    // A label the card's classes do not know.
    let card = std::fs::read_to_string(&path).unwrap().replace(
        "name: \"cp\"\n      type: number",
        "name: \"cp\"\n      type: text",
    );
    std::fs::write(&path, card).unwrap();
    let r = import(&p, "sklearn_pipeline.onnx", "cp", &[]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("line 2: the label `typical` is none of the card's classes (0, 1)"),
        "{}",
        r.stderr
    );
    assert_eq!(versions(&p), 0);
}
