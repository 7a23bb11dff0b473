//! Explanations equal the `shap` package's on every heart row (within 1e-6): `TreeExplainer`
//! (path-dependent) on the same trees, `LinearExplainer` for logistic regression with the
//! training means as background, per raw feature; base + contributions = the model's margin.
//! Binary and multiclass, both families; a regression's trees (each loss) and ridge, on its
//! predicted value.
//!
//! Needs the project's test venv (`make venv`; `make test` creates it): shap runs in
//! `python/shap_check.py`. `MLINFRA_PYTHON` overrides the interpreter.

#![allow(clippy::unwrap_used)]

mod common;

use mlinfra_core::data::LabelRule;
use mlinfra_core::data::split::split;
use mlinfra_core::explain::explain;
use mlinfra_core::model::{Estimator, GbtParams, Model, Params};
use serde_json::{Value, json};

use common::{python, root};

fn shap(case: &Value) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("case.json");
    std::fs::write(&file, case.to_string()).unwrap();
    let out = std::process::Command::new(python())
        .arg(root().join("python/shap_check.py"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn check(rule: LabelRule, params: Params) {
    let (f, l) = common::heart(&rule);
    let s = split(&f, &l, 0.2, 42);
    let model = Model::fit(&f, &l.y, &s.train, &l, &params);
    check_model(&model, &f, &params);
}

/// A regression of `chol` on the other heart features.
fn check_regression(params: Params, loss: mlinfra_core::model::Loss) {
    let (mut f, _) = common::heart(&common::binary());
    let t = mlinfra_core::data::take_target(&mut f, "chol").unwrap();
    let train: Vec<usize> = (0..f.rows).filter(|i| i % 5 != 0).collect();
    let model = Model::fit_values(&f, &t.y, &train, &params, loss);
    check_model(&model, &f, &params);
}

fn check_model(model: &Model, f: &mlinfra_core::data::Frame, params: &Params) {
    let values = model.prep.values(f);
    let rows: Vec<Vec<f64>> = (0..f.rows).map(|i| values.row(i).to_vec()).collect();
    let case = match &model.estimator {
        Estimator::GradientBoostedTrees(m) => json!({
            "kind": "trees",
            "base": m.base,
            "trees": m.trees,
            "rows": rows.iter().map(|r| r.iter().map(|v| if v.is_nan() { Value::Null } else { json!(v) }).collect::<Vec<_>>()).collect::<Vec<_>>(),
        }),
        Estimator::LogisticRegression(m) => linear_case(
            model,
            &rows,
            json!(m.weights),
            json!(m.intercepts),
            &m.means,
        ),
        Estimator::Ridge(m) => linear_case(
            model,
            &rows,
            json!([m.weights]),
            json!([m.intercept]),
            &m.means,
        ),
    };
    let reference = shap(&case);
    let mut worst = 0f64;
    for (i, row) in rows.iter().enumerate() {
        let ours = explain(model, row).unwrap();
        let margins = margins(model, row);
        assert_eq!(ours.len(), margins.len());
        for (k, e) in ours.iter().enumerate() {
            let base = reference["base"][k].as_f64().unwrap();
            worst = worst.max((e.base - base).abs());
            for (j, (_, c)) in e.contributions.iter().enumerate() {
                let want = reference["phi"][i][k][j].as_f64().unwrap();
                worst = worst.max((c - want).abs());
            }
            assert!(
                (e.margin - margins[k]).abs() < 1e-9,
                "{}: row {i} output {k}: base + contributions {} != margin {}",
                params.family(),
                e.margin,
                margins[k]
            );
        }
    }
    assert!(
        worst <= 1e-6,
        "{} ({} classes): largest difference from shap {} is {worst}",
        params.family(),
        model.classes.len(),
        reference["shap"]
    );
}

/// shap's `LinearExplainer` case of a linear model: its weights (one row per output), the
/// encoded rows and each raw feature's encoded width.
fn linear_case(
    model: &Model,
    rows: &[Vec<f64>],
    weights: Value,
    intercepts: Value,
    means: &[f64],
) -> Value {
    let mut encoded = vec![0.0; model.prep.encoded_width()];
    let enc: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| {
            model.prep.encode_row(r, &mut encoded);
            encoded.clone()
        })
        .collect();
    let widths: Vec<usize> = model
        .prep
        .features
        .iter()
        .map(|f| f.encoded_width())
        .collect();
    json!({
        "kind": "linear",
        "weights": weights,
        "intercepts": intercepts,
        "means": means,
        "encoded": enc,
        "widths": widths,
    })
}

/// The model's margins of a row: log-odds (binary) or class scores, from its probabilities; a
/// regression's value.
fn margins(model: &Model, row: &[f64]) -> Vec<f64> {
    match &model.estimator {
        Estimator::GradientBoostedTrees(m) => m.margins(row),
        Estimator::Ridge(m) => {
            let mut encoded = vec![0.0; model.prep.encoded_width()];
            model.prep.encode_row(row, &mut encoded);
            vec![m.predict_row(&encoded)]
        }
        Estimator::LogisticRegression(m) => {
            let mut encoded = vec![0.0; model.prep.encoded_width()];
            model.prep.encode_row(row, &mut encoded);
            m.weights
                .iter()
                .zip(&m.intercepts)
                .map(|(w, b)| b + w.iter().zip(&encoded).map(|(w, x)| w * x).sum::<f64>())
                .collect()
        }
    }
}

const TREES: Params = Params::GradientBoostedTrees(GbtParams {
    max_depth: 4,
    learning_rate: 0.1,
    rounds: 40,
    min_leaf: 5,
});

#[test]
fn tree_explanations_equal_shaps_binary() {
    check(common::binary(), TREES);
}

#[test]
fn tree_explanations_equal_shaps_multiclass() {
    check(LabelRule::Multiclass, TREES);
}

#[test]
fn linear_explanations_equal_shaps_binary() {
    check(common::binary(), Params::LogisticRegression { l2: 1.0 });
}

#[test]
fn linear_explanations_equal_shaps_multiclass() {
    check(
        LabelRule::Multiclass,
        Params::LogisticRegression { l2: 1.0 },
    );
}

#[test]
fn regression_explanations_equal_shaps_trees_of_each_loss_and_ridge() {
    use mlinfra_core::model::Loss;
    for loss in Loss::REGRESSION {
        check_regression(TREES, loss);
    }
    check_regression(Params::Ridge { l2: 1.0 }, Loss::Squared);
}
