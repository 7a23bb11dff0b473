//! Batch prediction from the CLI: CSV in, SQLite or CSV out; the same probabilities as the model
//! run directly; reruns idempotent; a bad row leaves no output behind.

#![allow(clippy::unwrap_used)]

mod common;

use common::Project;

const DATA: &str = "examples/heart-disease/processed.cleveland.csv";

fn deployed() -> (Project, Vec<u8>) {
    let p = Project::with_data();
    p.run(&["up", "--yes"]).ok();
    let run: serde_json::Value = serde_json::from_str(
        &p.run(&["pipeline", "run", "--as", "alice", "--output", "json"])
            .raw_stdout,
    )
    .unwrap();
    p.approve_to_production("1", "alice", "bob");
    let id = run["run"]["run_id"].as_str().unwrap();
    let onnx = std::fs::read(
        p.env_dir()
            .join(format!("lake/models/heart-disease/{id}/model.onnx")),
    )
    .unwrap();
    (p, onnx)
}

#[test]
fn csv_in_sqlite_out_matches_the_model_and_reruns_are_idempotent() {
    let (p, onnx) = deployed();
    p.run(&["predict", "--input", DATA, "--out", "sqlite://out.db"])
        .ok();
    p.run(&["predict", "--input", DATA, "--out", "sqlite://out.db"])
        .ok();
    let conn = rusqlite::Connection::open(p.path().join("out.db")).unwrap();
    let (rows, runs): (i64, i64) = conn
        .query_row(
            "SELECT count(*), count(DISTINCT run_id) FROM predictions",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((rows, runs), (303, 1));

    // The same rows through tract directly.
    let text = std::fs::read_to_string(p.path().join(DATA)).unwrap();
    let data: Vec<f32> = text
        .lines()
        .skip(1)
        .flat_map(|l| {
            l.split(',')
                .take(13)
                .map(|c| c.parse::<f32>().unwrap_or(f32::NAN))
                .collect::<Vec<_>>()
        })
        .collect();
    let scorer = mlinfra_core::scorer::Scorer::load(&onnx, 13, 2).unwrap();
    let direct = scorer.score(303, &data).unwrap();
    let mut stmt = conn
        .prepare("SELECT row, label, p_0, p_1, version FROM predictions ORDER BY row")
        .unwrap();
    let got: Vec<(i64, i64, f64, f64, i64)> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (row, label, p0, p1, version) in got {
        let i = row as usize;
        assert_eq!(label, direct.labels[i]);
        // Scored by the model's own evaluator, which agrees with the graph within 1e-5
        // (checked when it is loaded).
        assert!((p0 - f64::from(direct.probabilities[i * 2])).abs() <= 1e-5);
        assert!((p1 - f64::from(direct.probabilities[i * 2 + 1])).abs() <= 1e-5);
        assert_eq!(version, 1);
    }

    let spec: serde_json::Value =
        serde_json::from_str(&p.run(&["api", "spec"]).raw_stdout).unwrap();
    assert_eq!(spec["openapi"], "3.0.3");
    assert_eq!(spec["info"]["version"], "1");

    let r = p.run(&["predict", "--input", DATA, "--out", "out.csv"]);
    r.ok();
    let csv = std::fs::read_to_string(p.path().join("out.csv")).unwrap();
    assert_eq!(csv.lines().count(), 304);
    assert!(csv.starts_with("row,label,confidence,p_0,p_1,model,version\n"));
}

#[test]
fn a_bad_row_leaves_no_output_behind() {
    let (p, _) = deployed();
    let mut text = std::fs::read_to_string(p.path().join(DATA)).unwrap();
    text.push_str("sixty,1,1,145,233,1,2,150,0,2.3,3,0,6,0\n");
    p.write("bad.csv", text.as_bytes());
    let r = p.run(&["predict", "--input", "bad.csv", "--out", "out.csv"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("line 305: column `age` is `sixty`, expected a number"),
        "{}",
        r.stderr
    );
    assert!(!p.path().join("out.csv").exists() && !p.path().join("out.csv.partial").exists());
    let r = p.run(&["predict", "--input", "bad.csv", "--out", "sqlite://out.db"]);
    assert_eq!(r.code, 1);
    let conn = rusqlite::Connection::open(p.path().join("out.db")).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM predictions", [], |r| r.get(0))
        .unwrap_or(0);
    assert_eq!(n, 0, "the transaction was rolled back");
    let r = p.run(&["predict", "--input", "bad.csv", "--stage", "staging"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("has no Staging version"), "{}", r.stderr);
}

#[test]
fn explain_adds_each_rows_shap_values_which_add_up_to_its_log_odds() {
    let (p, _) = deployed();
    p.run(&["predict", "--input", DATA, "--out", "out.csv", "--explain"])
        .ok();
    let text = std::fs::read_to_string(p.path().join("out.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        header[..8],
        [
            "row",
            "label",
            "confidence",
            "p_0",
            "p_1",
            "model",
            "version",
            "base"
        ]
    );
    assert_eq!(header[8], "shap_age");
    assert_eq!(header.len(), 8 + 13, "one shap_ column per feature");
    let mut rows = 0;
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let num = |i: usize| cells[i].parse::<f64>().unwrap();
        let margin: f64 = (7..cells.len()).map(num).sum();
        let p1 = num(4);
        let logit = (p1 / (1.0 - p1)).ln();
        assert!(
            (margin - logit).abs() < 1e-4,
            "row {}: base + shap = {margin}, log-odds of p_1 = {logit}",
            cells[0]
        );
        rows += 1;
    }
    assert_eq!(rows, 303);
    // The same columns in SQLite and Parquet.
    p.run(&[
        "predict",
        "--input",
        DATA,
        "--out",
        "sqlite://out.db",
        "--explain",
    ])
    .ok();
    let conn = rusqlite::Connection::open(p.path().join("out.db")).unwrap();
    let (n, base): (i64, f64) = conn
        .query_row(
            "SELECT count(*), min(base) FROM predictions WHERE shap_thal IS NOT NULL",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(n, 303);
    assert!(base.is_finite());
    p.run(&[
        "predict",
        "--input",
        DATA,
        "--out",
        "out.parquet",
        "--explain",
    ])
    .ok();
    assert!(p.path().join("out.parquet").is_file());
}
