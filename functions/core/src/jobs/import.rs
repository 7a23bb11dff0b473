//! Importing a model trained elsewhere (`mlinfra models import`): its ONNX file and card checked
//! against each other and run by tract ([`crate::onnx::import`]), the model evaluated on a
//! labelled set with the metrics of mlinfra's own models, blessed against the Production
//! version on the same set (when that one is imported too), and registered as one file: the
//! user's bytes with the card and the source's sha256 appended to its metadata.

use serde::Serialize;

use super::JobError;
use crate::keys;
use crate::lake::Lake;
use crate::metrics::{Blessing, Interval, Policy, bless, bless_regression};
use crate::onnx::card::{self, Card, FeatureKind, Task};
use crate::onnx::import::{Column, Imported, Predictions};
use crate::registry::{Candidate, Registry, Stage, Store, Version};

/// A labelled evaluation set in a card's terms.
#[derive(Debug, Clone)]
pub struct EvalSet {
    /// One per feature of the card, in its order.
    pub columns: Vec<Column>,
    pub labels: Vec<String>,
    /// `sha256:` of the file.
    pub data_hash: String,
}

/// Read a labelled CSV file: each feature of `card` from the column of its name (an empty cell
/// is a missing value), the label from `label`. Errors name the column, the line and the value.
pub fn eval_set(csv: &[u8], card: &Card, label: &str) -> Result<EvalSet, String> {
    let mut r = csv::ReaderBuilder::new().from_reader(csv);
    let header: Vec<String> = r
        .headers()
        .map_err(|e| format!("the evaluation data is not CSV: {e}"))?
        .iter()
        .map(str::to_string)
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name);
    let missing: Vec<String> = card
        .input
        .features
        .iter()
        .map(|f| f.name.as_str())
        .chain([label])
        .filter(|n| col(n).is_none())
        .map(|n| format!("`{n}`"))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the evaluation data has no column {} (its columns: {})",
            missing.join(", "),
            header
                .iter()
                .map(|h| format!("`{h}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let js: Vec<usize> = card
        .input
        .features
        .iter()
        .filter_map(|f| col(&f.name))
        .collect();
    let y = col(label).unwrap_or_default();
    let mut columns: Vec<Column> = card
        .input
        .features
        .iter()
        .map(|f| match f.kind {
            FeatureKind::Number => Column::Numbers(vec![]),
            // A picture's path, read by the evaluation.
            FeatureKind::Text | FeatureKind::Image => Column::Texts(vec![]),
        })
        .collect();
    let mut labels = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| format!("line {line} of the evaluation data: {e}"))?;
        for (c, &j) in columns.iter_mut().zip(&js) {
            let cell = rec.get(j).unwrap_or_default().trim();
            match c {
                Column::Texts(v) => v.push(cell.to_string()),
                Column::Numbers(v) if cell.is_empty() => v.push(f32::NAN),
                Column::Numbers(v) => v.push(cell.parse().map_err(|_| {
                    format!(
                        "line {line}, column `{}`: `{cell}` is not a number",
                        header[j]
                    )
                })?),
            }
        }
        labels.push(rec.get(y).unwrap_or_default().trim().to_string());
    }
    if labels.is_empty() {
        return Err("the evaluation data has no rows".into());
    }
    Ok(EvalSet {
        columns,
        labels,
        data_hash: format!("sha256:{}", crate::pipeline::sha256_hex(csv)),
    })
}

pub use crate::pipeline::INTERVAL_KEY;

pub use crate::metrics::Evaluated;

/// A class name as the card names it: the same text, or the same number (`1` and `1.0`).
fn class_of(label: &str, classes: &[String]) -> Option<usize> {
    classes.iter().position(|c| c == label).or_else(|| {
        let x: f64 = label.parse().ok()?;
        classes
            .iter()
            .position(|c| c.parse::<f64>().is_ok_and(|c| c == x))
    })
}

/// Reads a picture of an image model's evaluation set by the path its manifest gives.
pub type Pictures<'a> = &'a (dyn Fn(&str) -> Result<Vec<u8>, String> + Sync);

/// The columns of an imported model's monitoring reference that describe each input besides
/// its features: a text's tokens, unknown tokens and whether it was cut; a picture's size,
/// brightness and contrast. The prediction log records the same of each request.
pub const TEXT_PROFILE: [&str; 3] = ["tokens", "unknown", "truncated"];
pub const IMAGE_PROFILE: [&str; 4] = ["width", "height", "brightness", "contrast"];

/// An evaluation and what the monitor compares traffic with.
#[derive(Debug, Clone)]
pub struct Assessed {
    pub evaluated: Evaluated,
    /// A regression's absolute error on each evaluation row (its interval's calibration).
    pub residuals: Option<Vec<f64>>,
    /// The reference (`reference.csv`) of a classification: each row's inputs or their
    /// profile, the confidence and the predicted class.
    pub reference: Option<String>,
}

/// Score `set` with `model` as `card` describes it (an image model's pictures read by
/// `pictures`), measure the answers against its labels, and keep what the monitor needs.
pub fn evaluate(
    model: &Imported,
    card: &Card,
    set: &EvalSet,
    pictures: Pictures<'_>,
) -> Result<Evaluated, String> {
    evaluate_for_monitor(model, card, set, pictures).map(|e| e.evaluated)
}

/// [`evaluate`], with the monitoring reference.
pub fn evaluate_for_monitor(
    model: &Imported,
    card: &Card,
    set: &EvalSet,
    pictures: Pictures<'_>,
) -> Result<Assessed, String> {
    // Per row, what the log records of the input (by column).
    let mut profile: Vec<(&str, Vec<f64>)> = Vec::new();
    let predictions = match (&card.input.image, &set.columns[..]) {
        (Some(spec), [Column::Texts(paths)]) => {
            // One full-size picture in memory at a time: each is brought to the card's size.
            let mut resized = Vec::with_capacity(paths.len());
            let mut stats = Vec::with_capacity(paths.len());
            for (i, p) in paths.iter().enumerate() {
                let img = pictures(p)
                    .and_then(|b| crate::onnx::images::decode(&b))
                    .map_err(|e| format!("line {}: `{p}`: {e}", i + 2))?;
                stats.push(crate::onnx::images::stats(&img));
                resized.push(crate::onnx::images::resized(&img, spec).into_owned());
            }
            profile.push(("width", stats.iter().map(|s| f64::from(s.width)).collect()));
            profile.push((
                "height",
                stats.iter().map(|s| f64::from(s.height)).collect(),
            ));
            profile.push((
                "brightness",
                stats.iter().map(|s| f64::from(s.brightness)).collect(),
            ));
            profile.push((
                "contrast",
                stats.iter().map(|s| f64::from(s.contrast)).collect(),
            ));
            model.predict_images(card, &resized)?
        }
        (None, [Column::Texts(texts)]) if card.input.text.is_some() => {
            let (predictions, t) = model.predict_texts(card, texts)?;
            if let Some(spec) = &card.input.text
                && let Some(e) = t.refused(spec, &|i| format!("line {}", i + 2))
            {
                return Err(e);
            }
            profile.push(("tokens", t.counts.iter().map(|v| *v as f64).collect()));
            profile.push(("unknown", t.unknown.iter().map(|v| *v as f64).collect()));
            profile.push((
                "truncated",
                t.truncated
                    .iter()
                    .map(|v| f64::from(u8::from(*v)))
                    .collect(),
            ));
            predictions
        }
        _ => model.predict(card, &set.columns)?,
    };
    match (card.task, predictions) {
        (Task::Classification, Predictions::Probabilities { classes, values }) => {
            let mut y = Vec::with_capacity(set.labels.len());
            for (i, l) in set.labels.iter().enumerate() {
                y.push(class_of(l, &card.output.classes).ok_or_else(|| {
                    format!(
                        "line {}: the label `{l}` is none of the card's classes ({})",
                        i + 2,
                        card.output.classes.join(", ")
                    )
                })?);
            }
            let proba: Vec<Vec<f64>> = values
                .chunks_exact(classes.max(1))
                .map(|r| r.iter().map(|p| f64::from(*p)).collect())
                .collect();
            let reference = reference_csv(card, set, &profile, &proba);
            Ok(Assessed {
                residuals: None,
                evaluated: Evaluated::Classification(crate::metrics::evaluate(&y, &proba, classes)),
                reference: Some(reference),
            })
        }
        (Task::Regression, Predictions::Values(values)) => {
            let mut y = Vec::with_capacity(set.labels.len());
            for (i, l) in set.labels.iter().enumerate() {
                match l.parse::<f64>() {
                    Ok(v) if v.is_finite() => y.push(v),
                    _ => {
                        return Err(format!(
                            "line {}: the label `{l}` is not a finite number",
                            i + 2
                        ));
                    }
                }
            }
            let predicted: Vec<f64> = values.iter().map(|v| f64::from(*v)).collect();
            let residuals: Vec<f64> = y
                .iter()
                .zip(&predicted)
                .map(|(t, p)| (t - p).abs())
                .collect();
            Ok(Assessed {
                evaluated: Evaluated::Regression(crate::metrics::RegressionEvaluation::of(
                    &y, &predicted,
                )),
                residuals: Some(residuals),
                reference: None,
            })
        }
        _ => Err("the model's answers do not match the card's task".into()),
    }
}

/// The monitoring reference of a classification as CSV: a tabular model's features as the
/// evaluation set has them, or a text's or picture's profile; then `confidence` and
/// `predicted` (the class).
fn reference_csv(
    card: &Card,
    set: &EvalSet,
    profile: &[(&str, Vec<f64>)],
    proba: &[Vec<f64>],
) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let tabular = card.input.text.is_none() && card.input.image.is_none();
    let mut header: Vec<&str> = Vec::new();
    if tabular {
        header.extend(card.input.features.iter().map(|f| f.name.as_str()));
    }
    header.extend(profile.iter().map(|(n, _)| *n));
    header.extend(["confidence", "predicted"]);
    let _ = w.write_record(&header);
    for (i, p) in proba.iter().enumerate() {
        let mut row: Vec<String> = Vec::with_capacity(header.len());
        if tabular {
            for c in &set.columns {
                row.push(match c {
                    Column::Numbers(v) if v[i].is_nan() => String::new(),
                    Column::Numbers(v) => v[i].to_string(),
                    Column::Texts(v) => v[i].clone(),
                });
            }
        }
        row.extend(profile.iter().map(|(_, v)| v[i].to_string()));
        let best = crate::metrics::argmax(p);
        row.push(p[best].to_string());
        row.push(card.output.classes.get(best).cloned().unwrap_or_default());
        let _ = w.write_record(&row);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// An evaluation with its task first (`"task": "classification"`), as an import reports it.
fn task_tagged<S: serde::Serializer>(e: &Evaluated, s: S) -> Result<S::Ok, S::Error> {
    use serde::Serialize as _;
    let task = match e {
        Evaluated::Classification(_) => "classification",
        Evaluated::Regression(_) => "regression",
    };
    let mut out = serde_json::Map::new();
    out.insert("task".into(), task.into());
    if let serde_json::Value::Object(fields) =
        serde_json::to_value(e).map_err(serde::ser::Error::custom)?
    {
        out.extend(fields);
    }
    out.serialize(s)
}

/// What an import did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportOutcome {
    #[serde(serialize_with = "task_tagged")]
    pub evaluation: Evaluated,
    /// Against the policy and the imported Production version on the same rows.
    pub blessing: Blessing,
    /// A regression's prediction interval (split-conformal on the evaluation set), stored
    /// with the model and answered with each value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<Interval>,
    /// Why a regression has no interval (too few evaluation rows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_missing: Option<String>,
    /// The version registered; `None` when the model was not blessed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered: Option<Version>,
    /// `sha256:` of the file as given.
    pub source_sha256: String,
    /// What was rewritten for tract.
    pub rewrites: Vec<String>,
}

/// What to import: an ONNX file as given, its card (and a text model's `tokenizer.json`), the
/// labelled CSV to evaluate it on (named `data_name` in messages) and its label column, the
/// promotion policy to bless it by, and who imports it as a version of which model.
pub struct ToImport<'a> {
    pub model: &'a str,
    pub bytes: &'a [u8],
    pub card: &'a Card,
    pub tokenizer: Option<&'a [u8]>,
    /// Reads an image model's pictures by the paths of the evaluation set.
    pub pictures: Pictures<'a>,
    pub data: &'a [u8],
    pub data_name: &'a str,
    pub label: &'a str,
    pub policy: &'a Policy,
    /// The coverage of a regression's prediction interval (`model.interval_level`).
    pub interval_level: f64,
    pub actor: &'a str,
}

/// The import use case: check, evaluate, bless, and register the file as a new version.
pub async fn import<S: Store>(
    lake: &impl Lake,
    registry: &Registry<S>,
    what: &ToImport<'_>,
) -> Result<ImportOutcome, JobError> {
    let ToImport {
        model,
        bytes,
        card,
        tokenizer,
        pictures,
        data,
        data_name,
        label,
        policy,
        interval_level,
        actor,
    } = *what;
    let mut imported = Imported::load(bytes).map_err(|e| JobError::Input(e.to_string()))?;
    let tokenizer = match (&card.input.text, tokenizer) {
        (None, _) => None,
        (Some(t), None) => {
            return Err(JobError::Input(format!(
                "the card's `input.text.tokenizer` (`{}`) was not given",
                t.tokenizer
            )));
        }
        (Some(t), Some(json)) => Some(std::str::from_utf8(json).map_err(|_| {
            JobError::Input(format!(
                "`input.text.tokenizer`: `{}` is not UTF-8 text",
                t.tokenizer
            ))
        })?),
    };
    imported
        .use_text(card, tokenizer.map(str::as_bytes))
        .map_err(|e| JobError::Input(format!("`input.text.tokenizer`: {e}")))?;
    let errors = imported.check(card);
    if !errors.is_empty() {
        return Err(JobError::Input(format!(
            "the card does not match the model's graph:\n  - {}",
            errors.join("\n  - ")
        )));
    }
    let set =
        &eval_set(data, card, label).map_err(|e| JobError::Input(format!("`{data_name}`: {e}")))?;
    let Assessed {
        evaluated: evaluation,
        reference,
        residuals,
    } = evaluate_for_monitor(&imported, card, set, pictures)
        .map_err(|e| JobError::Input(format!("`{data_name}`: {e}")))?;
    let baseline = production_baseline(lake, registry, model, data, label, pictures).await?;
    let blessing = match (&evaluation, &baseline) {
        (Evaluated::Classification(e), Some(Evaluated::Classification(b))) => {
            bless(policy, e, Some(b))
        }
        (Evaluated::Classification(e), _) => bless(policy, e, None),
        (Evaluated::Regression(e), Some(Evaluated::Regression(b))) => {
            bless_regression(policy, e, Some(b))
        }
        (Evaluated::Regression(e), _) => bless_regression(policy, e, None),
    };
    let source_sha256 = format!("sha256:{}", crate::pipeline::sha256_hex(bytes));
    let (interval, interval_missing) =
        match residuals.map(|r| Interval::split_conformal(&r, interval_level)) {
            Some(Ok(i)) => (Some(i), None),
            Some(Err(e)) => (None, Some(e)),
            None => (None, None),
        };
    let mut outcome = ImportOutcome {
        evaluation,
        blessing,
        interval,
        interval_missing,
        registered: None,
        source_sha256,
        rewrites: imported.rewrites.applied.clone(),
    };
    if !outcome.blessing.blessed {
        return Ok(outcome);
    }
    let card_json = card.to_json();
    let mut entries = vec![
        (card::METADATA_KEY, card_json.as_str()),
        (card::SOURCE_KEY, outcome.source_sha256.as_str()),
    ];
    // One artifact under one sha256: a text model's tokenizer travels inside its file, and a
    // regression's interval.
    if let Some(t) = tokenizer {
        entries.push((card::TOKENIZER_KEY, t));
    }
    let interval_json = outcome
        .interval
        .as_ref()
        .map(|i| serde_json::to_string(i).unwrap_or_default());
    if let Some(i) = &interval_json {
        entries.push((INTERVAL_KEY, i));
    }
    let artifact = card::with_metadata(bytes, &entries);
    let sha = crate::pipeline::sha256_hex(&artifact);
    let run_id = format!("import-{}", &sha[..16]);
    let key = keys::model_onnx(model, &run_id);
    lake.put(&key, &artifact).await?;
    if let Some(r) = &reference {
        lake.put(&keys::imported_reference(model, &run_id), r.as_bytes())
            .await?;
    }
    let version = registry
        .register(
            model,
            Candidate {
                artifact_uri: lake.uri(&key),
                sha256: format!("sha256:{sha}"),
                run_id,
                data_hash: set.data_hash.clone(),
                schema_version: String::new(),
                metrics: {
                    let mut m = outcome.evaluation.metrics();
                    if let Some(i) = &outcome.interval {
                        m.insert("coverage".into(), i.coverage);
                        m.insert("interval_width".into(), 2.0 * i.half_width);
                    }
                    m
                },
            },
            actor,
        )
        .await?;
    outcome.registered = Some(version);
    Ok(outcome)
}

/// The Production version's evaluation on the same set, when it is an imported model (a model
/// mlinfra trained reads its own features, which the set may not have).
async fn production_baseline<S: Store>(
    lake: &impl Lake,
    registry: &Registry<S>,
    model: &str,
    data: &[u8],
    label: &str,
    pictures: Pictures<'_>,
) -> Result<Option<Evaluated>, JobError> {
    let Some(doc) = registry.store.load(model).await? else {
        return Ok(None);
    };
    let Some(v) = doc.in_stage(Stage::Production) else {
        return Ok(None);
    };
    let Some(bytes) = imported_file(lake, v).await? else {
        return Ok(None);
    };
    let Some(Ok(card)) = stored_card(&bytes) else {
        return Ok(None);
    };
    let Ok(mut m) = Imported::load(&bytes) else {
        return Ok(None);
    };
    if m.use_text(&card, None).is_err() {
        return Ok(None);
    }
    // The same rows, read as the Production version's own card names its features.
    let Ok(set) = eval_set(data, &card, label) else {
        return Ok(None);
    };
    Ok(evaluate(&m, &card, &set, pictures).ok())
}

/// The file of a registered version that was imported (`None` for a model mlinfra trained),
/// checked against its sha256.
async fn imported_file(lake: &impl Lake, v: &Version) -> Result<Option<Vec<u8>>, JobError> {
    if !v.run_id.starts_with("import-") {
        return Ok(None);
    }
    let pointer = crate::registry::Pointer {
        version: v.version,
        artifact_uri: v.artifact_uri.clone(),
        sha256: v.sha256.clone(),
    };
    Ok(Some(super::read_registered(lake, &pointer).await?.1))
}

/// The card of a registered version and the sha256 of the file as it was imported, when the
/// version is an imported model (read from its file in `lake`, checked against its sha256).
pub async fn card_of(
    lake: &impl Lake,
    v: &Version,
) -> Result<Option<(Card, Option<String>)>, JobError> {
    let Some(bytes) = imported_file(lake, v).await? else {
        return Ok(None);
    };
    let props = metadata(&bytes);
    let Some(card) = card_in(&props) else {
        return Ok(None);
    };
    let card = card.map_err(JobError::Input)?;
    let source = props
        .into_iter()
        .find(|(k, _)| k == card::SOURCE_KEY)
        .map(|(_, v)| v);
    Ok(Some((card, source)))
}

/// A model file's metadata entries (none when it is not ONNX).
fn metadata(bytes: &[u8]) -> Vec<(String, String)> {
    use prost::Message as _;
    crate::onnx::proto::ModelProto::decode(bytes)
        .map(|p| {
            p.metadata_props
                .into_iter()
                .map(|e| (e.key, e.value))
                .collect()
        })
        .unwrap_or_default()
}

/// The card among a model file's metadata entries, when it is an imported model.
fn card_in(props: &[(String, String)]) -> Option<Result<Card, String>> {
    card::stored(props.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map(|r| r.map_err(|e| format!("`{}` metadata: {e}", card::METADATA_KEY)))
}

/// The card stored in a registered model file, when it is an imported model.
pub fn stored_card(bytes: &[u8]) -> Option<Result<Card, String>> {
    card_in(&metadata(bytes))
}
