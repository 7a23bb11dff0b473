//! Models exported by their own tools with their defaults (`tests/fixtures/imported/`, made by
//! `python/fixtures/make_imported.py`), normalized and run by tract, equal to onnxruntime on the
//! same rows (`python/ort_run.py`, run at test time). `MLINFRA_PYTHON` overrides the interpreter.
#![cfg(feature = "runtime")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use mlinfra_onnx::import::{ImportError, Imported};
use serde_json::Value;
use tract_onnx::prelude::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/imported").join(name)
}

const NUMERIC: &str = "age,trestbps,chol,thalach,oldpeak";

/// The evaluation rows: a header and the cells.
fn heart() -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(fixture("heart.csv")).unwrap();
    let header = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

/// onnxruntime's outputs, by name.
fn onnxruntime(model: &str, columns: &str) -> serde_json::Map<String, Value> {
    let python = std::env::var_os("MLINFRA_PYTHON")
        .map_or_else(|| root().join(".venv/bin/python"), PathBuf::from);
    let out = std::process::Command::new(&python)
        .arg(root().join("python/ort_run.py"))
        .arg(fixture(model))
        .arg(fixture("heart.csv"))
        .arg(columns)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (`make venv`)", python.display()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    match serde_json::from_slice(&out.stdout).unwrap() {
        Value::Object(m) => m,
        other => panic!("{other}"),
    }
}

fn column<T: Datum>(rows: usize, width: usize, cells: Vec<T>) -> TValue {
    tract_ndarray::Array2::from_shape_vec((rows, width), cells)
        .unwrap()
        .into_tensor()
        .into_tvalue()
}

/// The model's inputs from the rows, as `ort_run.py` builds them.
fn inputs(m: &Imported, columns: &str) -> TVec<TValue> {
    let (header, rows) = heart();
    let col = |name: &str| header.iter().position(|h| h == name);
    m.inputs
        .iter()
        .map(|(name, dt, _)| match col(name) {
            Some(j) if *dt == DatumType::String => {
                column(rows.len(), 1, rows.iter().map(|r| r[j].clone()).collect())
            }
            Some(j) => column(
                rows.len(),
                1,
                rows.iter().map(|r| r[j].parse::<f32>().unwrap()).collect(),
            ),
            None => {
                let js: Vec<usize> = columns.split(',').map(|c| col(c).unwrap()).collect();
                let cells: Vec<f32> = rows
                    .iter()
                    .flat_map(|r| js.iter().map(|&j| r[j].parse::<f32>().unwrap()))
                    .collect();
                column(rows.len(), js.len(), cells)
            }
        })
        .collect()
}

fn flat(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(flat).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        other => panic!("{other}"),
    }
}

/// Run `model` with tract and onnxruntime: every output equal within `tol` (relative to the
/// value's size past 1). The rewrites applied.
fn same_as_onnxruntime(model: &str, columns: &str, tol: f64) -> Vec<String> {
    let m = Imported::load(&std::fs::read(fixture(model)).unwrap())
        .unwrap_or_else(|e| panic!("{model}: {e}"));
    let ours = m.run(inputs(&m, columns)).unwrap();
    let theirs = onnxruntime(model, columns);
    assert_eq!(ours.len(), m.outputs.len());
    // The probabilities first: a label follows from them.
    let mut outputs: Vec<(&String, &TValue)> = m.outputs.iter().zip(ours.iter()).collect();
    outputs.reverse();
    for (name, t) in outputs {
        let t = t.cast_to::<f64>().unwrap();
        let ours: Vec<f64> = t
            .to_plain_array_view::<f64>()
            .unwrap()
            .iter()
            .copied()
            .collect();
        let theirs = flat(&theirs[name]);
        assert_eq!(ours.len(), theirs.len(), "{model}: `{name}`");
        let differ: Vec<String> = ours
            .iter()
            .zip(&theirs)
            .enumerate()
            .filter(|(_, (a, b))| (*a - *b).abs() > tol * b.abs().max(1.0))
            .map(|(i, (a, b))| format!("[{i}]: tract {a}, onnxruntime {b}"))
            .collect();
        assert!(
            differ.is_empty(),
            "{model}: `{name}`: {} of {} values differ: {}",
            differ.len(),
            ours.len(),
            differ[..differ.len().min(6)].join("; ")
        );
    }
    m.rewrites.applied
}

#[test]
fn a_scikit_learn_pipeline_with_text_categories_exported_with_every_default() {
    let applied = same_as_onnxruntime("sklearn_pipeline.onnx", "", 1e-5);
    for op in ["ZipMap", "Scaler", "OneHotEncoder"] {
        assert!(applied.iter().any(|a| a.starts_with(op)), "{applied:?}");
    }
}

#[test]
fn a_random_forest_classifier() {
    let applied = same_as_onnxruntime("random_forest.onnx", NUMERIC, 1e-5);
    assert!(
        applied.iter().any(|a| a.starts_with("ZipMap")),
        "{applied:?}"
    );
}

#[test]
fn a_gradient_boosting_regressor() {
    let applied = same_as_onnxruntime(
        "gradient_boosting_regressor.onnx",
        "age,trestbps,thalach,oldpeak",
        1e-5,
    );
    assert!(
        applied
            .iter()
            .any(|a| a.starts_with("TreeEnsembleRegressor")),
        "{applied:?}"
    );
}

#[test]
fn a_random_forest_regressor() {
    same_as_onnxruntime(
        "random_forest_regressor.onnx",
        "age,trestbps,thalach,oldpeak",
        1e-5,
    );
}

#[test]
fn an_xgboost_classifier_through_onnxmltools() {
    same_as_onnxruntime("xgboost.onnx", NUMERIC, 1e-5);
}

#[test]
fn a_lightgbm_classifier_through_onnxmltools() {
    same_as_onnxruntime("lightgbm.onnx", NUMERIC, 1e-5);
}

fn random_forest() -> tract_onnx::pb::ModelProto {
    mlinfra_onnx::import::read(&std::fs::read(fixture("random_forest.onnx")).unwrap()).unwrap()
}

#[test]
fn what_cannot_be_imported_is_named() {
    assert!(matches!(
        Imported::load(b"not a model").unwrap_err(),
        ImportError::NotOnnx(_)
    ));
    // A tensor whose data is in another file: refused before anything reads it.
    let mut proto = random_forest();
    let graph = proto.graph.as_mut().unwrap();
    graph.initializer.push(tract_onnx::pb::TensorProto {
        name: "w".into(),
        data_location: Some(1),
        external_data: vec![tract_onnx::pb::StringStringEntryProto {
            key: "location".into(),
            value: "../../etc/passwd".into(),
        }],
        ..Default::default()
    });
    let e = Imported::load(&prost::Message::encode_to_vec(&proto)).unwrap_err();
    assert!(e.to_string().contains("`../../etc/passwd`"), "{e}");
    // An operator neither tract nor the rewrites run.
    let mut proto = random_forest();
    let graph = proto.graph.as_mut().unwrap();
    graph.node[0].op_type = "SVMClassifier".into();
    graph.node[0].name = "svm".into();
    let e = Imported::load(&prost::Message::encode_to_vec(&proto)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "operator `ai.onnx.ml.SVMClassifier` (node `svm`) is not supported: neither tract nor mlinfra's rewrites run it"
    );
}

fn load(model: &str) -> Imported {
    Imported::load(&std::fs::read(fixture(model)).unwrap()).unwrap()
}

/// The card a user starts from describes the graph as it is, and checks clean.
#[test]
fn the_inferred_card_describes_the_graph() {
    use mlinfra_onnx::card::{FeatureKind, Task};
    let m = load("sklearn_pipeline.onnx");
    let card = m.infer_card();
    assert_eq!(card.task, Task::Classification);
    assert_eq!(card.input.tensor, None);
    let features: Vec<(&str, FeatureKind)> = card
        .input
        .features
        .iter()
        .map(|f| (f.name.as_str(), f.kind))
        .collect();
    assert_eq!(features[0], ("age", FeatureKind::Number));
    assert_eq!(features[5], ("cp", FeatureKind::Text));
    assert_eq!(
        card.output.probabilities.as_deref(),
        Some("output_probability")
    );
    assert_eq!(card.output.classes, ["0", "1"]);
    assert_eq!(m.check(&card), Vec::<String>::new());

    let m = load("gradient_boosting_regressor.onnx");
    let card = m.infer_card();
    assert_eq!(card.task, Task::Regression);
    assert_eq!(card.input.tensor.as_deref(), Some("X"));
    assert_eq!(card.input.features.len(), 4);
    assert_eq!(card.output.value.as_deref(), Some("variable"));
    assert_eq!(m.check(&card), Vec::<String>::new());

    for model in ["random_forest.onnx", "lightgbm.onnx"] {
        let m = load(model);
        let card = m.infer_card();
        assert_eq!(card.task, Task::Classification, "{model}");
        assert_eq!(card.output.classes, ["0", "1"], "{model}");
        assert_eq!(m.check(&card), Vec::<String>::new(), "{model}");
    }
}

/// A card that does not match the graph: each mismatch named, all at once.
#[test]
fn a_card_that_does_not_match_the_graph_names_every_mismatch() {
    use mlinfra_onnx::card::FeatureKind;
    let m = load("sklearn_pipeline.onnx");
    let mut card = m.infer_card();
    card.input.features[0].name = "years".into();
    card.input.features[5].kind = FeatureKind::Number;
    card.output.classes.push("2".into());
    let errors = m.check(&card);
    assert!(
        errors.contains(&"`input.features`: `years` is not an input of the graph (its inputs: `age`, `trestbps`, `chol`, `thalach`, `oldpeak`, `cp`, `thal`)".to_string()),
        "{errors:#?}"
    );
    assert!(
        errors.contains(&"`input.features` does not list the graph's input `age`".to_string()),
        "{errors:#?}"
    );
    assert!(
        errors.contains(
            &"`input.features`: `cp` is `number`, but the graph takes strings (type: text)"
                .to_string()
        ),
        "{errors:#?}"
    );
    assert!(
        errors.contains(
            &"`output.classes` names 3 classes, but `output_probability` has 2 columns".to_string()
        ),
        "{errors:#?}"
    );
    let m = load("random_forest.onnx");
    let mut card = m.infer_card();
    card.input.features.pop();
    card.output.probabilities = Some("proba".into());
    let errors = m.check(&card);
    assert!(
        errors.contains(
            &"`input.features` lists 4 features, but the graph's input `X` has 5 columns"
                .to_string()
        ),
        "{errors:#?}"
    );
    assert!(
        errors.contains(&"`output.probabilities` is `proba`, which is not an output of the graph (its outputs: `output_label`, `output_probability`)".to_string()),
        "{errors:#?}"
    );
}

/// Scoring by the card's columns gives what the graph gives.
#[test]
fn predictions_by_the_cards_columns() {
    use mlinfra_onnx::import::{Column, Predictions};
    let m = load("sklearn_pipeline.onnx");
    let card = m.infer_card();
    let (header, rows) = heart();
    let columns: Vec<Column> = card
        .input
        .features
        .iter()
        .map(|f| {
            let j = header.iter().position(|h| h == &f.name).unwrap();
            match f.kind {
                mlinfra_onnx::card::FeatureKind::Text | mlinfra_onnx::card::FeatureKind::Image => {
                    Column::Texts(rows.iter().map(|r| r[j].clone()).collect())
                }
                mlinfra_onnx::card::FeatureKind::Number => {
                    Column::Numbers(rows.iter().map(|r| r[j].parse().unwrap()).collect())
                }
            }
        })
        .collect();
    let Predictions::Probabilities { classes, values } = m.predict(&card, &columns).unwrap() else {
        panic!("probabilities");
    };
    assert_eq!(classes, 2);
    let theirs = flat(&onnxruntime("sklearn_pipeline.onnx", "")["output_probability"]);
    assert_eq!(values.len(), theirs.len());
    for (a, b) in values.iter().zip(&theirs) {
        assert!((f64::from(*a) - b).abs() <= 1e-5, "{a} vs {b}");
    }
}

/// The text model's card: inferred from the graph, with the tokenizer beside it.
fn text_model() -> (Imported, mlinfra_onnx::card::Card) {
    let mut m = load("text_classifier.onnx");
    let mut card = m.infer_card();
    let text = card.input.text.as_mut().unwrap();
    text.max_length = 16;
    card.output.classes = vec!["fire".into(), "flood".into(), "other".into()];
    let tokenizer = std::fs::read(fixture("tokenizer.json")).unwrap();
    m.use_text(&card, Some(&tokenizer)).unwrap();
    (m, card)
}

/// Strings a tokenizer gets wrong when it is not the same code: accents, emoji, CJK, mixed
/// scripts, controls and spaces, nothing, and more tokens than `max_length`.
fn hard_texts() -> Vec<String> {
    [
        "Fire near the café in São Paulo 🔥",
        "洪水 warning: water rising in 京都",
        "Crème brûlée at Málaga ☕😎 Crème brûlée at Málaga ☕😎 Crème brûlée at Málaga ☕😎",
        "",
        "ÀÉÎÕÜ ñ ß ø Ω 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
        "  tabs\tand\nnew lines\u{200b} zero width ",
        "FLOOD!!! 🌊🌊🌊 the river broke its banks near downtown, cars swept away, stay home",
        "help",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The Python tokenizer's ids and onnxruntime's logits for `texts` (`python/text_run.py`).
fn text_reference(texts: &[String]) -> serde_json::Map<String, Value> {
    let python = std::env::var_os("MLINFRA_PYTHON")
        .map_or_else(|| root().join(".venv/bin/python"), PathBuf::from);
    let mut child = std::process::Command::new(&python)
        .arg(root().join("python/text_run.py"))
        .arg(fixture("text_classifier.onnx"))
        .arg(fixture("tokenizer.json"))
        .arg("16")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (`make venv`)", python.display()));
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(texts).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    match serde_json::from_slice(&out.stdout).unwrap() {
        Value::Object(m) => m,
        other => panic!("{other}"),
    }
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()))
        .collect()
}

/// A BERT classifier exported by `torch.onnx` with its `tokenizer.json`: the token ids are the
/// Python tokenizer's, truncation included, and the probabilities onnxruntime's softmax.
#[test]
fn a_hugging_face_text_classifier_with_its_tokenizer() {
    use mlinfra_onnx::import::Predictions;
    let (m, card) = text_model();
    assert_eq!(m.check(&card), Vec::<String>::new());
    let texts = hard_texts();
    let reference = text_reference(&texts);
    let (predictions, tokens) = m.predict_text(&card, &texts).unwrap();
    assert_eq!(tokens.ids, ints(&reference["input_ids"]), "input_ids");
    assert_eq!(
        tokens.attention_mask,
        ints(&reference["attention_mask"]),
        "attention_mask"
    );
    assert_eq!(
        tokens.type_ids,
        ints(&reference["token_type_ids"]),
        "token_type_ids"
    );
    let overflowing: Vec<bool> = reference["overflowing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_bool().unwrap())
        .collect();
    assert_eq!(tokens.truncated, overflowing);
    assert!(tokens.truncated[2] && !tokens.truncated[0], "{tokens:?}");
    let Predictions::Probabilities { classes, values } = predictions else {
        panic!("{predictions:?}")
    };
    assert_eq!(classes, 3);
    let logits = flat(&reference["logits"]);
    for (row, (p, z)) in values.chunks(3).zip(logits.chunks(3)).enumerate() {
        let max = z.iter().copied().fold(f64::MIN, f64::max);
        let sum: f64 = z.iter().map(|v| (v - max).exp()).sum();
        for (a, b) in p.iter().zip(z) {
            let want = (b - max).exp() / sum;
            assert!(
                (f64::from(*a) - want).abs() <= 1e-4,
                "row {row}: {p:?} vs softmax of {z:?}"
            );
        }
    }
    // The messages it learned from, by their class.
    let (fire, flood) = (values[0..3].to_vec(), values[3..6].to_vec());
    assert!(fire[0] > 0.5 && flood[1] > 0.5, "{fire:?} {flood:?}");
}

/// A text card that does not fit the graph, or a tokenizer that is not the model's.
#[test]
fn a_text_card_or_tokenizer_that_does_not_fit_is_named() {
    let (mut m, card) = text_model();
    let mut bad = card.clone();
    let text = bad.input.text.as_mut().unwrap();
    text.input_ids = "ids".into();
    text.token_type_ids = None;
    bad.output.classes.pop();
    let errors = m.check(&bad);
    for want in [
        "`input.text.input_ids` is `ids`, which is not an input of the graph (its inputs: `input_ids`, `attention_mask`, `token_type_ids`)",
        "`input.text` does not say what goes into the graph's input `input_ids` (`input_ids`, `attention_mask` or `token_type_ids`)",
        "`input.text` does not say what goes into the graph's input `token_type_ids` (`input_ids`, `attention_mask` or `token_type_ids`)",
        "`output.classes` names 2 classes, but `logits` has 3 columns",
    ] {
        assert!(errors.contains(&want.to_string()), "{want}\n{errors:#?}");
    }
    // A vocabulary larger than the model's embedding: ids past it would index outside it.
    let mut json: Value =
        serde_json::from_slice(&std::fs::read(fixture("tokenizer.json")).unwrap()).unwrap();
    let vocab = json["model"]["vocab"].as_object_mut().unwrap();
    let n = vocab.len();
    for i in 0..50 {
        vocab.insert(format!("extra{i}"), Value::from(n + i));
    }
    m.use_text(&card, Some(json.to_string().as_bytes()))
        .unwrap();
    let errors = m.check(&card);
    assert!(
        errors.iter().any(|e| e.contains(&format!(
            "`input.text.tokenizer`: its vocabulary has {} tokens, but the model's embedding for `input_ids` has {n} rows",
            n + 50
        ))),
        "{errors:#?}"
    );
}

/// The pictures of the image fixtures, by path.
fn pictures() -> Vec<PathBuf> {
    let mut r = csv::Reader::from_path(fixture("images/labels.csv")).unwrap();
    r.records()
        .map(|x| fixture("images").join(&x.unwrap()[0]))
        .collect()
}

/// Pillow's resized pixels and onnxruntime's logits on its tensor (`python/image_run.py`).
fn image_reference(paths: &[PathBuf]) -> serde_json::Map<String, Value> {
    let python = std::env::var_os("MLINFRA_PYTHON")
        .map_or_else(|| root().join(".venv/bin/python"), PathBuf::from);
    let out = std::process::Command::new(&python)
        .arg(root().join("python/image_run.py"))
        .arg(fixture("image_classifier.onnx"))
        .arg("64")
        .args(paths)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (`make venv`)", python.display()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    match serde_json::from_slice(&out.stdout).unwrap() {
        Value::Object(m) => m,
        other => panic!("{other}"),
    }
}

/// A torchvision classifier exported by `torch.onnx`: PNG and JPEG pictures of other sizes,
/// resized within 1/255 of Pillow's pixels, and probabilities those of onnxruntime on Pillow's
/// tensor.
#[test]
fn a_torchvision_image_classifier_on_png_and_jpeg() {
    use mlinfra_onnx::card::{FeatureKind, Layout};
    use mlinfra_onnx::import::Predictions;
    let m = load("image_classifier.onnx");
    let mut card = m.infer_card();
    let image = card.input.image.clone().unwrap();
    assert_eq!(card.input.features[0].kind, FeatureKind::Image);
    assert_eq!(
        (image.width, image.height, image.layout),
        (64, 64, Layout::Nchw)
    );
    assert_eq!(card.output.logits.as_deref(), Some("logits"));
    card.output.classes = vec!["red".into(), "green".into(), "blue".into()];
    assert_eq!(m.check(&card), Vec::<String>::new());

    let paths = pictures();
    let reference = image_reference(&paths);
    let decoded: Vec<_> = paths
        .iter()
        .map(|p| mlinfra_onnx::images::decode(&std::fs::read(p).unwrap()).unwrap())
        .collect();
    // PNG: within 1/255 of Pillow's pixels (the resize). JPEG: decoders differ (IDCT and
    // colour conversion rounding: jpeg-decoder against Pillow's libjpeg-turbo), within 3/255
    // and 0.1/255 on average.
    let (mut png, mut jpeg, mut sum, mut n) = (0i32, 0i32, 0i64, 0usize);
    for (i, img) in decoded.iter().enumerate() {
        let ours = mlinfra_onnx::images::resized(img, &image)
            .into_owned()
            .into_raw();
        let pillow = reference["pixels"][i].as_array().unwrap();
        assert_eq!(ours.len(), pillow.len());
        let is_png = paths[i].extension().is_some_and(|e| e == "png");
        for (a, b) in ours.iter().zip(pillow) {
            let d = (i32::from(*a) - b.as_i64().unwrap() as i32).abs();
            if is_png {
                png = png.max(d);
            } else {
                jpeg = jpeg.max(d);
                sum += i64::from(d);
                n += 1;
            }
        }
    }
    assert!(png <= 1, "a PNG pixel differs from Pillow's by {png}/255");
    assert!(
        jpeg <= 3,
        "a JPEG pixel differs from Pillow's by {jpeg}/255"
    );
    let mean = sum as f64 / n as f64;
    assert!(
        mean <= 0.1,
        "JPEG pixels differ from Pillow's by {mean}/255 on average"
    );

    let Predictions::Probabilities { classes, values } = m.predict_images(&card, &decoded).unwrap()
    else {
        panic!()
    };
    assert_eq!(classes, 3);
    let logits = flat(&reference["logits"]);
    let mut hits = 0;
    for (i, (p, z)) in values.chunks(3).zip(logits.chunks(3)).enumerate() {
        let max = z.iter().copied().fold(f64::MIN, f64::max);
        let sum: f64 = z.iter().map(|v| (v - max).exp()).sum();
        // Pictures whose pixels are Pillow's to the bit (PNGs of the model's size): 1e-4.
        let exact =
            paths[i].extension().is_some_and(|e| e == "png") && decoded[i].dimensions() == (64, 64);
        let tolerance = if exact { 1e-4 } else { 1e-3 };
        for (a, b) in p.iter().zip(z) {
            let want = (b - max).exp() / sum;
            assert!(
                (f64::from(*a) - want).abs() <= tolerance,
                "picture {i} ({}): {p:?} vs softmax of {z:?}",
                paths[i].display()
            );
        }
        let best = (0..3).max_by(|a, b| p[*a].total_cmp(&p[*b])).unwrap();
        let name = paths[i].file_name().unwrap().to_string_lossy().into_owned();
        hits += usize::from(name.contains(["red", "green", "blue"][best]));
    }
    assert!(hits >= 20, "{hits} of 24 pictures classified as labelled");
}

/// An image card that does not fit the graph names each mismatch.
#[test]
fn an_image_card_that_does_not_fit_is_named() {
    use mlinfra_onnx::card::Layout;
    let m = load("image_classifier.onnx");
    let mut card = m.infer_card();
    card.output.classes = vec!["red".into(), "green".into(), "blue".into()];
    let image = card.input.image.as_mut().unwrap();
    image.width = 32;
    image.layout = Layout::Nhwc;
    image.mean = vec![0.5];
    let errors = m.check(&card);
    for want in [
        "`input.image`: the graph's input `pixels` is [?, 3, 64, 64], not [N, H, W, 3] pictures of 32×64 (layout: nhwc)",
        "`input.image.mean` has 1 values; expected one per channel (3)",
    ] {
        assert!(errors.contains(&want.to_string()), "{want}\n{errors:#?}");
    }
}
