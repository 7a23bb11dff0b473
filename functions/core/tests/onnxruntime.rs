//! The exported ONNX models give the in-memory model's probabilities in onnxruntime and in tract
//! (≤ 1e-5), for both families, binary and multiclass, including rows with missing values, and
//! with text features (raw strings into the graph, missing and unseen categories among them).
//!
//! Needs the project's test venv (`make venv`; `make test` creates it): onnxruntime runs in
//! `python/ort_check.py`. `MLINFRA_PYTHON` overrides the interpreter.

#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/words.rs"]
mod words;

use mlinfra_core::data::split::split;
use mlinfra_core::data::{Frame, LabelRule, ReadOptions, Values, read_csv, take_label};
use mlinfra_core::model::{GbtParams, Model, Params};
use mlinfra_core::onnx::{Metadata, export};
use mlinfra_core::scorer::Scorer;
use serde_json::json;

use common::{python, root};

fn check(rule: LabelRule, params: Params) {
    let (f, l) = common::heart(&rule);
    let s = split(&f, &l, 0.2, 42);
    let model = Model::fit(&f, &l.y, &s.train, &l, &params);
    compare(&model, &f, &params);
}

/// Run the exported `model` on every row of `f` in onnxruntime (raw numbers and strings) and in
/// tract, and compare both with the in-memory model.
fn compare(model: &Model, f: &Frame, params: &Params) {
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("model.onnx");
    let bytes = export(model, &Metadata::default()).unwrap();
    std::fs::write(&onnx, &bytes).unwrap();
    let mut raw = Vec::with_capacity(f.rows * model.prep.features.len() * 4);
    let mut text = serde_json::Map::new();
    let mut numbers = 0;
    for feat in &model.prep.features {
        match &f.column(&feat.name).unwrap().values {
            Values::Text(v) => {
                let cells = v.iter().map(|c| json!(c.unwrap_or_default()));
                text.insert(feat.name.clone(), cells.collect());
            }
            Values::Number(_) => numbers += 1,
        }
    }
    for i in 0..f.rows {
        for feat in &model.prep.features {
            if let Values::Number(v) = &f.column(&feat.name).unwrap().values {
                raw.extend_from_slice(&(v[i] as f32).to_le_bytes());
            }
        }
    }
    let input = dir.path().join("input.f32");
    std::fs::write(&input, raw).unwrap();
    let text_file = dir.path().join("text.json");
    std::fs::write(&text_file, serde_json::Value::Object(text).to_string()).unwrap();
    let out = std::process::Command::new(python())
        .arg(root().join("python/ort_check.py"))
        .args([&onnx, &input])
        .args([f.rows.to_string(), numbers.to_string()])
        .arg(&text_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected = model.predict_proba(f);
    let rows = serving_rows(model, f);
    if model.is_regression() {
        let tract = Scorer::load(&bytes, model.prep.features.len(), 0)
            .unwrap()
            .score(f.rows, &rows)
            .unwrap();
        let ort = v["values"].as_array().unwrap();
        assert_eq!((ort.len(), tract.values.len()), (f.rows, f.rows));
        let relative = |a: f64, b: f64| (a - b).abs() / b.abs().max(1.0);
        let mut worst = (0f64, 0f64);
        for i in 0..f.rows {
            worst.0 = worst
                .0
                .max(relative(ort[i].as_f64().unwrap(), expected[i][0]));
            worst.1 = worst
                .1
                .max(relative(f64::from(tract.values[i]), expected[i][0]));
        }
        assert!(
            worst.0 <= 1e-5 && worst.1 <= 1e-5,
            "{}: largest relative difference {} in onnxruntime, {} in tract",
            params.family(),
            worst.0,
            worst.1
        );
        return;
    }
    assert_eq!(
        v["probabilities"].as_array().unwrap().len(),
        f.rows,
        "onnxruntime returned another row count"
    );
    assert_eq!(v["labels"].as_array().unwrap().len(), f.rows);
    let k = model.classes.len();
    let tract = Scorer::load(&bytes, model.prep.features.len(), k)
        .unwrap()
        .score(f.rows, &rows)
        .unwrap();
    let mut worst = (0f64, 0f64);
    for (i, row) in v["probabilities"].as_array().unwrap().iter().enumerate() {
        for (c, p) in row.as_array().unwrap().iter().enumerate() {
            worst.0 = worst.0.max((p.as_f64().unwrap() - expected[i][c]).abs());
            worst.1 = worst
                .1
                .max((f64::from(tract.probabilities[i * k + c]) - expected[i][c]).abs());
        }
        let best = mlinfra_core::metrics::argmax(&expected[i]);
        let label = model
            .class_values
            .as_ref()
            .map_or(best as i64, |cv| cv[best]);
        assert_eq!(
            v["labels"][i].as_i64().unwrap(),
            label,
            "onnxruntime, row {i}"
        );
        assert_eq!(tract.labels[i], label, "tract, row {i}");
    }
    assert!(
        worst.0 <= 1e-5 && worst.1 <= 1e-5,
        "{}: largest difference {} in onnxruntime, {} in tract",
        params.family(),
        worst.0,
        worst.1
    );
}

/// The rows of `f` as serving encodes them for tract (a text category as its index).
fn serving_rows(model: &Model, f: &Frame) -> Vec<f32> {
    let imputed = model.prep.impute(f);
    let mut rows = Vec::with_capacity(f.rows * imputed.cols);
    for i in 0..f.rows {
        for (j, feat) in model.prep.features.iter().enumerate() {
            let missing = match &f.column(&feat.name).unwrap().values {
                Values::Text(v) => v.get(i).is_none(),
                Values::Number(v) => v[i].is_nan(),
            };
            rows.push(if missing {
                f32::NAN
            } else {
                imputed.row(i)[j] as f32
            });
        }
    }
    rows
}

/// A regression of `chol` on the heart data with its four text features (an unseen category
/// and missing values among them) and a fifth of `oldpeak` missing: ridge and trees of each
/// loss give the in-memory model's values in onnxruntime and tract.
#[test]
fn regressions_with_text_features_and_missing_values_each_family_and_loss() {
    use mlinfra_core::model::Loss;
    let (_, mut f) = text_heart(false, &Params::LogisticRegression { l2: 1.0 });
    let t = mlinfra_core::data::take_target(&mut f, "chol").unwrap();
    assert!(t.y.len() > 250, "{}", t.y.len());
    if let Some(Values::Number(v)) = f
        .columns
        .iter_mut()
        .find(|c| c.name == "oldpeak")
        .map(|c| &mut c.values)
    {
        for (i, x) in v.iter_mut().enumerate() {
            if i % 5 == 1 {
                *x = f64::NAN;
            }
        }
    }
    let train: Vec<usize> = (0..f.rows).filter(|i| i % 4 != 0).collect();
    for (params, loss) in [
        (Params::Ridge { l2: 1.0 }, Loss::Squared),
        (trees(), Loss::Squared),
        (trees(), Loss::Huber),
        (trees(), Loss::Absolute),
    ] {
        let model = Model::fit_values(&f, &t.y, &train, &params, loss);
        assert!(model.is_regression());
        compare(&model, &f, &params);
    }
}

/// The heart data with four features as words (`sex`, `cp`, `thal` with its missing values,
/// `slope`) and the label as words: `absent`/`present` (binary, `present` positive) or a word
/// per `num` value (multiclass). The model is fitted on the training rows; then five eval rows
/// get a `cp` the model never saw.
fn text_heart(multiclass: bool, params: &Params) -> (Model, Frame) {
    let (header, rows) = words::rows(&std::fs::read_to_string(common::HEART).unwrap(), multiclass);
    let mut csv = header.join(",") + "\n";
    for cells in rows {
        csv.push_str(&cells.join(","));
        csv.push('\n');
    }
    let options = ReadOptions {
        categorical: ["fbs", "restecg", "exang", "ca"].map(String::from).to_vec(),
        ..ReadOptions::default()
    };
    let mut f = read_csv(csv.as_bytes(), &options).unwrap();
    let rule = if multiclass {
        LabelRule::Multiclass
    } else {
        LabelRule::Positive {
            value: "present".into(),
        }
    };
    let (l, _) = take_label(&mut f, "num", &rule).unwrap();
    let s = split(&f, &l, 0.2, 42);
    let model = Model::fit(&f, &l.y, &s.train, &l, params);
    let Some(Values::Text(cp)) = f
        .columns
        .iter_mut()
        .find(|c| c.name == "cp")
        .map(|c| &mut c.values)
    else {
        panic!("`cp` is read as text")
    };
    let unseen: Vec<usize> = s.eval.iter().take(5).copied().collect();
    *cp = (0..cp.len())
        .map(|i| {
            if unseen.contains(&i) {
                Some("never-seen")
            } else {
                cp.get(i)
            }
        })
        .collect();
    assert!(model.prep.features.iter().filter(|p| p.text).count() == 4);
    (model, f)
}

#[test]
fn text_features_binary_text_label_both_families() {
    for params in [Params::LogisticRegression { l2: 1.0 }, trees()] {
        let (model, f) = text_heart(false, &params);
        assert_eq!(model.classes, ["absent", "present"]);
        compare(&model, &f, &params);
    }
}

#[test]
fn text_features_multiclass_text_label_both_families() {
    for params in [Params::LogisticRegression { l2: 0.5 }, trees()] {
        let (model, f) = text_heart(true, &params);
        assert_eq!(model.classes.len(), 5);
        compare(&model, &f, &params);
    }
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

/// A fifth of `chol` and `oldpeak` missing: the trees learn where missing values go, and both
/// runtimes send them there.
#[test]
fn trees_with_many_missing_values() {
    let (mut f, l) = common::heart(&binary());
    for c in f
        .columns
        .iter_mut()
        .filter(|c| c.name == "chol" || c.name == "oldpeak")
    {
        let Values::Number(v) = &mut c.values else {
            unreachable!()
        };
        for (i, x) in v.iter_mut().enumerate() {
            if i % 5 == 1 {
                *x = f64::NAN;
            }
        }
    }
    let s = split(&f, &l, 0.2, 42);
    let params = trees();
    let model = Model::fit(&f, &l.y, &s.train, &l, &params);
    let mlinfra_core::model::Estimator::GradientBoostedTrees(g) = &model.estimator else {
        unreachable!()
    };
    let to_the_right = g.trees.iter().flatten().flat_map(|t| &t.nodes).any(|n| {
        matches!(
            n,
            mlinfra_core::model::gbt::Node::Split {
                missing_left: false,
                ..
            }
        )
    });
    let to_the_left = g.trees.iter().flatten().flat_map(|t| &t.nodes).any(|n| {
        matches!(
            n,
            mlinfra_core::model::gbt::Node::Split {
                missing_left: true,
                ..
            }
        )
    });
    assert!(
        to_the_left && to_the_right,
        "both directions are taken somewhere"
    );
    compare(&model, &f, &params);
}

#[test]
fn trees_multiclass() {
    check(LabelRule::Multiclass, trees());
}
