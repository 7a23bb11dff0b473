//! What the models' own tools answer, for tests that compare mlinfra's answers with them: the
//! rows of the imported models' evaluation data (`tests/fixtures/imported/heart.csv`) as JSON
//! instances, onnxruntime's outputs for them (`python/ort_run.py`), and the comparison of a
//! served answer's probabilities with onnxruntime's. Shared by the e2e and the provisioner's
//! tests (`#[path]`).

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The first `rows` rows of `heart.csv` in `dir` as JSON instances (numbers as numbers, text as
/// strings), without the label `target`; only the columns `keep` when given.
pub fn heart_instances(dir: &Path, rows: usize, keep: Option<&[&str]>) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("heart.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .take(rows)
        .map(|l| {
            let mut o = serde_json::Map::new();
            for (h, c) in header.iter().zip(l.split(',')) {
                if *h != "target" && keep.is_none_or(|k| k.contains(h)) {
                    o.insert(
                        h.to_string(),
                        c.parse::<f64>().map_or_else(|_| json!(c), |x| json!(x)),
                    );
                }
            }
            Value::Object(o)
        })
        .collect()
}

/// onnxruntime's outputs for `model` on the rows of `data`, by output name (`python/ort_run.py`:
/// `columns`, comma-separated, go into a graph input that is no column's name as one tensor
/// `[N, F]`; `""` when every input is a column).
pub fn onnxruntime(model: &Path, data: &Path, columns: &str) -> Value {
    python(
        "ort_run.py",
        [model.as_os_str(), data.as_os_str(), columns.as_ref()],
    )
}

/// What `python/SCRIPT ARGS` prints (JSON), run by the repository's venv; its stderr in the
/// failure when it fails.
pub fn python<A: AsRef<std::ffi::OsStr>>(script: &str, args: impl IntoIterator<Item = A>) -> Value {
    let root = repo_root();
    let out = std::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("python").join(script))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python/{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Assert that the served `predictions` (`{"probabilities": {"0": p0, "1": p1, ...}}`) are
/// onnxruntime's `ort` (its ZipMap's `output_probability` or onnxmltools' `probabilities`)
/// within `tolerance`, row by row; `model` names the model in the failure.
pub fn same_probabilities(model: &str, predictions: &Value, ort: &Value, tolerance: f64) {
    let theirs = ort
        .get("output_probability")
        .or_else(|| ort.get("probabilities"))
        .unwrap_or_else(|| panic!("{model}: onnxruntime answered no probabilities: {ort}"));
    let preds = predictions.as_array().unwrap();
    assert!(!preds.is_empty(), "{model}: no predictions");
    for (r, p) in preds.iter().enumerate() {
        let row = theirs[r].as_array().unwrap();
        for (c, theirs) in row.iter().enumerate() {
            let served = p["probabilities"][c.to_string()].as_f64().unwrap();
            let theirs = theirs.as_f64().unwrap();
            assert!(
                (served - theirs).abs() <= tolerance,
                "{model} row {r} class {c}: {served} vs onnxruntime {theirs}"
            );
        }
    }
}

/// The example stack (`stacks/heart-disease.yaml`'s text) made a regression stack: `model.task:
/// regression`, RMSE for the search and the policy (no minimum), the label's value predicted.
pub fn regression_stack(text: &str) -> String {
    let out = text
        .replace("    positive_when: \"> 0\"\n", "")
        .replace(
            "model:\n  name: heart-disease\n",
            "model:\n  name: heart-disease\n  task: regression\n",
        )
        .replace("    metric: roc_auc\n", "    metric: rmse\n")
        .replace(
            "families: [logistic_regression, gradient_boosted_trees]",
            "families: [ridge, gradient_boosted_trees]",
        )
        .replace("    logistic_regression:\n", "    ridge:\n")
        .replace(
            "promotion:\n  metric: roc_auc\n  min_metric: 0.85\n",
            "promotion:\n  metric: rmse\n  min_metric: 0\n",
        );
    assert!(
        out.contains("task: regression")
            && !out.contains("roc_auc")
            && !out.contains("logistic_regression"),
        "the example stack changed: {out}"
    );
    out
}

/// Assert that the served `predictions` (`{"value": v}`) are onnxruntime's `output` (`[N, 1]`)
/// within `tolerance` relative to the value (absolute below 1), row by row, and answer no class.
pub fn same_values(predictions: &Value, ort: &Value, output: &str, tolerance: f64) {
    let preds = predictions.as_array().unwrap();
    assert!(!preds.is_empty(), "no predictions");
    for (i, p) in preds.iter().enumerate() {
        let served = p["value"].as_f64().unwrap();
        let theirs = ort[output][i][0].as_f64().unwrap();
        assert!(
            (served - theirs).abs() <= tolerance * theirs.abs().max(1.0),
            "row {i}: {served} vs onnxruntime {theirs}"
        );
        assert!(p.get("label").is_none(), "{p}");
    }
}
