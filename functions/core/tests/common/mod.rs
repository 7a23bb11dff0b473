//! Shared by the core's integration tests: the heart disease data as the stack reads it.

#![allow(dead_code, clippy::unwrap_used)]

use mlinfra_core::data::{Frame, LabelRule, Labels, ReadOptions, read_csv, take_label};

pub const HEART: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/heart-disease/processed.cleveland.csv"
);

/// The read options of `stacks/heart-disease.yaml`.
pub fn heart_options() -> ReadOptions {
    ReadOptions {
        categorical: [
            "sex", "cp", "fbs", "restecg", "exang", "slope", "ca", "thal",
        ]
        .map(String::from)
        .to_vec(),
        ..ReadOptions::default()
    }
}

/// `num > 0`.
pub fn binary() -> LabelRule {
    LabelRule::Binary {
        op: mlinfra_core::data::Compare::Gt,
        threshold: 0.0,
    }
}

pub fn heart(rule: &LabelRule) -> (Frame, Labels) {
    let mut f = read_csv(std::fs::File::open(HEART).unwrap(), &heart_options()).unwrap();
    let (l, _) = take_label(&mut f, "num", rule).unwrap();
    (f, l)
}

/// The example stack's search space and its 20-trial, 5-fold random search.
pub fn heart_search() -> (mlinfra_core::tune::Space, mlinfra_core::tune::SearchConfig) {
    (
        mlinfra_core::tune::Space {
            families: mlinfra_core::model::Family::CLASSIFICATION.to_vec(),
            l2: vec![0.01, 0.1, 1.0, 10.0],
            max_depth: vec![2, 3, 4],
            learning_rate: vec![0.05, 0.1, 0.2],
            rounds: vec![50, 100, 200],
            min_leaf: vec![5, 10, 20],
        },
        mlinfra_core::tune::SearchConfig {
            strategy: mlinfra_core::tune::Strategy::Random,
            trials: 20,
            folds: 5,
            metric: mlinfra_core::metrics::Metric::RocAuc,
            seed: 42,
            early_stopping_rounds: 0,
        },
    )
}

/// For each family, its best trial refitted on the training rows and scored on the eval rows:
/// `{family: {params, cv_auc, eval_auc}}` (the benchmarks' report).
pub fn best_of_each_family(
    result: &mlinfra_core::tune::SearchResult,
    frame: &Frame,
    labels: &Labels,
    s: &mlinfra_core::data::split::Split,
) -> serde_json::Map<String, serde_json::Value> {
    let eval_frame = frame.select_rows(&s.eval);
    let y_eval: Vec<usize> = s.eval.iter().map(|&i| labels.y[i]).collect();
    let mut quality = serde_json::Map::new();
    for family in ["logistic_regression", "gradient_boosted_trees"] {
        let best = result
            .trials
            .iter()
            .filter(|t| t.params.family().name() == family)
            .max_by(|a, b| a.score.total_cmp(&b.score))
            .unwrap();
        let model =
            mlinfra_core::model::Model::fit(frame, &labels.y, &s.train, labels, &best.params);
        let e = mlinfra_core::metrics::evaluate(&y_eval, &model.predict_proba(&eval_frame), 2);
        quality.insert(
            family.into(),
            serde_json::json!({"params": best.params, "cv_auc": best.score, "eval_auc": e.roc_auc}),
        );
    }
    quality
}

/// The repository's root.
pub fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The test venv's Python (`make venv`), or `MLINFRA_PYTHON`.
pub fn python() -> std::path::PathBuf {
    let p = std::env::var_os("MLINFRA_PYTHON")
        .map_or_else(|| root().join(".venv/bin/python"), std::path::PathBuf::from);
    assert!(
        p.exists(),
        "no Python test venv at `{}`: run `make venv`",
        p.display()
    );
    p
}
