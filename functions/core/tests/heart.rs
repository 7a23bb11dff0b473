//! The pipeline on the UCI heart disease data: quality floors, and the exported ONNX model run by
//! tract gives the in-memory model's probabilities.

#![allow(clippy::unwrap_used)]

use mlinfra_core::data::split::split;
use mlinfra_core::data::{Frame, LabelRule, Labels, ReadOptions, read_csv, take_label};
use mlinfra_core::metrics::evaluate;
use mlinfra_core::model::{GbtParams, Model, Params};
use mlinfra_core::onnx::{Metadata, export};
use mlinfra_core::scorer::Scorer;
use mlinfra_core::tune::{SearchConfig, Space, search};

const HEART: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/heart-disease/processed.cleveland.csv"
);

fn load(rule: &LabelRule) -> (Frame, Labels) {
    let opts = ReadOptions {
        categorical: [
            "sex", "cp", "fbs", "restecg", "exang", "slope", "ca", "thal",
        ]
        .map(String::from)
        .to_vec(),
        ..ReadOptions::default()
    };
    let mut f = read_csv(std::fs::File::open(HEART).unwrap(), &opts).unwrap();
    let (l, _) = take_label(&mut f, "num", rule).unwrap();
    (f, l)
}

fn binary() -> LabelRule {
    LabelRule::Binary {
        op: ">".into(),
        threshold: 0.0,
    }
}

/// Probabilities of the model in memory and through tract agree to 1e-5 on every eval row,
/// including rows with missing values, and the labels agree.
fn check_onnx(model: &Model, frame: &Frame) {
    let bytes = export(model, &Metadata::default()).unwrap();
    let k = model.classes.len();
    let f = model.prep.features.len();
    let scorer = Scorer::load(&bytes, f, k).unwrap();
    let mut data = Vec::with_capacity(frame.rows * f);
    for i in 0..frame.rows {
        for feat in &model.prep.features {
            let v = match &frame.column(&feat.name).unwrap().values {
                mlinfra_core::data::Values::Number(v) => v[i],
                mlinfra_core::data::Values::Text(_) => unreachable!(),
            };
            data.push(v as f32);
        }
    }
    let scores = scorer.score(frame.rows, &data).unwrap();
    let expected = model.predict_proba(frame);
    let mut worst = 0f64;
    for (i, p) in expected.iter().enumerate() {
        for c in 0..k {
            worst = worst.max((p[c] - f64::from(scores.probabilities[i * k + c])).abs());
        }
        let label = mlinfra_core::metrics::argmax(p);
        let value = model
            .class_values
            .as_ref()
            .map_or(label as i64, |v| v[label]);
        assert_eq!(scores.labels[i], value, "row {i}");
    }
    assert!(worst <= 1e-5, "largest difference {worst}");
}

#[test]
fn binary_logistic_regression_reaches_the_floor_and_exports_exactly() {
    let (f, l) = load(&binary());
    let s = split(&f, &l, 0.2, 42);
    let model = Model::fit(
        &f,
        &l.y,
        &s.train,
        &l,
        &Params::LogisticRegression { l2: 1.0 },
    );
    let eval_frame = f.select_rows(&s.eval);
    let y: Vec<usize> = s.eval.iter().map(|&i| l.y[i]).collect();
    let e = evaluate(&y, &model.predict_proba(&eval_frame), 2);
    assert!(e.roc_auc >= 0.85, "AUC {}", e.roc_auc);
    assert!(e.accuracy >= 0.75, "accuracy {}", e.accuracy);
    check_onnx(&model, &f);
}

#[test]
fn binary_trees_export_exactly() {
    let (f, l) = load(&binary());
    let s = split(&f, &l, 0.2, 42);
    let p = Params::GradientBoostedTrees(GbtParams {
        max_depth: 3,
        learning_rate: 0.1,
        rounds: 50,
        min_leaf: 5,
    });
    let model = Model::fit(&f, &l.y, &s.train, &l, &p);
    let eval_frame = f.select_rows(&s.eval);
    let y: Vec<usize> = s.eval.iter().map(|&i| l.y[i]).collect();
    let e = evaluate(&y, &model.predict_proba(&eval_frame), 2);
    assert!(e.roc_auc >= 0.85, "AUC {}", e.roc_auc);
    check_onnx(&model, &f);
}

#[test]
fn multiclass_runs_end_to_end_for_both_families() {
    let (f, l) = load(&LabelRule::Multiclass);
    assert_eq!(l.classes, vec!["0", "1", "2", "3", "4"]);
    let s = split(&f, &l, 0.2, 42);
    for p in [
        Params::LogisticRegression { l2: 1.0 },
        Params::GradientBoostedTrees(GbtParams {
            max_depth: 2,
            learning_rate: 0.1,
            rounds: 30,
            min_leaf: 5,
        }),
    ] {
        let model = Model::fit(&f, &l.y, &s.train, &l, &p);
        let y: Vec<usize> = s.eval.iter().map(|&i| l.y[i]).collect();
        let e = evaluate(&y, &model.predict_proba(&f.select_rows(&s.eval)), 5);
        assert!(e.accuracy > 0.45, "{}: accuracy {}", p.family(), e.accuracy);
        check_onnx(&model, &f);
    }
}

#[test]
fn the_search_picks_a_good_model_and_is_deterministic() {
    let (f, l) = load(&binary());
    let s = split(&f, &l, 0.2, 42);
    let space = Space {
        families: vec![
            "logistic_regression".into(),
            "gradient_boosted_trees".into(),
        ],
        l2: vec![0.01, 0.1, 1.0, 10.0],
        max_depth: vec![2, 3, 4],
        learning_rate: vec![0.05, 0.1, 0.2],
        rounds: vec![50, 100, 200],
        min_leaf: vec![5, 10, 20],
    };
    let cfg = SearchConfig {
        strategy: "random".into(),
        trials: 20,
        folds: 5,
        metric: "roc_auc".into(),
        seed: 42,
    };
    let r = search(&f, &l, &s.train, &space, &cfg);
    assert_eq!(r.trials.len(), 20);
    assert!(
        r.trials[r.best].score >= 0.85,
        "best CV AUC {}",
        r.trials[r.best].score
    );
    assert_eq!(r, search(&f, &l, &s.train, &space, &cfg));
}
