//! `mlinfra data` and `mlinfra pipeline run` as a user runs them on the example project.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Project, assert_golden, manifest_dir};

const DATA: &str = "examples/heart-disease/processed.cleveland.csv";

#[test]
fn stats_as_json_and_as_a_self_contained_html_page() {
    let p = Project::with_data();
    let r = p.run(&["data", "stats", "--output", "json"]);
    r.ok();
    let v: serde_json::Value = serde_json::from_str(&r.raw_stdout).unwrap();
    assert_eq!(v["rows"], 303);
    assert_eq!(v["features"].as_array().unwrap().len(), 13);
    assert_eq!(v["label"]["counts"], serde_json::json!([164, 139]));
    let ca = v["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "ca")
        .unwrap();
    assert_eq!(ca["missing"], 4);
    assert_eq!(ca["kind"], "categorical");

    let html = p.run(&["data", "stats", "--output", "html"]);
    html.ok();
    assert!(html.stdout.starts_with("<!DOCTYPE html>"));
    assert_eq!(
        html.stdout.matches("<svg").count(),
        14,
        "one chart per feature and one for the label"
    );
    assert!(
        !html.stdout.contains("<script") && !html.stdout.contains("http"),
        "the page loads nothing"
    );
}

#[test]
fn schema_and_stats_in_the_terminal() {
    let p = Project::with_data();
    let r = p.run(&["data", "schema"]);
    assert_golden(
        &manifest_dir().join("tests/snapshots/data-schema.txt"),
        &r.snapshot(),
    );
    let r = p.run(&["data", "stats"]);
    assert_golden(
        &manifest_dir().join("tests/snapshots/data-stats.txt"),
        &r.snapshot(),
    );
}

#[test]
fn validate_reports_anomalies_and_fails_on_errors() {
    let p = Project::with_data();
    let clean = p.run(&["data", "validate"]);
    clean.ok();
    assert_eq!(clean.stdout, "No anomalies in 303 rows.\n");
    let text = std::fs::read_to_string(p.path().join(DATA)).unwrap();
    let bad: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| match i {
            1 => format!("sixty,{}", l.split_once(',').unwrap().1),
            2 => l
                .replacen(",3.0,0", ",9.0,0", 1)
                .replacen(",6.0,0", ",9.0,0", 1)
                .replacen(",7.0,", ",9.0,", 1),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    p.write("bad.csv", bad.as_bytes());
    let r = p.run(&["data", "validate", "--data", "bad.csv"]);
    assert_eq!(r.code, 1, "{}", r.snapshot());
    assert!(
        r.stdout.contains("error     age     wrong_type"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("1 error (block training)"),
        "{}",
        r.stdout
    );
}

#[test]
fn pipeline_run_writes_every_artifact_and_is_deterministic() {
    let p = Project::with_data();
    let r = p.run(&["pipeline", "run"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("hint: run `mlinfra up` first"),
        "{}",
        r.stderr
    );

    p.run(&["up", "--yes"]).ok();
    let r = p.run(&["pipeline", "run", "--output", "json"]);
    r.ok();
    let v: serde_json::Value = serde_json::from_str(&r.raw_stdout).unwrap();
    let run = &v["run"];
    assert!(run["metrics"]["roc_auc"].as_f64().unwrap() >= 0.85, "{run}");
    assert_eq!(run["blessing"]["blessed"], true);
    assert_eq!(run["search"]["trials"], 20);
    for a in v["artifacts"].as_array().unwrap() {
        let path = a
            .as_str()
            .unwrap()
            .replace("[TMP]", p.path().to_str().unwrap());
        assert!(
            std::path::Path::new(&path).is_file(),
            "missing artifact {path}"
        );
    }
    let id = run["run_id"].as_str().unwrap();
    let lake = p.env_dir().join("lake");
    let model = std::fs::read(lake.join(format!("models/heart-disease/{id}/model.onnx"))).unwrap();
    let digest = mlinfra_core::pipeline::sha256_hex(&model);
    assert_eq!(run["model_sha256"], format!("sha256:{digest}"));
    let record = std::fs::read(lake.join(format!("artifacts/runs/{id}/run.json"))).unwrap();

    // The same data and seeds: the same run, byte for byte.
    let again = p.run(&["pipeline", "run", "--output", "json"]);
    again.ok();
    let v2: serde_json::Value = serde_json::from_str(&again.raw_stdout).unwrap();
    assert_eq!(v2["run"]["run_id"], id);
    assert_eq!(
        std::fs::read(lake.join(format!("models/heart-disease/{id}/model.onnx"))).unwrap(),
        model
    );
    assert_eq!(
        std::fs::read(lake.join(format!("artifacts/runs/{id}/run.json"))).unwrap(),
        record
    );
}

#[test]
fn multiclass_runs_end_to_end_from_the_cli() {
    let p = Project::with_data();
    p.edit_stack("    positive_when: \"> 0\"\n", "");
    p.run(&["up", "--yes"]).ok();
    let r = p.run(&["pipeline", "run", "--output", "json"]);
    // Five classes are harder: the stack's 0.85 AUC floor may not be met, but the run completes.
    r.ok();
    let v: serde_json::Value = serde_json::from_str(&r.raw_stdout).unwrap();
    assert_eq!(
        v["run"]["metrics"]["confusion"].as_array().unwrap().len(),
        5
    );
    assert!(v["run"]["metrics"]["roc_auc"].as_f64().unwrap() > 0.6);
}

#[test]
fn bad_data_files_give_clear_errors() {
    let p = Project::with_data();
    let cases: [(&str, &[u8], &str); 7] = [
        ("empty.csv", b"", "the file is empty"),
        (
            "header.csv",
            b"age,num\n",
            "has a header row but no data rows",
        ),
        (
            "ragged.csv",
            b"age,num\n1,0\n2\n",
            "line 3: 1 fields, but the header has 2",
        ),
        (
            "binary.csv",
            b"age,num\n1,0\n\xff\xfe,1\n",
            "line 3: not UTF-8",
        ),
        (
            "nolabel.csv",
            b"age,sex\n1,0\n2,1\n",
            "label column `num` is not in the file",
        ),
        ("oneclass.csv", b"age,num\n1,0\n2,0\n", "a single class `0`"),
        (
            "allmissing.csv",
            b"age,x,num\n1,?,0\n2,?,1\n3,?,0\n4,?,1\n5,?,1\n6,?,0\n",
            "column `x` has no values at all",
        ),
    ];
    p.run(&["up", "--yes"]).ok();
    for (name, bytes, expected) in cases {
        p.write(name, bytes);
        let cmd = if name == "allmissing.csv" {
            "pipeline"
        } else {
            "data"
        };
        let args: Vec<&str> = if cmd == "pipeline" {
            vec!["pipeline", "run", "--data", name]
        } else {
            vec!["data", "stats", "--data", name]
        };
        let r = p.run(&args);
        assert_eq!(r.code, 1, "{name}: {}", r.snapshot());
        assert!(r.stderr.contains(expected), "{name}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{name}: {}", r.stderr);
    }
    let big = p.run_env(&["data", "stats"], &[("MLINFRA_MAX_DATA_BYTES", "1000")]);
    assert_eq!(big.code, 1);
    assert!(
        big.stderr.contains(
            "is 18538 bytes; mlinfra reads data into memory and takes files up to 1000 bytes"
        ),
        "{}",
        big.stderr
    );
    let r = p.run(&["up", "--output", "html"]);
    assert_eq!(r.code, 2);
}
