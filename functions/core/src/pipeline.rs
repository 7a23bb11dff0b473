//! The whole chain on one dataset: ExampleGen → StatisticsGen → SchemaGen → ExampleValidator →
//! Transform + Trainer + Tuner → Evaluator → export. Pure: it takes bytes and returns every
//! artifact; callers decide where they go (the local lake, S3).
//!
//! Determinism: the same bytes, configuration and seeds give byte-identical artifacts (model,
//! run record). Wall-clock timings are kept apart, in [`Timings`].

use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::data::split::{split, split_values};
use crate::data::{
    DataError, LabelRule, Labels, ReadOptions, Targets, read_csv, take_label, take_target,
};
use crate::metrics::{Blessing, Evaluated, Interval, Policy, RegressionEvaluation, evaluate};
use crate::model::{Loss, Model, Params};
use crate::onnx::{ExportError, Metadata, export};
use crate::schema::Schema;
use crate::stats::{Statistics, compute};
use crate::transform::Rows;
use crate::tune::{SearchConfig, SearchResult, Space, search, search_values};
use crate::validate::{Anomalies, validate};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    pub model_name: String,
    /// What the stack's model predicts. Absent (a classification's settings, and those
    /// written before regressions): a classification.
    #[serde(default, skip_serializing_if = "is_classification")]
    pub task: crate::onnx::card::Task,
    /// The error a regression's trees minimise (`model.loss`): absent for a classification
    /// (whose trees minimise the log loss); a regression's log loss is its squared error.
    #[serde(default, skip_serializing_if = "Loss::is_log_loss")]
    pub loss: Loss,
    /// A regression's prediction interval coverage (`model.interval_level`; absent: 0.9).
    #[serde(default = "interval_level", skip_serializing_if = "is_default_level")]
    pub interval_level: f64,
    pub label: String,
    pub rule: LabelRule,
    pub read: ReadOptions,
    pub eval_fraction: f64,
    pub split_seed: u64,
    pub space: Space,
    pub search: SearchConfig,
    pub policy: Policy,
    /// A curated schema; inferred from the data when `None`.
    pub schema: Option<Schema>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitSummary {
    pub train: usize,
    pub eval: usize,
    /// Rows per class on each side.
    pub train_classes: Vec<usize>,
    pub eval_classes: Vec<usize>,
    pub train_rows: Vec<usize>,
    pub eval_rows: Vec<usize>,
}

/// Experiment tracking: everything needed to know what was trained on what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    pub model: String,
    pub data_hash: String,
    pub rows: usize,
    pub schema_version: String,
    pub code_version: CodeVersion,
    pub split_seed: u64,
    pub search: SearchConfig,
    pub best: Params,
    pub cv_score: f64,
    pub metrics: Evaluated,
    pub blessing: Blessing,
    pub model_sha256: String,
    /// A regression's prediction interval (calibrated on the training rows' out-of-fold errors,
    /// its coverage checked on the evaluation rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Interval>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeVersion {
    pub crate_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_revision: Option<String>,
}

/// The git revision of the running binary, set once by its `main` (see
/// [`CodeVersion::set_git_revision`]).
static GIT_REVISION: std::sync::OnceLock<Option<&'static str>> = std::sync::OnceLock::new();

impl CodeVersion {
    pub fn current() -> Self {
        CodeVersion {
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
            git_revision: GIT_REVISION.get().copied().flatten().map(str::to_string),
        }
    }

    /// The running binary's git revision, recorded in the run records it writes: each binary
    /// passes `option_env!("MLINFRA_GIT_REV")` from its own build script
    /// (`mlinfra-build-info`), so that a commit rebuilds only the binaries. The first call wins.
    pub fn set_git_revision(rev: Option<&'static str>) {
        let _ = GIT_REVISION.set(rev);
    }
}

/// Durations of each step in milliseconds (not part of the run record: they vary).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub read_ms: f64,
    pub statistics_ms: f64,
    pub validate_ms: f64,
    pub search_ms: f64,
    pub train_ms: f64,
    pub evaluate_ms: f64,
    pub export_ms: f64,
    pub total_ms: f64,
}

#[derive(Debug, Clone)]
pub struct Output {
    pub data_hash: String,
    pub dropped_unlabelled: usize,
    /// The lines of a regression's rows dropped because their target is not finite.
    pub non_finite_targets: Vec<u64>,
    pub statistics: Statistics,
    pub schema: Schema,
    pub anomalies: Anomalies,
    pub split: SplitSummary,
    pub search: SearchResult,
    pub model: Model,
    pub evaluation: Evaluated,
    /// A classification's ROC and calibration curves.
    pub curves: Option<crate::metrics::Curves>,
    /// A regression's evaluation rows: true and predicted values (the console's
    /// predicted-vs-actual and residual charts).
    pub points: Option<Points>,
    pub baseline: Option<Evaluated>,
    pub onnx: Vec<u8>,
    pub run: RunRecord,
    pub timings: Timings,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("cannot read the data: {0}")]
    Data(#[from] DataError),
    #[error("the data has {} anomalies that block training: {}", .0.errors().count(), .0.errors().map(|a| a.message.clone()).collect::<Vec<_>>().join("; "))]
    Anomalies(Box<Anomalies>),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("{0}")]
    Unsupported(String),
}

/// The metadata entry of a regression's [`Interval`] in its model file.
pub const INTERVAL_KEY: &str = "mlinfra.interval";

/// A regression's evaluation rows, at most [`Points::MAX`] of them (an even sample).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Points {
    pub actual: Vec<f64>,
    pub predicted: Vec<f64>,
}

impl Points {
    pub const MAX: usize = 1000;

    fn sample(actual: &[f64], predicted: &[f64]) -> Points {
        let step = actual.len().div_ceil(Points::MAX).max(1);
        Points {
            actual: actual.iter().step_by(step).copied().collect(),
            predicted: predicted.iter().step_by(step).copied().collect(),
        }
    }
}

fn is_classification(task: &crate::onnx::card::Task) -> bool {
    *task == crate::onnx::card::Task::Classification
}

fn interval_level() -> f64 {
    0.9
}

fn is_default_level(level: &f64) -> bool {
    *level == interval_level()
}

/// What a run fits: a classification's classes, or a regression's targets.
enum Target {
    Classes(Labels),
    Values(Targets),
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Run the chain on CSV bytes. `baseline` is the production model, evaluated on the same eval
/// rows for the blessing.
pub fn run(csv: &[u8], cfg: &Config, baseline: Option<&Model>) -> Result<Output, PipelineError> {
    let regression = cfg.task == crate::onnx::card::Task::Regression;
    let start = Instant::now();
    let mut timings = Timings::default();
    let data_hash = format!("sha256:{}", sha256_hex(csv));

    let t = Instant::now();
    let mut frame = read_csv(csv, &cfg.read)?;
    let (target, dropped) = if regression {
        let t = take_target(&mut frame, &cfg.label)?;
        let dropped = t.missing;
        (Target::Values(t), dropped)
    } else {
        let (labels, dropped) = take_label(&mut frame, &cfg.label, &cfg.rule)?;
        (Target::Classes(labels), dropped)
    };
    if let Some(c) = frame
        .columns
        .iter()
        .find(|c| (0..c.values.len()).all(|i| c.values.is_missing(i)))
    {
        return Err(DataError::AllMissing(c.name.clone()).into());
    }
    timings.read_ms = ms(t);

    let t = Instant::now();
    let labels = match &target {
        Target::Classes(l) => Some(l),
        Target::Values(_) => None,
    };
    let statistics = compute(&frame, labels);
    let schema = cfg
        .schema
        .clone()
        .unwrap_or_else(|| Schema::infer(&statistics));
    timings.statistics_ms = ms(t);

    let t = Instant::now();
    let anomalies = validate(&frame, &schema);
    timings.validate_ms = ms(t);
    if anomalies.has_errors() {
        return Err(PipelineError::Anomalies(Box::new(anomalies)));
    }

    let s = match &target {
        Target::Classes(l) => split(&frame, l, cfg.eval_fraction, cfg.split_seed),
        Target::Values(v) => split_values(&frame, &v.y, cfg.eval_fraction, cfg.split_seed),
    };
    let per_class = |rows: &[usize]| {
        let Target::Classes(labels) = &target else {
            return Vec::new();
        };
        let mut c = vec![0; labels.classes.len()];
        for &i in rows {
            c[labels.y[i]] += 1;
        }
        c
    };
    let split_summary = SplitSummary {
        train: s.train.len(),
        eval: s.eval.len(),
        train_classes: per_class(&s.train),
        eval_classes: per_class(&s.eval),
        train_rows: s.train.clone(),
        eval_rows: s.eval.clone(),
    };

    let t = Instant::now();
    let (result, errors) = match &target {
        Target::Classes(l) => (
            search(&frame, l, &s.train, &cfg.space, &cfg.search),
            Vec::new(),
        ),
        Target::Values(v) => {
            search_values(&frame, &v.y, cfg.loss, &s.train, &cfg.space, &cfg.search)
        }
    };
    timings.search_ms = ms(t);
    let best = result.trials[result.best].clone();

    let t = Instant::now();
    // With early stopping, the trees' rounds are those the folds kept.
    let fitted = best.refit_params();
    let model = match &target {
        Target::Classes(l) => Model::fit(&frame, &l.y, &s.train, l, &fitted),
        Target::Values(v) => Model::fit_values(&frame, &v.y, &s.train, &fitted, cfg.loss),
    };
    timings.train_ms = ms(t);

    let t = Instant::now();
    let on_eval = |m: &Model| m.predict_rows(&Rows::new(&m.prep, &frame, s.eval.clone()));
    let (evaluation, curves, points, baseline_eval, interval) = match &target {
        Target::Classes(labels) => {
            let k = labels.classes.len();
            let y_eval: Vec<usize> = s.eval.iter().map(|&i| labels.y[i]).collect();
            let eval_proba = on_eval(&model);
            let evaluation = evaluate(&y_eval, &eval_proba, k);
            let curves = crate::metrics::curves(&y_eval, &eval_proba, k);
            let baseline_eval = baseline
                .filter(|b| b.classes == model.classes)
                .map(|b| Evaluated::Classification(evaluate(&y_eval, &on_eval(b), k)));
            let e = Evaluated::Classification(evaluation);
            (e, Some(curves), None, baseline_eval, None)
        }
        Target::Values(v) => {
            let y_eval: Vec<f64> = s.eval.iter().map(|&i| v.y[i]).collect();
            let values = |m: &Model| m.predict_values(&Rows::new(&m.prep, &frame, s.eval.clone()));
            let predicted = values(&model);
            let checked: Vec<f64> = y_eval
                .iter()
                .zip(&predicted)
                .map(|(a, b)| (a - b).abs())
                .collect();
            let interval = Interval::calibrated(&errors, cfg.interval_level, &checked)
                .map_err(|e| PipelineError::Unsupported(format!("`model.interval_level`: {e}")))?;
            // The interval's coverage is checked on these evaluation rows.
            let evaluation = RegressionEvaluation::of(&y_eval, &predicted).with_interval(&interval);
            let baseline_eval = baseline
                .filter(|b| b.is_regression())
                .map(|b| Evaluated::Regression(RegressionEvaluation::of(&y_eval, &values(b))));
            let points = Points::sample(&y_eval, &predicted);
            (
                Evaluated::Regression(evaluation),
                None,
                Some(points),
                baseline_eval,
                Some(interval),
            )
        }
    };
    let blessing = evaluation.bless(&cfg.policy, baseline_eval.as_ref());
    timings.evaluate_ms = ms(t);

    let code_version = CodeVersion::current();
    let schema_version = schema.version();
    let run_id = {
        let key = serde_json::json!({
            "data": data_hash, "params": best.params, "search": cfg.search, "split_seed": cfg.split_seed,
            "schema": schema_version, "code": code_version, "model": cfg.model_name,
        });
        sha256_hex(key.to_string().as_bytes())[..16].to_string()
    };

    let t = Instant::now();
    let mut meta = Metadata {
        entries: vec![
            ("mlinfra.model".into(), cfg.model_name.clone()),
            ("mlinfra.run_id".into(), run_id.clone()),
            ("mlinfra.data_hash".into(), data_hash.clone()),
            ("mlinfra.schema_version".into(), schema_version.clone()),
            (
                "mlinfra.schema".into(),
                serde_json::to_string(&schema).unwrap_or_default(),
            ),
            // The in-memory model: servers may evaluate it natively after checking it against
            // the graph (see `serving::served`).
            (
                "mlinfra.model".into(),
                serde_json::to_string(&model).unwrap_or_default(),
            ),
            (
                "mlinfra.params".into(),
                serde_json::to_string(&fitted).unwrap_or_default(),
            ),
            (
                "mlinfra.metrics".into(),
                match &evaluation {
                    Evaluated::Classification(e) => serde_json::json!({
                        "roc_auc": e.roc_auc, "accuracy": e.accuracy,
                        "f1": e.f1_score, "log_loss": e.log_loss,
                    })
                    .to_string(),
                    Evaluated::Regression(_) => {
                        serde_json::to_string(&evaluation.metrics()).unwrap_or_default()
                    }
                },
            ),
        ],
    };
    if let Some(i) = &interval {
        meta.entries.push((
            INTERVAL_KEY.into(),
            serde_json::to_string(i).unwrap_or_default(),
        ));
    }
    let onnx = export(&model, &meta)?;
    timings.export_ms = ms(t);

    let run = RunRecord {
        run_id,
        model: cfg.model_name.clone(),
        data_hash: data_hash.clone(),
        rows: frame.rows,
        schema_version,
        code_version,
        split_seed: cfg.split_seed,
        search: cfg.search.clone(),
        best: fitted,
        cv_score: best.score,
        metrics: evaluation.clone(),
        blessing,
        model_sha256: format!("sha256:{}", sha256_hex(&onnx)),
        interval,
    };
    timings.total_ms = ms(start);
    Ok(Output {
        data_hash,
        dropped_unlabelled: dropped,
        non_finite_targets: match target {
            Target::Values(v) => v.non_finite,
            Target::Classes(_) => Vec::new(),
        },
        statistics,
        schema,
        anomalies,
        split: split_summary,
        search: result,
        model,
        evaluation,
        curves,
        points,
        baseline: baseline_eval,
        onnx,
        run,
        timings,
    })
}
