//! `mlinfra models import` on the local environment, with models exported by their own tools
//! (`tests/fixtures/imported/`, made by `python/fixtures/make_imported.py`): the card written
//! from the graph, the import with labelled data, the registry's versions and their metrics,
//! approval by a second person, and bad input refused with nothing registered.

#![allow(clippy::unwrap_used)]

mod common;
#[path = "../../tests/support/reference.rs"]
mod reference;

use common::server::Server;
use common::{Project, repo_root};
use reference::{
    heart_instances, onnxruntime, python, regression_stack, same_probabilities, same_values,
};
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
    let instances = heart_instances(p.path(), 20, None);
    let (status, body) = server.post("/v1/predict", &json!({"instances": instances}).to_string());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"]["version"], 1);
    let ort = onnxruntime(
        &p.path().join("sklearn_pipeline.onnx"),
        &p.path().join("heart.csv"),
        "",
    );
    assert_eq!(body["predictions"].as_array().unwrap().len(), 20, "{body}");
    same_probabilities("sklearn_pipeline", &body["predictions"], &ort, 1e-5);
    for (i, pred) in body["predictions"].as_array().unwrap().iter().enumerate() {
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

/// Tree ensembles exported by their own tools with their defaults (scikit-learn's forest by
/// skl2onnx, LightGBM's and XGBoost's by onnxmltools: one float input `[N, 5]`), each imported,
/// blessed against the one before it in Production, approved, and served by the running `serve`
/// (swapped without a restart) with onnxruntime's probabilities for the same rows (within 1e-5).
#[test]
fn tree_ensembles_from_each_tool_are_served_as_onnxruntime_scores_them() {
    let p = Project::new();
    p.run(&["up", "--yes"]).ok();
    fixture(&p, "heart.csv");
    let numeric = ["age", "trestbps", "chol", "thalach", "oldpeak"];
    let server = Server::start(&p);
    // The five numbers these models take (an instance with other fields is refused).
    let instances = heart_instances(p.path(), 40, Some(&numeric));
    // In the order of their roc_auc on heart.csv, so that each is blessed against the last.
    for (version, model) in ["lightgbm", "random_forest", "xgboost"].iter().enumerate() {
        let version = version as u64 + 1;
        let file = format!("{model}.onnx");
        fixture(&p, &file);
        let first = p.run(&["models", "import", &file]);
        assert_eq!(first.code, 1, "{}", first.snapshot());
        let card = p.path().join(format!("{model}.card.yaml"));
        let mut text = std::fs::read_to_string(&card).unwrap();
        assert!(text.contains("classes: [\"0\", \"1\"]"), "{model}: {text}");
        for (i, c) in numeric.iter().enumerate() {
            text = text.replace(&format!("\"feature_{i}\""), c);
        }
        std::fs::write(&card, text).unwrap();
        let r = import(&p, &file, "target", &["--output", "json"]);
        assert_eq!(r.code, 0, "{model}: {}", r.snapshot());
        let out: Value = serde_json::from_str(&r.raw_stdout).unwrap();
        assert_eq!(out["registered"]["version"], version, "{model}: {out}");
        p.approve_to_production(&version.to_string(), "alice", "bob");
        server.wait_for("production", version);

        let (status, body) =
            server.post("/v1/predict", &json!({"instances": instances}).to_string());
        assert_eq!(status, 200, "{model}: {body}");
        assert_eq!(body["model"]["version"], version, "{model}: {body}");
        let ort = onnxruntime(
            &p.path().join(&file),
            &p.path().join("heart.csv"),
            &numeric.join(","),
        );
        assert_eq!(
            body["predictions"].as_array().unwrap().len(),
            instances.len(),
            "{model}: {body}"
        );
        same_probabilities(model, &body["predictions"], &ort, 1e-5);
    }
}

#[test]
fn a_regressor_needs_its_columns_named_in_the_card_and_is_served_its_values() {
    let p = Project::new();
    let stack = p.path().join("stacks/heart-disease.yaml");
    let text = std::fs::read_to_string(&stack).unwrap();
    // An 80% interval (the default is 90%).
    let text = regression_stack(&text).replace(
        "  task: regression\n",
        "  task: regression\n  interval_level: 0.8\n",
    );
    std::fs::write(&stack, text).unwrap();
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
    // An 80% split-conformal interval from the held-out rows' errors, its coverage checked on
    // the other half of them.
    let interval = &out["interval"];
    assert_eq!(interval["level"], 0.8, "{out}");
    let half_width = interval["half_width"].as_f64().unwrap();
    assert!(
        half_width > 0.5 * rmse && half_width < 3.0 * rmse,
        "{interval}"
    );
    let coverage = interval["coverage"].as_f64().unwrap();
    assert!((0.7..=0.9).contains(&coverage), "{interval}");
    assert_eq!(
        interval["calibration_rows"].as_u64().unwrap() + interval["checked_rows"].as_u64().unwrap(),
        297
    );

    // Approved and served: each row's value as onnxruntime predicts it (within 1e-5 of its
    // scale), the OpenAPI document and the inference protocol saying so too.
    p.approve_to_production("1", "alice", "bob");
    let server = Server::start(&p);
    server.wait_for("production", 1);
    let columns = ["age", "trestbps", "thalach", "oldpeak"];
    let instances = heart_instances(p.path(), 30, Some(&columns));
    let (status, body) = server.post("/v1/predict", &json!({"instances": instances}).to_string());
    assert_eq!(status, 200, "{body}");
    let ort = onnxruntime(
        &p.path().join("gradient_boosting_regressor.onnx"),
        &p.path().join("heart.csv"),
        &columns.join(","),
    );
    let preds = body["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 30, "{body}");
    same_values(&body["predictions"], &ort, "variable", 1e-5);
    for pred in preds {
        let v = pred["value"].as_f64().unwrap();
        let i = &pred["interval"];
        assert_eq!(i["level"], 0.8, "{pred}");
        assert!(
            (i["low"].as_f64().unwrap() - (v - half_width)).abs() < 1e-9,
            "{pred}"
        );
        assert!(
            (i["high"].as_f64().unwrap() - (v + half_width)).abs() < 1e-9,
            "{pred}"
        );
    }
    let (status, spec) = common::server::http(server.port, "GET", "/openapi.json", &[], "");
    assert_eq!(status, 200);
    let spec: Value = serde_json::from_str(&spec).unwrap();
    let item = &spec["components"]["schemas"]["Predictions"]["properties"]["predictions"]["items"];
    assert_eq!(item["required"], json!(["value"]), "{item}");
    let infer = json!({"inputs": columns.iter().map(|c| json!({
        "name": c, "datatype": "FP32", "shape": [2, 1],
        "data": [instances[0][c], instances[1][c]],
    })).collect::<Vec<_>>()});
    let (status, oip) = server.post("/v1/v2/models/heart-disease/infer", &infer.to_string());
    assert_eq!(status, 200, "{oip}");
    assert_eq!(oip["outputs"][0]["name"], "value", "{oip}");
    assert_eq!(oip["outputs"][0]["data"][1], preds[1]["value"], "{oip}");

    // Feedback is the true value: a number, else a 400 that says so.
    let id = body["request_id"].as_str().unwrap();
    let (status, fb) = server.post(
        "/v1/feedback",
        &json!({"request_id": id, "label": 233.0}).to_string(),
    );
    assert_eq!(status, 202, "{fb}");
    assert_eq!(fb["label"], 233.0, "{fb}");
    let (status, fb) = server.post(
        "/v1/feedback",
        &json!({"request_id": id, "label": "high"}).to_string(),
    );
    assert_eq!(status, 400, "{fb}");
    assert!(fb.to_string().contains("is not a number"), "{fb}");
    // Batch prediction writes each row's value and interval, the API's values.
    p.run(&["predict", "--input", "heart.csv", "--out", "values.csv"])
        .ok();
    let written = std::fs::read_to_string(p.path().join("values.csv")).unwrap();
    let mut lines = written.lines();
    assert_eq!(
        lines.next().unwrap(),
        "row,value,interval_low,interval_high,model,version"
    );
    for (line, pred) in lines.zip(preds) {
        let cells: Vec<&str> = line.split(',').collect();
        let v: f64 = cells[1].parse().unwrap();
        assert!((v - pred["value"].as_f64().unwrap()).abs() < 1e-9, "{line}");
        let low: f64 = cells[2].parse().unwrap();
        assert!((low - (v - half_width)).abs() < 1e-9, "{line}");
    }
    // Monitoring an imported regression's values is not built: said.
    let monitor = p.run(&["monitor", "check"]);
    assert_ne!(monitor.code, 0, "{}", monitor.snapshot());
    assert!(
        monitor.stderr.contains("monitoring it is not built yet"),
        "{}",
        monitor.stderr
    );
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

/// The Python tokenizer's ids and onnxruntime's logits for `texts` (`python/text_run.py`).
fn text_reference(model: &std::path::Path, texts: &[&str]) -> Value {
    use std::io::Write as _;
    let mut child = std::process::Command::new(repo_root().join(".venv/bin/python"))
        .arg(repo_root().join("python/text_run.py"))
        .arg(model)
        .arg(repo_root().join("tests/fixtures/imported/tokenizer.json"))
        .arg("16")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(texts).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Softmax of a row of logits.
fn softmax(z: &[f64]) -> Vec<f64> {
    let max = z.iter().copied().fold(f64::MIN, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|v| v / sum).collect()
}

/// A Hugging Face text classifier (a BERT exported by `torch.onnx`, with its tokenizer.json):
/// carded, evaluated on labelled messages, approved by a second person, served over HTTP with
/// onnxruntime's probabilities for the Python tokenizer's ids, long texts cut and said so,
/// feedback taken; its next version approved and swapped in by the running server.
#[test]
fn a_text_classifier_with_its_tokenizer_is_imported_served_and_replaced() {
    let p = Project::with_data();
    p.run(&["up", "--yes"]).ok();
    for f in [
        "text_classifier.onnx",
        "text_classifier_v2.onnx",
        "tokenizer.json",
        "tweets.csv",
    ] {
        fixture(&p, f);
    }
    // The card inferred from the graph: a text model, its tokenizer beside it.
    let first = p.run(&["models", "import", "text_classifier.onnx", "--as", "alice"]);
    assert_eq!(first.code, 1, "{}", first.snapshot());
    let card_path = p.path().join("text_classifier.card.yaml");
    let card = std::fs::read_to_string(&card_path).unwrap();
    for want in [
        "name: \"text\"\n      type: text",
        "tokenizer: \"tokenizer.json\"",
        "input_ids: \"input_ids\"",
        "attention_mask: \"attention_mask\"",
        "token_type_ids: \"token_type_ids\"",
        "logits: \"logits\"",
        "classes: [\"0\", \"1\", \"2\"]",
    ] {
        assert!(card.contains(want), "{want}\n{card}");
    }
    let card = card
        .replace("max_length: 128", "max_length: 16")
        .replace("[\"0\", \"1\", \"2\"]", "[fire, flood, other]");
    std::fs::write(&card_path, &card).unwrap();
    std::fs::copy(&card_path, p.path().join("text_classifier_v2.card.yaml")).unwrap();

    let import_text = |model: &str| {
        p.run(&[
            "models",
            "import",
            model,
            "--data",
            "tweets.csv",
            "--label",
            "label",
            "--as",
            "alice",
            "--output",
            "json",
        ])
    };
    let r = import_text("text_classifier.onnx");
    assert_eq!(r.code, 0, "{}", r.snapshot());
    let out: Value = serde_json::from_str(&r.raw_stdout).unwrap();
    assert_eq!(out["evaluation"]["rows"], 900);
    assert!(
        out["evaluation"]["accuracy"].as_f64().unwrap() > 0.9,
        "{out}"
    );
    assert_eq!(out["registered"]["version"], 1);
    // One artifact: the tokenizer travels inside the registered file.
    let show = p.run(&["models", "show", "1", "--output", "json"]);
    let v: Value = serde_json::from_str(&show.raw_stdout).unwrap();
    let stored = std::fs::read(
        v["artifact_uri"]
            .as_str()
            .unwrap()
            .trim_start_matches("file://"),
    )
    .unwrap();
    assert!(String::from_utf8_lossy(&stored).contains("mlinfra.tokenizer"));
    p.approve_to_production("1", "alice", "bob");

    let server = Server::start(&p);
    server.wait_for("production", 1);
    let texts = [
        "Fire near the café in São Paulo 🔥",
        "洪水 warning: water rising in 京都",
        "lovely coffee at Málaga ☕ 😎 with friends and a book and the sun and the sea and more",
        "ÀÉÎÕÜ ñ ß ø",
    ];
    let instances: Vec<Value> = texts.iter().map(|t| json!({"text": t})).collect();
    let (status, body) = server.post("/v1/predict", &json!({"instances": instances}).to_string());
    assert_eq!(status, 200, "{body}");
    let reference = text_reference(&p.path().join("text_classifier.onnx"), &texts);
    let predictions = body["predictions"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    for (i, pred) in predictions.iter().enumerate() {
        let z: Vec<f64> = reference["logits"][i]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let want = softmax(&z);
        for (c, class) in ["fire", "flood", "other"].iter().enumerate() {
            let served = pred["probabilities"][class].as_f64().unwrap();
            assert!(
                (served - want[c]).abs() <= 1e-4,
                "text {i} {class}: {served} vs {}",
                want[c]
            );
        }
        assert_eq!(
            pred["truncated"].as_bool().unwrap(),
            reference["overflowing"][i].as_bool().unwrap()
        );
    }
    assert_eq!(predictions[0]["label"], "fire");
    assert_eq!(predictions[1]["label"], "flood");
    assert_eq!(predictions[2]["truncated"], true, "{body}");
    assert_eq!(predictions[2]["tokens"], 16, "{body}");
    assert_eq!(body["warnings"][0]["field"], "instances[2].text", "{body}");
    // Batch prediction of a file of texts: the same probabilities as the API's.
    let mut w = csv::Writer::from_path(p.path().join("texts.csv")).unwrap();
    w.write_record(["text"]).unwrap();
    for t in &texts {
        w.write_record([t]).unwrap();
    }
    w.flush().unwrap();
    let batch = p.run(&["predict", "--input", "texts.csv", "--out", "scored.csv"]);
    assert_eq!(batch.code, 0, "{}", batch.snapshot());
    let mut scored = csv::Reader::from_path(p.path().join("scored.csv")).unwrap();
    let header = scored.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = scored.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), texts.len());
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(
            row[1],
            *predictions[i]["label"].as_str().unwrap(),
            "{row:?}"
        );
        for class in ["fire", "flood", "other"] {
            let column = header
                .iter()
                .position(|h| h == format!("p_{class}"))
                .unwrap();
            let batch: f64 = row[column].parse().unwrap();
            let served = predictions[i]["probabilities"][class].as_f64().unwrap();
            assert!(
                (batch - served).abs() <= 1e-6,
                "row {i} {class}: {batch} vs {served}"
            );
        }
    }
    // Triton's own client, on the Open Inference Protocol routes: the same probabilities.
    let triton = {
        use std::io::Write as _;
        let mut child = std::process::Command::new(repo_root().join(".venv/bin/python"))
            .arg(repo_root().join("python/triton_check.py"))
            .arg(format!("127.0.0.1:{}/v1", server.port))
            .arg(&server.key)
            .arg("heart-disease")
            .arg("text")
            .arg("BYTES")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(serde_json::to_string(&texts).unwrap().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    assert_eq!(triton["live"], true, "{triton}");
    assert_eq!(triton["ready"], true, "{triton}");
    assert_eq!(triton["model_ready"], true, "{triton}");
    assert_eq!(triton["metadata"]["versions"], json!(["1"]), "{triton}");
    assert_eq!(
        triton["metadata"]["inputs"],
        json!([{"name": "text", "datatype": "BYTES", "shape": [-1]}])
    );
    for (i, pred) in predictions.iter().enumerate() {
        assert_eq!(triton["label"][i], pred["label"], "{triton}");
        for (c, class) in ["fire", "flood", "other"].iter().enumerate() {
            let ours = pred["probabilities"][class].as_f64().unwrap();
            let theirs = triton["probabilities"][i][c].as_f64().unwrap();
            assert!(
                (ours - theirs).abs() <= 1e-6,
                "text {i}: {ours} vs {theirs}"
            );
        }
    }
    // A bare string is a text too; anything else is named.
    let (status, body) = server.post(
        "/v1/predict",
        &json!({"instances": ["smoke everywhere", {"text": 3}, {"txt": "x"}]}).to_string(),
    );
    assert_eq!(status, 400, "{body}");
    let fields: Vec<&str> = body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["instances[1].text", "instances[2].txt", "instances[2].text"],
        "{body}"
    );
    // Feedback on a text prediction, as for any model.
    let (status, body) = server.post(
        "/v1/predict",
        &json!({"instances": [{"text": "flames seen downtown"}]}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let (status, fb) = server.post(
        "/v1/feedback",
        &json!({"request_id": body["request_id"], "label": "fire"}).to_string(),
    );
    assert_eq!(status, 202, "{fb}");

    // Traffic unlike the evaluation set (long, unfamiliar texts): the monitor reads each
    // text's tokens, unknown tokens and truncation, the confidence and the predicted classes,
    // against what the model answered its evaluation set.
    let odd: Vec<Value> = (0..40)
        .map(|i| json!({"text": format!("Ünknown wörds ñ {i} quixotic zephyr jabberwocky bewildering xylophones galore everywhere 🦄🦄")}))
        .collect();
    let (status, body) = server.post("/v1/predict", &json!({"instances": odd}).to_string());
    assert_eq!(status, 200, "{body}");
    // The log is written in the background: look until the 40 texts are in it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let report = loop {
        let check = p.run(&["monitor", "check", "--output", "json"]);
        let out: Value = serde_json::from_str(&check.raw_stdout)
            .unwrap_or_else(|_| panic!("{}", check.snapshot()));
        let report = if out["report"].is_object() {
            out["report"].clone()
        } else {
            out
        };
        if report["current_rows"].as_u64().unwrap_or(0) >= 40 {
            break report;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the texts were not logged: {report}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let drifted: Vec<&str> = report["features"]
        .as_array()
        .unwrap_or_else(|| panic!("{report}"))
        .iter()
        .filter(|f| f["drifted"] == true)
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    for f in ["tokens", "unknown", "truncated"] {
        assert!(drifted.contains(&f), "{f} not drifted: {report}");
    }
    assert_eq!(report["dataset"]["drifted"], true, "{report}");

    // The user's own training code, as the stack's `training.command`: it writes the next
    // version (here, as torch would have made it) with its card, tokenizer and evaluation set;
    // `retrain` imports it, blesses it, registers it and requests Production for another person
    // to approve, and the running server swaps.
    std::fs::write(
        p.path().join("stacks/train.py"),
        r#"import csv, os, shutil
out, here = os.environ["MLINFRA_OUTPUT"], os.path.dirname(os.path.abspath(__file__))
with open(os.environ["MLINFRA_DATA"]) as f:
    print(f"training on {sum(1 for _ in f) - 1} curated rows, epochs {os.environ['EPOCHS']}")
project = os.path.join(here, "..")
shutil.copy(os.path.join(project, "text_classifier_v2.onnx"), os.path.join(out, "model.onnx"))
shutil.copy(os.path.join(project, "text_classifier.card.yaml"), os.path.join(out, "model.card.yaml"))
shutil.copy(os.path.join(project, "tokenizer.json"), os.path.join(out, "tokenizer.json"))
with open(os.path.join(project, "tweets.csv")) as f, open(os.path.join(out, "eval.csv"), "w") as g:
    rows = list(csv.reader(f))
    rows[0][1] = os.environ["MLINFRA_LABEL"]
    csv.writer(g).writerows(rows)
"#,
    )
    .unwrap();
    p.edit_stack(
        "\nschedules:",
        "\ntraining:\n  command: [python3, train.py]\n  timeout_s: 120\n  environment:\n    EPOCHS: \"2\"\n\nschedules:",
    );
    p.run(&[
        "data",
        "ingest",
        "examples/heart-disease/processed.cleveland.csv",
    ])
    .ok();
    let r = p.run(&["retrain", "--as", "alice", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    let out: Value = serde_json::from_str(&r.raw_stdout).unwrap();
    assert_eq!(out["registered_version"], 2, "{out}");
    assert_eq!(out["training"]["exit_code"], 0, "{out}");
    assert!(
        out["training"]["stdout"]
            .as_str()
            .unwrap()
            .starts_with("training on 303 curated rows, epochs 2"),
        "{out}"
    );
    let record = out["record"]
        .as_str()
        .unwrap()
        .trim_start_matches("file://");
    assert!(std::path::Path::new(record).exists(), "{record}");
    let request = out["request"].as_str().unwrap();
    // The person who retrained cannot approve it; another can.
    let own = p.run(&["models", "approve", request, "--as", "alice"]);
    assert_ne!(own.code, 0, "{}", own.snapshot());
    p.run(&["models", "approve", request, "--as", "bob"]).ok();
    server.wait_for("production", 2);
    let (status, body) = server.post("/v1/predict", &json!({"instances": ["help"]}).to_string());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"]["version"], 2);
}

/// A torchvision image classifier: carded, evaluated on a manifest of pictures, approved, and
/// served over HTTP with pictures in base64 JSON and as raw PNG and JPEG bodies, each answer
/// onnxruntime's on Pillow's tensor; pictures that cannot be read are a 400 naming them.
#[test]
fn an_image_classifier_is_imported_and_served_pictures() {
    use base64::Engine as _;
    let p = Project::new();
    p.run(&["up", "--yes"]).ok();
    fixture(&p, "image_classifier.onnx");
    let images = repo_root().join("tests/fixtures/imported/images");
    std::fs::create_dir_all(p.path().join("images")).unwrap();
    for e in std::fs::read_dir(&images).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), p.path().join("images").join(e.file_name())).unwrap();
    }
    let first = p.run(&["models", "import", "image_classifier.onnx", "--as", "alice"]);
    assert_eq!(first.code, 1, "{}", first.snapshot());
    let card_path = p.path().join("image_classifier.card.yaml");
    let card = std::fs::read_to_string(&card_path).unwrap();
    for want in [
        "name: \"image\"\n      type: image",
        "tensor: \"pixels\"",
        "width: 64",
        "layout: nchw",
        "logits: \"logits\"",
    ] {
        assert!(card.contains(want), "{want}\n{card}");
    }
    std::fs::write(
        &card_path,
        card.replace("[\"0\", \"1\", \"2\"]", "[red, green, blue]"),
    )
    .unwrap();
    let r = p.run(&[
        "models",
        "import",
        "image_classifier.onnx",
        "--data",
        "images/labels.csv",
        "--label",
        "label",
        "--as",
        "alice",
        "--output",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    let out: Value = serde_json::from_str(&r.raw_stdout).unwrap();
    assert_eq!(out["evaluation"]["rows"], 24, "{out}");
    assert!(
        out["evaluation"]["accuracy"].as_f64().unwrap() > 0.8,
        "{out}"
    );
    p.approve_to_production("1", "alice", "bob");

    let server = Server::start(&p);
    server.wait_for("production", 1);
    let names = ["00_red.png", "01_green.jpg", "14_blue.png", "23_blue.jpg"];
    let files: Vec<Vec<u8>> = names
        .iter()
        .map(|n| std::fs::read(images.join(n)).unwrap())
        .collect();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let instances: Vec<Value> = files
        .iter()
        .map(|f| json!({"image": {"b64": b64(f)}}))
        .collect();
    let (status, body) = server.post("/v1/predict", &json!({"instances": instances}).to_string());
    assert_eq!(status, 200, "{body}");
    let model = images.join("../image_classifier.onnx");
    let reference = python(
        "image_run.py",
        [model.into_os_string(), "64".into()]
            .into_iter()
            .chain(names.iter().map(|n| images.join(n).into_os_string())),
    );
    let predictions = body["predictions"].as_array().unwrap();
    for (i, pred) in predictions.iter().enumerate() {
        let z: Vec<f64> = reference["logits"][i]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let want = softmax(&z);
        // PNGs are Pillow's pixels within 1/255, JPEGs within 3/255 (the decoders differ).
        for (c, class) in ["red", "green", "blue"].iter().enumerate() {
            let served = pred["probabilities"][class].as_f64().unwrap();
            assert!(
                (served - want[c]).abs() <= 1e-3,
                "{} {class}: {served} vs {}",
                names[i],
                want[c]
            );
        }
        assert!(names[i].contains(pred["label"].as_str().unwrap()), "{body}");
    }
    assert_eq!(
        predictions[0]["image"],
        json!({"width": 200, "height": 150})
    );
    // The API's document describes the picture as the card makes it.
    let (status, spec) = common::server::http(server.port, "GET", "/openapi.json", &[], "");
    assert_eq!(status, 200, "{spec}");
    let spec: Value = serde_json::from_str(&spec).unwrap();
    let image = &spec["components"]["schemas"]["Instance"]["properties"]["image"];
    assert_eq!(image["type"], "object", "{image}");
    assert_eq!(image["properties"]["b64"]["format"], "byte", "{image}");

    // The picture itself as the body, PNG and JPEG.
    for (i, ct) in [(0, "image/png"), (1, "image/jpeg")] {
        let (status, raw) = server.post_bytes("/v1/predict", ct, &files[i]);
        assert_eq!(status, 200, "{raw}");
        assert_eq!(
            raw["predictions"][0]["probabilities"], predictions[i]["probabilities"],
            "{raw}"
        );
    }
    // `top_k`: only the most probable classes' probabilities, the same values.
    let (status, top) = server.post_bytes("/v1/predict?top_k=2", "image/png", &files[0]);
    assert_eq!(status, 200, "{top}");
    let all = predictions[0]["probabilities"].as_object().unwrap();
    let mut ranked: Vec<(&String, f64)> =
        all.iter().map(|(c, p)| (c, p.as_f64().unwrap())).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let top = top["predictions"][0]["probabilities"].as_object().unwrap();
    assert_eq!(top.len(), 2, "{top:?}");
    for (c, p) in &ranked[..2] {
        assert_eq!(top[c.as_str()].as_f64(), Some(*p), "{top:?}");
    }
    let (status, body) = server.post_bytes("/v1/predict?top_k=0", "image/png", &files[0]);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["details"][0]["field"], "top_k", "{body}");

    // What is not a picture, and a picture too large to decode, named and refused.
    let mut huge = files[0].clone();
    huge[16..20].copy_from_slice(&20000u32.to_be_bytes());
    huge[20..24].copy_from_slice(&20000u32.to_be_bytes());
    let (status, body) = server.post(
        "/v1/predict",
        &json!({"instances": [{"image": {"b64": b64(b"GIF89a not really")}}, {"image": "%%%"}]})
            .to_string(),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["details"][0]["field"], "instances[0].image", "{body}");
    assert_eq!(body["details"][1]["field"], "instances[1].image", "{body}");
    assert!(
        body["details"][1]["message"]
            .as_str()
            .unwrap()
            .starts_with("not base64"),
        "{body}"
    );
    let (status, body) = server.post_bytes("/v1/predict", "image/png", &huge);
    assert_eq!(status, 400, "{body}");
    let message = body["details"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("20000×20000") || message.contains("cannot be read"),
        "{body}"
    );
    // Batch prediction of pictures is not built: said, nothing written.
    let batch = p.run(&[
        "predict",
        "--input",
        "images/labels.csv",
        "--out",
        "scored.csv",
    ]);
    assert_eq!(batch.code, 1, "{}", batch.snapshot());
    assert!(batch.stderr.contains("takes pictures"), "{}", batch.stderr);
    assert!(!p.path().join("scored.csv").exists());
}
