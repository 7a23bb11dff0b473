//! Data whose features and labels are words: `init` → `up` → `pipeline run` → approve →
//! `serve` → predict → batch predict → `monitor check`, binary and multiclass, with missing
//! values and a category the model never saw; the served model gives onnxruntime's
//! probabilities (≤ 1e-5) on every row.
//!
//! The fixture is the heart data with `sex`, `cp`, `slope` and `thal` (which has missing values)
//! as words, and `diagnosis` as `absent`/`present` or one word per severity.

#![allow(clippy::unwrap_used)]

mod common;
#[path = "../../functions/core/tests/common/words.rs"]
mod words;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::Project;
use common::server::Server;
use serde_json::{Value, json};
use words::TEXT;

/// A project whose stack `init` wrote to `mlinfra.yaml` (named `heart-disease`, so the helpers
/// find its platform) from `data/patients.csv`. Returns the rows as API instances, with their
/// labels.
fn project(multiclass: bool) -> (Project, Vec<(Value, String)>) {
    let p = Project::new();
    std::fs::remove_dir_all(p.path().join("stacks")).unwrap();
    let heart = common::repo_root().join("examples/heart-disease/processed.cleveland.csv");
    let (header, cells) = words::rows(&std::fs::read_to_string(heart).unwrap(), multiclass);
    let mut out = vec![header[..13].join(",") + ",diagnosis"];
    let mut rows = Vec::new();
    for cells in cells {
        let mut obj = serde_json::Map::new();
        for (h, c) in header.iter().zip(&cells).take(13) {
            let v = if c.is_empty() {
                Value::Null
            } else if TEXT.contains(&h.as_str()) {
                json!(c)
            } else {
                json!(c.parse::<f64>().unwrap())
            };
            obj.insert(h.to_string(), v);
        }
        rows.push((Value::Object(obj), cells[13].clone()));
        out.push(cells.join(","));
    }
    std::fs::create_dir_all(p.path().join("data")).unwrap();
    p.write("data/patients.csv", (out.join("\n") + "\n").as_bytes());
    let mut args = vec![
        "init",
        "--data",
        "data/patients.csv",
        "--label",
        "diagnosis",
        "--name",
        "heart-disease",
    ];
    if !multiclass {
        args.extend(["--positive", "present"]);
    }
    let r = p.run(&args);
    r.ok();
    let said = format!("{}{}", r.stdout, r.stderr);
    assert!(
        said.contains("text categories (strings in API requests): sex, cp, slope, thal"),
        "{said}"
    );
    edit(&p, "trials: 20", "trials: 6");
    (p, rows)
}

/// Replace text in `mlinfra.yaml` (which must hold it).
fn edit(p: &Project, from: &str, to: &str) {
    let path = p.path().join("mlinfra.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "`{from}` not in\n{text}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

fn stack(p: &Project) -> String {
    std::fs::read_to_string(p.path().join("mlinfra.yaml")).unwrap()
}

/// The features in training order (the file's).
fn features() -> Vec<String> {
    [
        "age", "sex", "cp", "trestbps", "chol", "fbs", "restecg", "thalach", "exang", "oldpeak",
        "slope", "ca", "thal",
    ]
    .map(String::from)
    .to_vec()
}

/// The model file the registry holds for `version` (its checksum checked).
fn model_file(p: &Project, version: u64) -> PathBuf {
    let r = p.run(&["models", "show", &version.to_string(), "--output", "json"]);
    r.ok();
    let v: Value = serde_json::from_str(&r.raw_stdout).unwrap();
    let uri = v["artifact_uri"].as_str().unwrap();
    let path = PathBuf::from(uri.strip_prefix("file://").unwrap_or(uri));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("`{}`: {e}", path.display()));
    let sha = v["sha256"].as_str().unwrap();
    assert_eq!(
        sha.trim_start_matches("sha256:"),
        mlinfra_core::pipeline::sha256_hex(&bytes)
    );
    path
}

/// onnxruntime's probabilities for the rows, given as the raw values (strings for text).
fn onnxruntime(
    model: &std::path::Path,
    rows: &[(Value, String)],
    order: &[String],
) -> Vec<Vec<f64>> {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = Vec::new();
    let mut text = serde_json::Map::new();
    let numbers: Vec<&String> = order
        .iter()
        .filter(|n| !TEXT.contains(&n.as_str()))
        .collect();
    for name in order.iter().filter(|n| TEXT.contains(&n.as_str())) {
        let cells: Vec<Value> = rows
            .iter()
            .map(|(r, _)| json!(r[name].as_str().unwrap_or("")))
            .collect();
        text.insert(name.clone(), Value::Array(cells));
    }
    for (r, _) in rows {
        for name in &numbers {
            let x = r[name.as_str()].as_f64().map_or(f32::NAN, |x| x as f32);
            raw.extend_from_slice(&x.to_le_bytes());
        }
    }
    std::fs::write(dir.path().join("x.f32"), raw).unwrap();
    std::fs::write(
        dir.path().join("text.json"),
        Value::Object(text).to_string(),
    )
    .unwrap();
    let out = std::process::Command::new(common::repo_root().join(".venv/bin/python"))
        .arg(common::repo_root().join("python/ort_check.py"))
        .arg(model)
        .arg(dir.path().join("x.f32"))
        .args([rows.len().to_string(), numbers.len().to_string()])
        .arg(dir.path().join("text.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_f64().unwrap())
                .collect()
        })
        .collect()
}

/// `mlinfra predict` on the fixture: the output's header and its rows' cells.
fn batch(p: &Project) -> (String, Vec<Vec<String>>) {
    p.run(&[
        "predict",
        "--input",
        "data/patients.csv",
        "--out",
        "out.csv",
    ])
    .ok();
    let csv = std::fs::read_to_string(p.path().join("out.csv")).unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap().to_string();
    (
        header,
        lines
            .map(|l| l.split(',').map(String::from).collect())
            .collect(),
    )
}

/// `up`, train, and approve version 1 to Production.
fn deploy(p: &Project) {
    p.run(&["up", "--yes"]).ok();
    let r = p.run(&["pipeline", "run", "--as", "alice", "--output", "json"]);
    r.ok();
    let v: Value = serde_json::from_str(&r.raw_stdout).unwrap();
    assert_eq!(v["registered_version"], 1, "{v}");
    p.approve_to_production("1", "alice", "bob");
}

#[test]
fn binary_text_features_and_label_end_to_end() {
    let (p, mut rows) = project(false);
    let stack = stack(&p);
    assert!(
        stack.contains("\n    positive: ") && stack.contains("present"),
        "{stack}"
    );
    deploy(&p);
    let server = Server::start(&p);
    server.wait_for("production", 1);

    // Five rows get a chest-pain type the model never saw.
    for (r, _) in rows.iter_mut().take(5) {
        r["cp"] = json!("never-seen");
    }
    let instances: Vec<&Value> = rows.iter().map(|(r, _)| r).collect();
    let (status, body) = server.post(
        "/v1/predict",
        &json!({ "instances": instances }).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let preds = body["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), rows.len());
    let warnings = body["warnings"].to_string();
    assert!(
        warnings.contains("category `never-seen` was not seen in training"),
        "{warnings}"
    );
    assert!(warnings.contains("instances[4].cp"), "{warnings}");
    let mut right = 0;
    for (pred, (_, label)) in preds.iter().zip(&rows) {
        let l = pred["label"].as_str().unwrap();
        assert!(["absent", "present"].contains(&l), "{pred}");
        right += usize::from(l == label);
    }
    assert!(
        right * 100 >= rows.len() * 75,
        "{right} of {} right",
        rows.len()
    );

    // The model file alone takes the raw strings: onnxruntime agrees with the API on every row.
    let spec: Value = serde_json::from_str(&p.run(&["api", "spec"]).raw_stdout).unwrap();
    let props = &spec["components"]["schemas"]["Instance"]["properties"];
    let props = if props.is_object() {
        props
    } else {
        &spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
            ["instances"]["items"]["properties"]
    };
    // A string: a category never seen in training is answered (with a warning), so the
    // document names the categories without making them an `enum`.
    assert_eq!(props["cp"]["type"], "string");
    assert_eq!(props["cp"]["nullable"], true);
    assert!(props["cp"]["enum"].is_null(), "{props}");
    assert!(
        props["cp"]["description"]
            .as_str()
            .unwrap()
            .contains("one of asymptomatic, atypical, non-anginal, typical"),
        "{props}"
    );
    let ort = onnxruntime(&model_file(&p, 1), &rows, &features());
    let mut worst = 0f64;
    for (pred, o) in preds.iter().zip(&ort) {
        for (c, class) in ["absent", "present"].iter().enumerate() {
            worst = worst.max((pred["probabilities"][class].as_f64().unwrap() - o[c]).abs());
        }
    }
    assert!(worst <= 1e-5, "API vs onnxruntime: {worst}");

    // A number for a text feature is refused, naming the field and what it takes.
    let mut bad = rows[0].0.clone();
    bad["sex"] = json!(1);
    let (status, body) = server.post("/v1/predict", &json!({ "instances": [bad] }).to_string());
    assert_eq!(status, 400, "{body}");
    let detail = &body["details"][0];
    assert_eq!(detail["field"], "instances[0].sex", "{body}");
    assert_eq!(
        detail["message"], "expected a string, one of `F`, `M`, found a number",
        "{body}"
    );

    // Batch: the same probabilities from the CSV file.
    let (header, lines) = batch(&p);
    assert_eq!(
        header,
        "row,label,confidence,p_absent,p_present,model,version"
    );
    let mut n = 0;
    for (i, cells) in lines.iter().enumerate() {
        let p_present: f64 = cells[4].parse().unwrap();
        if i >= 5 {
            let api = preds[i]["probabilities"]["present"].as_f64().unwrap();
            assert!(
                (p_present - api).abs() < 1e-6,
                "row {i}: {p_present} vs {api}"
            );
        }
        n += 1;
    }
    assert_eq!(n, rows.len());

    // The monitor judges the served text categories against the training data's, by name.
    let logs = p.env_dir().join("lake/predictions");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !logs.exists() || std::fs::read_dir(&logs).unwrap().count() == 0 {
        assert!(Instant::now() < deadline, "nothing logged");
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
    let cp = report["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "cp")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(cp["new_categories"], json!(["never-seen"]), "{cp}");
    let bins = cp["histogram"]["bins"].to_string();
    assert!(
        bins.contains("asymptomatic") && bins.contains("typical"),
        "{cp}"
    );
}

#[test]
fn multiclass_text_label_end_to_end() {
    let (p, rows) = project(true);
    let stack = stack(&p);
    assert!(!stack.contains("\n    positive: "), "{stack}");
    // Five severities from 303 rows: the default bar (macro F1 ≥ 0.5) is too high to register.
    edit(&p, "min_metric: 0.5", "min_metric: 0.2");
    deploy(&p);
    let (header, lines) = batch(&p);
    assert_eq!(
        header,
        "row,label,confidence,p_absent,p_critical,p_mild,p_moderate,p_severe,model,version"
    );
    let batch: Vec<Vec<f64>> = lines
        .iter()
        .map(|l| l[3..8].iter().map(|c| c.parse().unwrap()).collect())
        .collect();
    assert_eq!(batch.len(), rows.len());
    let spec: Value = serde_json::from_str(&p.run(&["api", "spec"]).raw_stdout).unwrap();
    let label = &spec["components"]["schemas"]["Predictions"]["properties"]["predictions"]["items"]
        ["properties"]["label"];
    assert_eq!(
        label["enum"],
        json!(["absent", "critical", "mild", "moderate", "severe"]),
        "{label}"
    );
    let ort = onnxruntime(&model_file(&p, 1), &rows, &features());
    let mut worst = 0f64;
    for (b, o) in batch.iter().zip(&ort) {
        for (x, y) in b.iter().zip(o) {
            worst = worst.max((x - y).abs());
        }
    }
    assert!(worst <= 1e-5, "batch vs onnxruntime: {worst}");
}
