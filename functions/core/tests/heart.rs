//! The pipeline on the UCI heart disease data: quality floors, and the exported ONNX model run by
//! tract gives the in-memory model's probabilities.

#![allow(clippy::unwrap_used)]

mod common;

use common::HEART;

use mlinfra_core::data::split::split;
use mlinfra_core::data::{Frame, LabelRule, Labels};
use mlinfra_core::metrics::evaluate;
use mlinfra_core::model::{GbtParams, Model, Params};
use mlinfra_core::onnx::{Metadata, export};
use mlinfra_core::scorer::Scorer;
use mlinfra_core::tune::{SearchConfig, Space, search};

fn load(rule: &LabelRule) -> (Frame, Labels) {
    common::heart(rule)
}

fn binary() -> LabelRule {
    common::binary()
}

/// Probabilities of the model in memory and through tract agree to 1e-5 on every eval row,
/// including rows with missing values, and the labels agree.
fn check_onnx(model: &Model, frame: &Frame) {
    let bytes = export(model, &Metadata::default()).unwrap();
    // The export's own part of the ONNX schema (`mlinfra_onnx::proto`) against the complete one
    // (tract's): decoded and encoded again, the same bytes, so nothing was written that the
    // schema would read differently.
    use prost::Message as _;
    let full = tract_onnx::pb::ModelProto::decode(&bytes[..]).unwrap();
    assert_eq!(
        full.encode_to_vec(),
        bytes,
        "the export differs under ONNX's full schema"
    );
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
        for (c, pc) in p.iter().enumerate() {
            worst = worst.max((pc - f64::from(scores.probabilities[i * k + c])).abs());
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
    let (space, cfg) = common::heart_search();
    let r = search(&f, &l, &s.train, &space, &cfg);
    assert_eq!(r.trials.len(), 20);
    assert!(
        r.trials[r.best].score >= 0.85,
        "best CV AUC {}",
        r.trials[r.best].score
    );
    assert_eq!(r, search(&f, &l, &s.train, &space, &cfg));
}

fn pipeline_config() -> mlinfra_core::pipeline::Config {
    mlinfra_core::pipeline::Config {
        model_name: "heart-disease".into(),
        task: Default::default(),
        loss: Default::default(),
        interval_level: 0.9,
        label: "num".into(),
        rule: binary(),
        read: common::heart_options(),
        eval_fraction: 0.2,
        split_seed: 42,
        space: Space {
            families: mlinfra_core::model::Family::CLASSIFICATION.to_vec(),
            l2: vec![0.1, 1.0],
            max_depth: vec![2, 3],
            learning_rate: vec![0.1],
            rounds: vec![30],
            min_leaf: vec![5],
        },
        search: SearchConfig {
            strategy: mlinfra_core::tune::Strategy::Random,
            trials: 4,
            folds: 3,
            metric: mlinfra_core::metrics::Metric::RocAuc,
            seed: 7,
            early_stopping_rounds: 0,
        },
        policy: mlinfra_core::metrics::Policy {
            metric: mlinfra_core::metrics::Metric::RocAuc,
            min_metric: 0.85,
            min_improvement: 0.0,
        },
        schema: None,
    }
}

#[test]
fn same_seed_and_data_give_byte_identical_model_and_run_record() {
    let csv = std::fs::read(HEART).unwrap();
    let a = mlinfra_core::pipeline::run(&csv, &pipeline_config(), None).unwrap();
    let b = mlinfra_core::pipeline::run(&csv, &pipeline_config(), None).unwrap();
    assert_eq!(a.onnx, b.onnx);
    assert_eq!(
        serde_json::to_vec(&a.run).unwrap(),
        serde_json::to_vec(&b.run).unwrap()
    );
    assert!(a.run.blessing.blessed, "{}", a.run.blessing.reason);
    assert_eq!(
        a.run.model_sha256,
        format!("sha256:{}", mlinfra_core::pipeline::sha256_hex(&a.onnx))
    );
    // A different seed gives a different run.
    let mut other = pipeline_config();
    other.search.seed = 8;
    let c = mlinfra_core::pipeline::run(&csv, &other, None).unwrap();
    assert_ne!(a.run.run_id, c.run.run_id);
}

#[test]
fn the_production_model_is_the_baseline_of_the_blessing() {
    let csv = std::fs::read(HEART).unwrap();
    let first = mlinfra_core::pipeline::run(&csv, &pipeline_config(), None).unwrap();
    let mut cfg = pipeline_config();
    cfg.policy.min_improvement = 0.05;
    let second = mlinfra_core::pipeline::run(&csv, &cfg, Some(&first.model)).unwrap();
    let baseline = second.run.blessing.baseline.unwrap();
    assert!((baseline - first.evaluation.classification().unwrap().roc_auc).abs() < 1e-12);
    assert!(
        !second.run.blessing.blessed,
        "the same model cannot improve by 0.05 on itself"
    );
}

#[test]
fn error_anomalies_block_training() {
    let text = std::fs::read_to_string(HEART).unwrap();
    let curated = mlinfra_core::schema::Schema::infer(&{
        let (f, l) = load(&binary());
        mlinfra_core::stats::compute(&f, Some(&l))
    });
    let corrupted: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 5 {
                let rest = l.split_once(',').unwrap().1;
                format!("old,{rest}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut cfg = pipeline_config();
    cfg.schema = Some(curated);
    let first_cell = corrupted
        .lines()
        .nth(5)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(first_cell, "old", "the corruption did not apply");
    match mlinfra_core::pipeline::run(corrupted.as_bytes(), &cfg, None) {
        Err(mlinfra_core::pipeline::PipelineError::Anomalies(a)) => {
            assert_eq!(a.errors().next().unwrap().column, "age");
        }
        other => panic!(
            "expected blocking anomalies, got {:?}",
            other.map(|o| o.run.run_id)
        ),
    }
}
