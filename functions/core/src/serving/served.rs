//! A model ready to serve: the ONNX graph loaded in tract, and what its metadata says about its
//! inputs (feature names, kinds, categories; the schema's ranges and domains) and outputs.

use prost::Message as _;
use serde_json::Value;

use crate::data::Kind;
use crate::registry::Stage;
use crate::schema::Schema;
use crate::scorer::Scorer;

#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    pub name: String,
    pub kind: Kind,
    /// Whether the feature's values are text categories (sent as strings, scored as their
    /// index in `categories`: see [`crate::scorer`]).
    pub text: bool,
    pub categories: Vec<String>,
    pub range: Option<[f64; 2]>,
    pub domain: Option<Vec<String>>,
}

#[derive(Debug)]
pub struct Served {
    pub model: String,
    pub version: u64,
    pub stage: Stage,
    pub sha256: String,
    pub features: Vec<Feature>,
    pub classes: Vec<String>,
    pub class_values: Vec<i64>,
    pub scorer: Scorer,
    /// The model's own evaluator, used instead of the graph when the model file carries it and
    /// it agrees with tract on probe rows (to 1e-5, same labels). `None`: tract scores every row.
    pub native: Option<crate::model::Model>,
    /// Whether the model predicts a value (a regression; no classes) rather than a class.
    pub regression: bool,
    /// A regression's prediction interval, stored with it at import.
    pub interval: Option<crate::metrics::Interval>,
}

impl Served {
    /// Load ONNX bytes exported by mlinfra (the metadata describes the inputs).
    pub fn load(
        bytes: &[u8],
        model: &str,
        version: u64,
        stage: Stage,
        sha256: &str,
    ) -> Result<Served, String> {
        let proto = crate::onnx::proto::ModelProto::decode(bytes)
            .map_err(|e| format!("not an ONNX model: {e}"))?;
        let meta = |k: &str| {
            proto
                .metadata_props
                .iter()
                .find(|p| p.key == k)
                .map(|p| p.value.clone())
        };
        let props = || {
            proto
                .metadata_props
                .iter()
                .map(|p| (p.key.as_str(), p.value.as_str()))
        };
        // A model imported from another tool: its card says what it takes and answers.
        if let Some(card) = crate::onnx::card::stored(props()) {
            let card = card.map_err(|e| format!("`mlinfra.card` metadata: {e}"))?;
            let classes = card.output.classes.clone();
            let regression = card.task == crate::onnx::card::Task::Regression;
            let interval = match meta(crate::jobs::import::INTERVAL_KEY) {
                Some(text) => Some(serde_json::from_str(&text).map_err(|e| {
                    format!("`{}` metadata: {e}", crate::jobs::import::INTERVAL_KEY)
                })?),
                None => None,
            };
            let (scorer, metas) = Scorer::imported(bytes, card)?;
            return Ok(Served {
                model: model.to_string(),
                version,
                stage,
                sha256: sha256.to_string(),
                class_values: (0..classes.len() as i64).collect(),
                features: metas
                    .into_iter()
                    .map(|f| Feature {
                        name: f.name,
                        kind: f.kind,
                        text: f.text,
                        categories: f.categories,
                        range: None,
                        domain: None,
                    })
                    .collect(),
                classes,
                scorer,
                native: None,
                regression,
                interval,
            });
        }
        let metas = crate::onnx::feature_meta(props())
            .ok_or("the model has no `mlinfra.features` metadata")?
            .map_err(|e| format!("`mlinfra.features` metadata: {e}"))?;
        let classes: Vec<String> = serde_json::from_str(
            &meta("mlinfra.classes").ok_or("the model has no `mlinfra.classes` metadata")?,
        )
        .map_err(|e| format!("`mlinfra.classes` metadata: {e}"))?;
        let class_values: Option<Vec<i64>> = meta("mlinfra.class_values")
            .and_then(|v| serde_json::from_str(&v).ok())
            .flatten();
        let schema: Option<Schema> =
            meta("mlinfra.schema").and_then(|v| serde_json::from_str(&v).ok());
        // A regression trained here: no classes, its interval stored beside it.
        let regression = meta(crate::onnx::TASK_KEY).as_deref() == Some("regression");
        let interval = match meta(crate::pipeline::INTERVAL_KEY) {
            Some(text) if regression => Some(
                serde_json::from_str(&text)
                    .map_err(|e| format!("`{}` metadata: {e}", crate::pipeline::INTERVAL_KEY))?,
            ),
            _ => None,
        };
        let scorer = Scorer::with_features(bytes, &metas, metas.len(), classes.len())
            .map_err(|e| format!("tract cannot load the model: {e}"))?;
        let features: Vec<Feature> = metas
            .into_iter()
            .map(|f| {
                let s = schema.as_ref().and_then(|s| s.feature(&f.name));
                Feature {
                    range: s.and_then(|s| s.range),
                    domain: s.and_then(|s| s.domain.clone()),
                    name: f.name,
                    kind: f.kind,
                    text: f.text,
                    categories: f.categories,
                }
            })
            .collect();
        // `mlinfra.model` names the model too (the pipeline writes both under that key): the
        // evaluator is the entry that reads as one.
        let native: Option<crate::model::Model> = proto
            .metadata_props
            .iter()
            .filter(|p| p.key == "mlinfra.model")
            .find_map(|p| serde_json::from_str(&p.value).ok());
        let mut served = Served {
            model: model.to_string(),
            version,
            stage,
            sha256: sha256.to_string(),
            class_values: class_values.unwrap_or_else(|| (0..classes.len() as i64).collect()),
            features,
            classes,
            scorer,
            native,
            regression,
            interval,
        };
        if served.native.is_some() {
            let probe = probe_rows(&served.features);
            let rows = probe.len() / served.features.len().max(1);
            let graph = served
                .scorer
                .score(rows, &probe)
                .map_err(|e| format!("tract cannot run the model: {e}"))?;
            let agree = served.score_native(rows, &probe).is_some_and(|f| {
                f.labels == graph.labels
                    && f.probabilities
                        .iter()
                        .zip(&graph.probabilities)
                        .all(|(a, b)| (a - b).abs() <= 1e-5)
                    && f.values.len() == graph.values.len()
                    && f.values
                        .iter()
                        .zip(&graph.values)
                        .all(|(a, b)| (a - b).abs() <= 1e-5 * b.abs().max(1.0))
            });
            if !agree {
                served.native = None;
            }
        }
        Ok(served)
    }

    /// The index into `classes` of a label the model returned (a class value).
    pub fn class_index(&self, label: i64) -> usize {
        self.class_values
            .iter()
            .position(|v| *v == label)
            .unwrap_or(0)
    }

    /// A label the model returned as the user knows the class: the integer when the classes
    /// are integers (`1`), else the class name (`"low"`).
    pub fn label_value(&self, label: i64) -> Value {
        let name = &self.classes[self.class_index(label)];
        if name.parse::<i64>() == Ok(label) {
            Value::from(label)
        } else {
            Value::from(name.as_str())
        }
    }

    /// The class a user's label names, exactly as the OpenAPI document allows: an integer class's
    /// value (`1`) or any class's name (`"1"`, `"low"`); `None` when the model has no such class.
    pub fn class_named(&self, label: &Value) -> Option<&str> {
        match label {
            Value::String(s) => self.classes.iter().map(String::as_str).find(|c| c == s),
            Value::Number(n) => {
                let v = n.as_i64()?;
                let i = self.class_values.iter().position(|c| *c == v)?;
                self.label_value(v)
                    .is_i64()
                    .then(|| self.classes[i].as_str())
            }
            _ => None,
        }
    }

    /// Whether rows are scored by the verified native evaluator (else by tract).
    pub fn is_native(&self) -> bool {
        self.native.is_some()
    }

    /// Score rows (row-major `f32`, NaN = missing): natively when verified, else with tract.
    pub fn score(&self, rows: usize, data: &[f32]) -> Result<crate::scorer::Scores, String> {
        if let Some(s) = self.score_native(rows, data) {
            return Ok(s);
        }
        self.scorer.score(rows, data).map_err(|e| e.to_string())
    }

    /// The explanation of each row (see [`crate::explain`]): of the log-odds for a binary
    /// model, of the predicted class's score for a multiclass one. Needs the model's own
    /// evaluator (carried in the model file, verified against the graph).
    pub fn explain(
        &self,
        rows: usize,
        data: &[f32],
        labels: &[i64],
    ) -> Result<Vec<crate::explain::Explanation>, String> {
        let m = self.native.as_ref().ok_or(
            "this model version's file does not carry the model's own evaluator that explanations need",
        )?;
        let f = self.features.len();
        let mut values = Vec::with_capacity(f);
        (0..rows)
            .map(|r| {
                m.raw_values(&data[r * f..(r + 1) * f], &mut values);
                let mut all = crate::explain::explain(m, &values).map_err(|e| e.0)?;
                let pick = if all.len() == 1 {
                    0
                } else {
                    self.class_index(labels[r])
                };
                Ok(all.swap_remove(pick))
            })
            .collect()
    }

    fn score_native(&self, rows: usize, data: &[f32]) -> Option<crate::scorer::Scores> {
        let m = self.native.as_ref()?;
        let f = self.features.len();
        if self.regression {
            let (mut enc, mut imp, mut v) = (Vec::new(), Vec::with_capacity(f), [0.0]);
            let values = (0..rows)
                .map(|r| {
                    m.predict_raw_row(&data[r * f..(r + 1) * f], &mut enc, &mut imp, &mut v);
                    v[0] as f32
                })
                .collect();
            return Some(crate::scorer::Scores {
                values,
                ..Default::default()
            });
        }
        let k = self.classes.len();
        let (mut enc, mut imp, mut p) = (Vec::new(), Vec::with_capacity(f), vec![0.0; k]);
        let mut labels = Vec::with_capacity(rows);
        let mut probabilities = Vec::with_capacity(rows * k);
        for r in 0..rows {
            m.predict_raw_row(&data[r * f..(r + 1) * f], &mut enc, &mut imp, &mut p);
            labels.push(self.class_values[crate::metrics::argmax(&p)]);
            probabilities.extend(p.iter().map(|x| *x as f32));
        }
        Some(crate::scorer::Scores {
            labels,
            probabilities,
            values: Vec::new(),
        })
    }
}

impl Feature {
    /// The row cell of a text category: its index, or -1 when the model has not seen it.
    pub fn text_cell(&self, value: &str) -> f32 {
        self.categories
            .iter()
            .position(|c| c == value)
            .map_or(-1.0, |p| p as f32)
    }
}

/// Rows on which the native evaluator must agree with tract before it is used: all missing,
/// then values spread over each feature's range or categories (and an unseen text category).
fn probe_rows(features: &[Feature]) -> Vec<f32> {
    let mut rows = Vec::new();
    for variant in 0..12usize {
        for (j, f) in features.iter().enumerate() {
            let x = match (variant, &f.range) {
                (0, _) => f32::NAN,
                (1, _) if f.text => -1.0,
                (v, _) if f.text => ((v + j) % f.categories.len().max(1)) as f32,
                (v, Some([lo, hi])) => {
                    (lo + (hi - lo) * ((v * 7 + j * 3) % 11) as f64 / 10.0) as f32
                }
                (v, None) => f
                    .categories
                    .get((v + j) % f.categories.len().max(1))
                    .and_then(|c| c.parse::<f32>().ok())
                    .unwrap_or(v as f32),
            };
            rows.push(x);
        }
    }
    rows
}
