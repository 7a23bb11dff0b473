//! The exported ONNX models give the in-memory model's probabilities in onnxruntime too (≤ 1e-5),
//! for both families, binary and multiclass, including rows with missing values.
//!
//! Needs the project's test venv (`make venv`; `make test` creates it): onnxruntime runs in
//! `python/ort_check.py`. `MLINFRA_PYTHON` overrides the interpreter.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;

use mlinfra_core::data::split::split;
use mlinfra_core::data::{LabelRule, Values};
use mlinfra_core::model::{GbtParams, Model, Params};
use mlinfra_core::onnx::{Metadata, export};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    let p = std::env::var_os("MLINFRA_PYTHON")
        .map_or_else(|| root().join(".venv/bin/python"), PathBuf::from);
    assert!(
        p.exists(),
        "no Python test venv at `{}`: run `make venv`",
        p.display()
    );
    p
}

fn check(rule: LabelRule, params: Params) {
    let (f, l) = common::heart(&rule);
    let s = split(&f, &l, 0.2, 42);
    let model = Model::fit(&f, &l.y, &s.train, &l, &params);
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("model.onnx");
    std::fs::write(&onnx, export(&model, &Metadata::default()).unwrap()).unwrap();
    let nf = model.prep.features.len();
    let mut raw = Vec::with_capacity(f.rows * nf * 4);
    for i in 0..f.rows {
        for feat in &model.prep.features {
            let Values::Number(v) = &f.column(&feat.name).unwrap().values else {
                unreachable!()
            };
            raw.extend_from_slice(&(v[i] as f32).to_le_bytes());
        }
    }
    let input = dir.path().join("input.f32");
    std::fs::write(&input, raw).unwrap();
    let out = std::process::Command::new(python())
        .arg(root().join("python/ort_check.py"))
        .args([&onnx, &input])
        .args([f.rows.to_string(), nf.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected = model.predict_proba(&f);
    assert_eq!(
        v["probabilities"].as_array().unwrap().len(),
        f.rows,
        "onnxruntime returned another row count"
    );
    assert_eq!(v["labels"].as_array().unwrap().len(), f.rows);
    let mut worst = 0f64;
    for (i, row) in v["probabilities"].as_array().unwrap().iter().enumerate() {
        for (c, p) in row.as_array().unwrap().iter().enumerate() {
            worst = worst.max((p.as_f64().unwrap() - expected[i][c]).abs());
        }
        let k = mlinfra_core::metrics::argmax(&expected[i]);
        let label = model.class_values.as_ref().map_or(k as i64, |cv| cv[k]);
        assert_eq!(v["labels"][i].as_i64().unwrap(), label, "row {i}");
    }
    assert!(
        worst <= 1e-5,
        "{}: largest difference {worst}",
        params.family()
    );
}

fn trees() -> Params {
    Params::GradientBoostedTrees(GbtParams {
        max_depth: 3,
        learning_rate: 0.1,
        rounds: 40,
        min_leaf: 5,
    })
}

fn binary() -> LabelRule {
    common::binary()
}

#[test]
fn logistic_regression_binary() {
    check(binary(), Params::LogisticRegression { l2: 1.0 });
}

#[test]
fn logistic_regression_multiclass() {
    check(
        LabelRule::Multiclass,
        Params::LogisticRegression { l2: 0.5 },
    );
}

#[test]
fn trees_binary() {
    check(binary(), trees());
}

#[test]
fn trees_multiclass() {
    check(LabelRule::Multiclass, trees());
}
