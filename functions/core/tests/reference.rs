//! The Evaluator's metrics equal scikit-learn's on fixed vectors, to 1e-9.
//! Reference values: `functions/core/tests/data/metrics_reference.json`, produced by
//! `python/metrics_reference.py` (the command is in that file).

#![allow(clippy::unwrap_used)]

use mlinfra_core::metrics::evaluate;
use serde_json::Value;

fn close(name: &str, ours: f64, theirs: &Value) {
    let t = theirs.as_f64().unwrap();
    assert!(
        (ours - t).abs() <= 1e-9,
        "{name}: ours {ours}, scikit-learn {t}"
    );
}

fn check(case: &Value) {
    let y: Vec<usize> = case["y"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let proba: Vec<Vec<f64>> = case["proba"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        })
        .collect();
    let k = proba[0].len();
    let e = evaluate(&y, &proba, k);
    close("accuracy", e.accuracy, &case["accuracy"]);
    close(
        "balanced_accuracy",
        e.balanced_accuracy,
        &case["balanced_accuracy"],
    );
    close("roc_auc", e.roc_auc, &case["roc_auc"]);
    close("log_loss", e.log_loss, &case["log_loss"]);
    close("brier", e.brier, &case["brier"]);
    close("ece", e.ece, &case["ece"]);
    close(
        "macro_precision",
        e.macro_precision,
        &case["macro_precision"],
    );
    close("macro_recall", e.macro_recall, &case["macro_recall"]);
    close("macro_f1", e.macro_f1, &case["macro_f1"]);
    for c in 0..k {
        close("precision", e.precision[c], &case["precision"][c]);
        close("recall", e.recall[c], &case["recall"][c]);
        close("f1", e.f1[c], &case["f1"][c]);
        for p in 0..k {
            assert_eq!(
                e.confusion[c][p] as u64,
                case["confusion"][c][p].as_u64().unwrap(),
                "confusion[{c}][{p}]"
            );
        }
    }
}

fn reference() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/metrics_reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn binary_metrics_equal_scikit_learn() {
    check(&reference()["binary"]);
}

#[test]
fn multiclass_metrics_equal_scikit_learn() {
    check(&reference()["multiclass"]);
}
