//! Monitoring: drift of the served traffic against the training data, quality from feedback,
//! and the decision what to do about it (alert, retrain, or wait out the cooldown). Pure: the
//! caller reads the window's prediction logs and feedback and acts on the [`Report`].
//!
//! Which test decides a feature's drift follows Evidently's defaults (`docs/monitoring.md`):
//!
//! | reference rows | numeric (more than 5 distinct values) | categorical (or ≤ 5 distinct) |
//! |----------------|---------------------------------------|-------------------------------|
//! | ≤ 1000         | KS test, drift when p < `ks_p_value`   | chi-squared, p < `chi2_p_value` |
//! | > 1000         | normed Wasserstein ≥ `wasserstein`     | Jensen–Shannon ≥ `jensen_shannon` |
//!
//! The dataset drifts when the share of drifting features is at least `dataset_drift_share`.
//! Every other statistic (PSI, and the tests not chosen) is computed and reported alongside.

pub mod export;
pub mod html;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::data::{Frame, Kind, Values, fmt_num, short_num};
use crate::drift;

/// JSON has no NaN or infinity: serde_json writes them as `null`; read `null` back as NaN.
mod lenient {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer};

    pub fn f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }

    pub fn map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, f64>, D::Error> {
        Ok(BTreeMap::<String, Option<f64>>::deserialize(d)?
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or(f64::NAN)))
            .collect())
    }
}

/// Evidently's switch from statistical tests to distances, in reference rows.
pub const SMALL_REFERENCE: usize = 1000;
/// A numeric feature with at most this many distinct reference values is tested as categorical.
pub const FEW_VALUES: usize = 5;
/// Accuracy and F1 are judged only on at least this many predictions with feedback.
pub const MIN_FEEDBACK: usize = 30;
/// Drift is judged only on at least this many instances in the window (the statistics are
/// computed and reported either way): a handful of requests says nothing about a distribution.
pub const MIN_CURRENT: usize = 30;
/// PSI bins (equal width over both samples).
pub const PSI_BINS: usize = 10;

/// The stack's `monitoring.drift` thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub psi: f64,
    pub ks_p_value: f64,
    pub wasserstein: f64,
    pub jensen_shannon: f64,
    pub chi2_p_value: f64,
    pub dataset_drift_share: f64,
}

/// The stack's `monitoring` policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub window_days: u32,
    pub drift: Thresholds,
    pub min_accuracy: f64,
    pub min_f1: f64,
    /// A regression's largest RMSE and MAE from feedback, and the smallest share of true values
    /// inside their intervals (0: no limit).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_rmse: f64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_mae: f64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_coverage: f64,
    /// `drift` and/or `accuracy`.
    pub retrain_on: Vec<String>,
    pub cooldown_hours: u32,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

/// The test that decides one feature's drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Test {
    Ks,
    ChiSquare,
    WassersteinNormed,
    JensenShannon,
}

impl std::fmt::Display for Test {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Test::Ks => "ks",
            Test::ChiSquare => "chi_square",
            Test::WassersteinNormed => "wasserstein_normed",
            Test::JensenShannon => "jensen_shannon",
        })
    }
}

impl Test {
    /// Evidently's choice for a feature of `kind` with `distinct` reference values over
    /// `reference_rows` rows.
    pub fn choose(kind: Kind, distinct: usize, reference_rows: usize) -> Test {
        let categorical = kind == Kind::Categorical || distinct <= FEW_VALUES;
        match (reference_rows <= SMALL_REFERENCE, categorical) {
            (true, false) => Test::Ks,
            (true, true) => Test::ChiSquare,
            (false, false) => Test::WassersteinNormed,
            (false, true) => Test::JensenShannon,
        }
    }

    /// Is a p-value (drift below the threshold) rather than a distance (drift at or above)?
    pub fn is_p_value(self) -> bool {
        matches!(self, Test::Ks | Test::ChiSquare)
    }

    pub fn threshold(self, t: &Thresholds) -> f64 {
        match self {
            Test::Ks => t.ks_p_value,
            Test::ChiSquare => t.chi2_p_value,
            Test::WassersteinNormed => t.wasserstein,
            Test::JensenShannon => t.jensen_shannon,
        }
    }

    pub fn drifted(self, value: f64, t: &Thresholds) -> bool {
        let th = self.threshold(t);
        if self.is_p_value() {
            value < th
        } else {
            value >= th
        }
    }
}

/// A histogram for the report's overlays: shares of each sample per bin or category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Bin labels: `[lo, hi)` ranges for numeric features, the categories otherwise.
    pub bins: Vec<String>,
    pub reference: Vec<f64>,
    pub current: Vec<f64>,
}

/// The drift of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDrift {
    pub name: String,
    pub kind: Kind,
    pub test: Test,
    /// The deciding test's value (a p-value or a distance) and its threshold.
    #[serde(deserialize_with = "lenient::f64")]
    pub value: f64,
    pub threshold: f64,
    pub drifted: bool,
    /// Every statistic computed for this feature (`ks_statistic`, `ks_p_value`,
    /// `wasserstein`, `wasserstein_normed`, `psi`; or `chi2`, `chi2_p_value`,
    /// `jensen_shannon`, `psi`).
    #[serde(deserialize_with = "lenient::map")]
    pub statistics: BTreeMap<String, f64>,
    /// PSI at or above the stack's `psi` threshold (reported; the deciding test is `test`).
    pub psi_exceeded: bool,
    /// Categories seen in the window but never in the training data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub new_categories: Vec<String>,
    pub reference_count: usize,
    pub current_count: usize,
    /// Share of the window's instances without this feature.
    pub current_missing_share: f64,
    pub histogram: Histogram,
}

/// Share of drifting features, and whether that makes the dataset drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetDrift {
    pub drifted_features: Vec<String>,
    pub features: usize,
    #[serde(deserialize_with = "lenient::f64")]
    pub share: f64,
    pub threshold: f64,
    pub drifted: bool,
    /// At least [`MIN_CURRENT`] instances in the window: below that nothing is called drift.
    #[serde(default = "yes")]
    pub judged: bool,
}

fn yes() -> bool {
    true
}

/// The predicted classes of the window against the training labels' classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionDrift {
    pub test: Test,
    #[serde(deserialize_with = "lenient::f64")]
    pub value: f64,
    pub threshold: f64,
    pub drifted: bool,
    #[serde(deserialize_with = "lenient::f64")]
    pub jensen_shannon: f64,
    pub histogram: Histogram,
}

/// How F1 is computed: of the declared positive class for a binary task, else the unweighted
/// mean over the classes (macro F1, as scikit-learn's `f1_score(average="macro")`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "average")]
pub enum F1Average {
    Binary { positive: String },
    Macro { classes: usize },
}

impl std::fmt::Display for F1Average {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            F1Average::Binary { positive } => write!(f, "of the positive class `{positive}`"),
            F1Average::Macro { classes } => write!(f, "macro average over {classes} classes"),
        }
    }
}

/// Quality from feedback: predictions whose true label came back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Performance {
    pub labelled: usize,
    pub accuracy: Option<f64>,
    pub f1: Option<f64>,
    /// What `f1` is (absent in reports written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub f1_average: Option<F1Average>,
    pub min_accuracy: f64,
    pub min_f1: f64,
    /// Fewer than [`MIN_FEEDBACK`] labelled predictions: not judged.
    pub judged: bool,
    pub accuracy_violated: bool,
    pub f1_violated: bool,
    /// A regression's quality from feedback (its `accuracy` and `f1` are absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regression: Option<RegressionPerformance>,
}

/// A regression's quality from feedback: the errors of the predicted values that came back
/// with their true value, and how many of those fell inside their interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionPerformance {
    pub rmse: Option<f64>,
    pub mae: Option<f64>,
    /// The share of true values inside their interval (absent for a model without one).
    pub coverage: Option<f64>,
    /// The level the interval promises.
    pub level: Option<f64>,
    pub max_rmse: f64,
    pub max_mae: f64,
    pub min_coverage: f64,
    pub rmse_violated: bool,
    pub mae_violated: bool,
    pub coverage_violated: bool,
}

/// What the monitor decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Every threshold crossed, e.g. `drift:chol`, `dataset_drift`, `accuracy`.
    pub violations: Vec<String>,
    pub alert: bool,
    /// The policy's reasons to retrain that hold (`drift`, `accuracy`).
    pub retrain_reasons: Vec<String>,
    pub retrain: bool,
    /// Retraining wanted but the last one was less than `cooldown_hours` ago.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_until: Option<String>,
    /// Retraining wanted but skipped, and why (no data arrived since the Production model's);
    /// the cooldown does not start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrain_skipped: Option<String>,
}

/// One monitoring run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub generated_at: String,
    pub model: String,
    /// The Production version the window's traffic was served by (the most frequent one).
    pub version: Option<u64>,
    pub window_days: u32,
    pub reference_rows: usize,
    pub current_rows: usize,
    pub requests: usize,
    pub features: Vec<FeatureDrift>,
    pub dataset: DatasetDrift,
    pub prediction: Option<PredictionDrift>,
    pub performance: Performance,
    pub decision: Decision,
}

impl Report {
    /// What crossed a threshold, a line each, with numbers people can read (`2.64e-31`, not a
    /// hundred digits).
    pub fn alert_details(&self) -> Vec<String> {
        let p = &self.performance;
        self.features
            .iter()
            .filter(|f| f.drifted)
            .map(|f| {
                format!(
                    "{}: {} {} (threshold {})",
                    f.name,
                    f.test,
                    short_num(f.value),
                    short_num(f.threshold)
                )
            })
            .chain(p.accuracy_violated.then(|| {
                format!(
                    "accuracy {} < {}",
                    short_num(p.accuracy.unwrap_or(f64::NAN)),
                    short_num(p.min_accuracy)
                )
            }))
            .chain(p.f1_violated.then(|| {
                format!(
                    "f1 {} < {}",
                    short_num(p.f1.unwrap_or(f64::NAN)),
                    short_num(p.min_f1)
                )
            }))
            .collect()
    }
}

/// A logged prediction (the `predictions/` JSON lines written by `serve` and `predict`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Logged {
    pub request_id: String,
    /// When it was answered (seconds since the epoch; absent in logs written before it was).
    #[serde(default)]
    pub at: Option<u64>,
    #[serde(default)]
    pub version: u64,
    pub instances: Vec<Value>,
    /// The predicted labels as answered (class values such as `1` or class names such as
    /// `"low"`).
    pub labels: Vec<Value>,
    /// Each instance's class probabilities (absent in logs written before they were kept).
    #[serde(default)]
    pub probabilities: Vec<Vec<f64>>,
}

/// The reference side: the rows the Production model was trained on and their labels.
pub struct Reference<'a> {
    pub frame: &'a Frame,
    /// The class names of the training labels (e.g. `"0"` and `"1"`, or `"low"`).
    pub labels: Vec<String>,
    /// Every class of the model, in its order.
    pub classes: Vec<String>,
    /// The positive class of a binary task (`None`: F1 is the macro average).
    pub positive: Option<String>,
    /// A regression's: the training targets (what its predicted values are compared with) and
    /// its interval.
    pub regression: Option<RegressionReference>,
}

/// What a regression's monitoring compares with.
pub struct RegressionReference {
    pub values: Vec<f64>,
    pub interval: Option<crate::metrics::Interval>,
}

/// A label (predicted, or sent as feedback) as the class name it denotes: `1`, `"1"` and `1.0`
/// are the class `"1"`.
pub fn class_of(v: &Value) -> Option<String> {
    category_of(v)
}

fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn category_of(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Number(n) => n.as_f64().map(fmt_num),
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.parse::<f64>().map(fmt_num).unwrap_or_else(|_| s.clone())),
        Value::Bool(b) => Some(b.to_string()),
        other => Some(other.to_string()),
    }
}

fn counts(values: impl Iterator<Item = String>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for v in values {
        *m.entry(v).or_insert(0) += 1;
    }
    m
}

/// Categories sorted numerically when they are numbers.
fn category_order(keys: &BTreeSet<String>) -> Vec<String> {
    let mut v: Vec<String> = keys.iter().cloned().collect();
    v.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    });
    v
}

fn categorical(
    name: &str,
    kind: Kind,
    reference: &[String],
    current: &[String],
    missing_share: f64,
    t: &Thresholds,
) -> FeatureDrift {
    let (rc, cc) = (
        counts(reference.iter().cloned()),
        counts(current.iter().cloned()),
    );
    let keys: BTreeSet<String> = rc.keys().chain(cc.keys()).cloned().collect();
    let order = category_order(&keys);
    let r: Vec<f64> = order
        .iter()
        .map(|k| *rc.get(k).unwrap_or(&0) as f64)
        .collect();
    let c: Vec<f64> = order
        .iter()
        .map(|k| *cc.get(k).unwrap_or(&0) as f64)
        .collect();
    let (nr, nc) = (reference.len() as f64, current.len() as f64);
    let expected: Vec<f64> = r.iter().map(|x| x * nc / nr).collect();
    let (chi2, chi2_p) = drift::chi_square(&c, &expected);
    let js = drift::jensen_shannon(&r, &c);
    let share = |x: &[f64], n: f64| -> Vec<f64> { x.iter().map(|v| v / n).collect() };
    let (rs, cs) = (share(&r, nr), share(&c, nc));
    let floor = |x: &[f64]| -> Vec<f64> {
        x.iter()
            .map(|v| if *v == 0.0 { 0.0001 } else { *v })
            .collect()
    };
    let psi = drift::psi_of_shares(&floor(&rs), &floor(&cs));
    let test = Test::choose(Kind::Categorical, rc.len(), reference.len());
    let value = if test.is_p_value() { chi2_p } else { js };
    let mut statistics = BTreeMap::from([
        ("chi2".to_string(), chi2),
        ("chi2_p_value".to_string(), chi2_p),
        ("jensen_shannon".to_string(), js),
        ("psi".to_string(), psi),
    ]);
    statistics.retain(|_, v| v.is_finite() || *v == f64::INFINITY);
    FeatureDrift {
        name: name.to_string(),
        kind,
        test,
        value,
        threshold: test.threshold(t),
        drifted: test.drifted(value, t),
        statistics,
        psi_exceeded: psi >= t.psi,
        new_categories: order
            .iter()
            .filter(|k| !rc.contains_key(*k))
            .cloned()
            .collect(),
        reference_count: reference.len(),
        current_count: current.len(),
        current_missing_share: missing_share,
        histogram: Histogram {
            bins: order,
            reference: rs,
            current: cs,
        },
    }
}

fn numeric(
    name: &str,
    reference: &[f64],
    current: &[f64],
    missing_share: f64,
    t: &Thresholds,
) -> FeatureDrift {
    let s = drift::numeric(reference, current, PSI_BINS);
    let test = Test::choose(Kind::Numeric, usize::MAX, reference.len());
    let value = if test.is_p_value() {
        s.ks_p_value
    } else {
        s.wasserstein_normed
    };
    let lo = reference
        .iter()
        .chain(current)
        .copied()
        .fold(f64::INFINITY, f64::min);
    let hi = reference
        .iter()
        .chain(current)
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let bins = 20;
    let width = if hi > lo {
        (hi - lo) / bins as f64
    } else {
        1.0
    };
    let hist = |x: &[f64]| -> Vec<f64> {
        let mut h = vec![0.0; bins];
        for v in x {
            let i = (((v - lo) / width).floor().max(0.0) as usize).min(bins - 1);
            h[i] += 1.0;
        }
        h.iter().map(|c| c / x.len().max(1) as f64).collect()
    };
    FeatureDrift {
        name: name.to_string(),
        kind: Kind::Numeric,
        test,
        value,
        threshold: test.threshold(t),
        drifted: value.is_finite() && test.drifted(value, t),
        statistics: BTreeMap::from([
            ("ks_statistic".to_string(), s.ks_statistic),
            ("ks_p_value".to_string(), s.ks_p_value),
            ("wasserstein".to_string(), s.wasserstein),
            ("wasserstein_normed".to_string(), s.wasserstein_normed),
            ("psi".to_string(), s.psi),
        ]),
        psi_exceeded: s.psi >= t.psi,
        new_categories: vec![],
        reference_count: reference.len(),
        current_count: current.len(),
        current_missing_share: missing_share,
        histogram: Histogram {
            bins: (0..bins)
                .map(|i| short_num(lo + width * i as f64))
                .collect(),
            reference: hist(reference),
            current: hist(current),
        },
    }
}

/// Drift of each reference feature between the reference rows and the window's instances.
pub fn feature_drift(reference: &Frame, current: &[&Value], t: &Thresholds) -> Vec<FeatureDrift> {
    let n = current.len().max(1) as f64;
    reference
        .columns
        .iter()
        .map(|col| {
            let raw: Vec<Option<&Value>> = current
                .iter()
                .map(|inst| inst.get(&col.name).filter(|v| !v.is_null()))
                .collect();
            let missing = raw.iter().filter(|v| v.is_none()).count() as f64 / n;
            let distinct = match &col.values {
                Values::Number(v) => {
                    let mut s: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
                    s.sort_by(f64::total_cmp);
                    s.dedup();
                    s.len()
                }
                Values::Text(_) => 0,
            };
            match (&col.values, col.kind) {
                (Values::Number(v), Kind::Numeric) if distinct > FEW_VALUES => {
                    let r: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
                    let c: Vec<f64> = raw.iter().flatten().filter_map(|v| number_of(v)).collect();
                    numeric(&col.name, &r, &c, missing, t)
                }
                _ => {
                    let r: Vec<String> = (0..col.values.len())
                        .filter_map(|i| col.values.cell(i))
                        .collect();
                    let c: Vec<String> = raw
                        .iter()
                        .flatten()
                        .filter_map(|v| category_of(v))
                        .collect();
                    categorical(&col.name, col.kind, &r, &c, missing, t)
                }
            }
        })
        .collect()
}

/// Accuracy and F1 of the labelled single-instance predictions (classes by name). F1 is the
/// positive class's for a binary task with a declared positive class, else the macro average over
/// the model's classes.
pub fn performance(
    logs: &[Logged],
    feedback: &BTreeMap<String, String>,
    reference: &Reference<'_>,
    p: &Policy,
) -> Performance {
    if let Some(r) = &reference.regression {
        return regression_performance(logs, feedback, r, p);
    }
    let pairs: Vec<(String, &String)> = logs
        .iter()
        .filter(|l| l.labels.len() == 1)
        .filter_map(|l| Some((class_of(&l.labels[0])?, feedback.get(&l.request_id)?)))
        .collect();
    let n = pairs.len();
    let correct = pairs.iter().filter(|(p, t)| p == *t).count();
    let f1_of = |class: &str| {
        let tp = pairs
            .iter()
            .filter(|(p, t)| p == class && *t == class)
            .count() as f64;
        let fp = pairs
            .iter()
            .filter(|(p, t)| p == class && *t != class)
            .count() as f64;
        let fneg = pairs
            .iter()
            .filter(|(p, t)| p != class && *t == class)
            .count() as f64;
        if tp == 0.0 {
            0.0
        } else {
            2.0 * tp / (2.0 * tp + fp + fneg)
        }
    };
    let average = match &reference.positive {
        Some(positive) if reference.classes.len() <= 2 => F1Average::Binary {
            positive: positive.clone(),
        },
        _ => F1Average::Macro {
            classes: reference.classes.len(),
        },
    };
    let accuracy = (n > 0).then(|| correct as f64 / n as f64);
    let f1 = (n > 0).then(|| match &average {
        F1Average::Binary { positive } => f1_of(positive),
        F1Average::Macro { .. } => {
            // Over the classes predicted or named by feedback, as scikit-learn averages over
            // the labels present.
            let classes: BTreeSet<&str> = pairs
                .iter()
                .flat_map(|(p, t)| [p.as_str(), t.as_str()])
                .collect();
            classes.iter().map(|c| f1_of(c)).sum::<f64>() / classes.len().max(1) as f64
        }
    });
    let judged = n >= MIN_FEEDBACK;
    Performance {
        labelled: n,
        accuracy,
        f1,
        f1_average: Some(average),
        min_accuracy: p.min_accuracy,
        min_f1: p.min_f1,
        judged,
        accuracy_violated: judged && accuracy.is_some_and(|a| a < p.min_accuracy),
        f1_violated: judged && f1.is_some_and(|f| f < p.min_f1),
        regression: None,
    }
}

/// Everything one monitoring run computes. `last_retrain` (RFC 3339) and `now` (seconds since
/// the epoch) decide the cooldown.
pub fn check(
    model: &str,
    reference: &Reference<'_>,
    logs: &[Logged],
    feedback: &BTreeMap<String, String>,
    policy: &Policy,
    last_retrain: Option<u64>,
    now: u64,
) -> Report {
    let t = &policy.drift;
    let instances: Vec<&Value> = logs.iter().flat_map(|l| l.instances.iter()).collect();
    let judged = instances.len() >= MIN_CURRENT;
    let mut features = if instances.is_empty() {
        vec![]
    } else {
        feature_drift(reference.frame, &instances, t)
    };
    if !judged {
        features.iter_mut().for_each(|f| f.drifted = false);
    }
    let drifted: Vec<String> = features
        .iter()
        .filter(|f| f.drifted)
        .map(|f| f.name.clone())
        .collect();
    let share = if features.is_empty() {
        0.0
    } else {
        drifted.len() as f64 / features.len() as f64
    };
    let dataset = DatasetDrift {
        judged,
        drifted: judged && !features.is_empty() && share >= t.dataset_drift_share,
        drifted_features: drifted,
        features: features.len(),
        share,
        threshold: t.dataset_drift_share,
    };
    let predicted: Vec<String> = logs
        .iter()
        .flat_map(|l| l.labels.iter().filter_map(class_of))
        .collect();
    let prediction = if let Some(r) = &reference.regression {
        value_drift(&r.values, logs, judged, t)
    } else {
        class_drift(reference, &predicted, judged, t)
    };
    let performance = performance(logs, feedback, reference, policy);
    decide(
        model,
        reference,
        logs,
        instances.len(),
        features,
        dataset,
        prediction,
        performance,
        policy,
        last_retrain,
        now,
    )
}

/// A regression's quality from feedback: RMSE, MAE and the interval's coverage over the
/// predictions whose true value came back.
fn regression_performance(
    logs: &[Logged],
    feedback: &BTreeMap<String, String>,
    r: &RegressionReference,
    p: &Policy,
) -> Performance {
    let pairs: Vec<(f64, f64)> = logs
        .iter()
        .filter(|l| l.labels.len() == 1)
        .filter_map(|l| {
            let predicted = number_of(&l.labels[0])?;
            let truth: f64 = feedback.get(&l.request_id)?.trim().parse().ok()?;
            (predicted.is_finite() && truth.is_finite()).then_some((predicted, truth))
        })
        .collect();
    let n = pairs.len();
    let judged = n >= MIN_FEEDBACK;
    let (truth, predicted): (Vec<f64>, Vec<f64>) = pairs.iter().map(|(p, t)| (*t, *p)).unzip();
    let e = crate::metrics::RegressionEvaluation::of(&truth, &predicted);
    let coverage = r.interval.as_ref().filter(|_| n > 0).map(|i| {
        pairs
            .iter()
            .filter(|(p, t)| (t - p).abs() <= i.half_width)
            .count() as f64
            / n as f64
    });
    let (rmse, mae) = if n > 0 {
        (Some(e.rmse), Some(e.mae))
    } else {
        (None, None)
    };
    let over = |v: Option<f64>, max: f64| judged && max > 0.0 && v.is_some_and(|v| v > max);
    Performance {
        labelled: n,
        accuracy: None,
        f1: None,
        f1_average: None,
        min_accuracy: p.min_accuracy,
        min_f1: p.min_f1,
        judged,
        accuracy_violated: false,
        f1_violated: false,
        regression: Some(RegressionPerformance {
            rmse,
            mae,
            coverage,
            level: r.interval.as_ref().map(|i| i.level),
            max_rmse: p.max_rmse,
            max_mae: p.max_mae,
            min_coverage: p.min_coverage,
            rmse_violated: over(rmse, p.max_rmse),
            mae_violated: over(mae, p.max_mae),
            coverage_violated: judged
                && p.min_coverage > 0.0
                && coverage.is_some_and(|c| c < p.min_coverage),
        }),
    }
}

/// The drift of a regression's predicted values from its training targets: the numeric test
/// the features use (KS for many values).
fn value_drift(
    reference: &[f64],
    logs: &[Logged],
    judged: bool,
    t: &Thresholds,
) -> Option<PredictionDrift> {
    let current: Vec<f64> = logs
        .iter()
        .flat_map(|l| l.labels.iter().filter_map(number_of))
        .collect();
    if current.is_empty() || reference.is_empty() {
        return None;
    }
    let f = numeric("prediction", reference, &current, 0.0, t);
    Some(PredictionDrift::of(f, judged))
}

impl PredictionDrift {
    /// The prediction's drift as its test found it (drifted only when the window is judged).
    fn of(f: FeatureDrift, judged: bool) -> PredictionDrift {
        PredictionDrift {
            test: f.test,
            value: f.value,
            threshold: f.threshold,
            drifted: judged && f.drifted,
            jensen_shannon: f
                .statistics
                .get("jensen_shannon")
                .copied()
                .unwrap_or(f64::NAN),
            histogram: f.histogram,
        }
    }
}

/// The drift of the predicted classes from the training labels' classes.
fn class_drift(
    reference: &Reference<'_>,
    predicted: &[String],
    judged: bool,
    t: &Thresholds,
) -> Option<PredictionDrift> {
    (!predicted.is_empty() && !reference.labels.is_empty()).then(|| {
        let f = categorical(
            "prediction",
            Kind::Categorical,
            &reference.labels,
            predicted,
            0.0,
            t,
        );
        PredictionDrift::of(f, judged)
    })
}

/// The violations, the decision and the report.
#[allow(clippy::too_many_arguments)]
fn decide(
    model: &str,
    reference: &Reference<'_>,
    logs: &[Logged],
    current_rows: usize,
    features: Vec<FeatureDrift>,
    dataset: DatasetDrift,
    prediction: Option<PredictionDrift>,
    performance: Performance,
    policy: &Policy,
    last_retrain: Option<u64>,
    now: u64,
) -> Report {
    let mut violations: Vec<String> = dataset
        .drifted_features
        .iter()
        .map(|f| format!("drift:{f}"))
        .collect();
    if dataset.drifted {
        violations.push("dataset_drift".into());
    }
    if prediction.as_ref().is_some_and(|p| p.drifted) {
        violations.push("prediction_drift".into());
    }
    if performance.accuracy_violated {
        violations.push("accuracy".into());
    }
    if performance.f1_violated {
        violations.push("f1".into());
    }
    let regression_violated = performance.regression.as_ref().is_some_and(|r| {
        for (hit, name) in [
            (r.rmse_violated, "rmse"),
            (r.mae_violated, "mae"),
            (r.coverage_violated, "coverage"),
        ] {
            if hit {
                violations.push(name.into());
            }
        }
        r.rmse_violated || r.mae_violated || r.coverage_violated
    });
    let wants = |r: &str| policy.retrain_on.iter().any(|x| x == r);
    let mut retrain_reasons = vec![];
    if wants("drift") && dataset.drifted {
        retrain_reasons.push("drift".to_string());
    }
    if wants("accuracy")
        && (performance.accuracy_violated || performance.f1_violated || regression_violated)
    {
        retrain_reasons.push("accuracy".to_string());
    }
    let until = last_retrain.map(|t| t + u64::from(policy.cooldown_hours) * 3600);
    let cooling = until.is_some_and(|u| now < u);
    let decision = Decision {
        alert: !violations.is_empty(),
        violations,
        retrain: !retrain_reasons.is_empty() && !cooling,
        cooldown_until: (cooling && !retrain_reasons.is_empty())
            .then(|| crate::clock::rfc3339(until.unwrap_or(now))),
        retrain_reasons,
        retrain_skipped: None,
    };
    let mut versions: BTreeMap<u64, usize> = BTreeMap::new();
    for l in logs {
        *versions.entry(l.version).or_default() += 1;
    }
    Report {
        generated_at: crate::clock::rfc3339(now),
        model: model.to_string(),
        version: versions.iter().max_by_key(|(_, n)| **n).map(|(v, _)| *v),
        window_days: policy.window_days,
        reference_rows: reference.frame.rows,
        current_rows,
        requests: logs.len(),
        features,
        dataset,
        prediction,
        performance,
        decision,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Column;
    use serde_json::json;

    fn policy() -> Policy {
        Policy {
            window_days: 7,
            drift: Thresholds {
                psi: 0.2,
                ks_p_value: 0.05,
                wasserstein: 0.1,
                jensen_shannon: 0.1,
                chi2_p_value: 0.05,
                dataset_drift_share: 0.5,
            },
            min_accuracy: 0.75,
            min_f1: 0.7,
            max_rmse: 0.0,
            max_mae: 0.0,
            min_coverage: 0.0,
            retrain_on: vec!["drift".into(), "accuracy".into()],
            cooldown_hours: 24,
        }
    }

    /// 400 rows: `x` numeric 0..400, `c` categorical a/b.
    fn frame() -> Frame {
        Frame {
            columns: vec![
                Column {
                    name: "x".into(),
                    kind: Kind::Numeric,
                    values: Values::Number((0..400).map(f64::from).collect()),
                },
                Column {
                    name: "c".into(),
                    kind: Kind::Categorical,
                    values: Values::Text(
                        (0..400)
                            .map(|i| Some(if i % 2 == 0 { "a" } else { "b" }.to_string()))
                            .collect(),
                    ),
                },
            ],
            rows: 400,
        }
    }

    fn binary<'a>(f: &'a Frame, labels: Vec<&str>) -> Reference<'a> {
        Reference {
            frame: f,
            labels: labels.into_iter().map(String::from).collect(),
            classes: vec!["0".into(), "1".into()],
            positive: Some("1".into()),
            regression: None,
        }
    }

    fn truth(ids: std::ops::Range<usize>, label: &str) -> BTreeMap<String, String> {
        ids.map(|i| (format!("r{i}"), label.to_string())).collect()
    }

    fn logs(shift: f64, label: i64) -> Vec<Logged> {
        (0..400)
            .map(|i| Logged {
                request_id: format!("r{i}"),
                at: None,
                version: 1,
                instances: vec![
                    json!({"x": f64::from(i) + shift, "c": if i % 2 == 0 { "a" } else { "b" }}),
                ],
                labels: vec![json!(label)],
                probabilities: Vec::new(),
            })
            .collect()
    }

    /// A regression's monitoring: its predicted values against the training targets, and the
    /// feedback's RMSE, MAE and interval coverage against the stack's limits.
    #[test]
    #[allow(clippy::unwrap_used)]
    fn a_regressions_values_drift_and_its_feedback_errors_cross_their_limits() {
        let f = frame();
        let reference = |values: Vec<f64>| Reference {
            frame: &f,
            labels: Vec::new(),
            classes: Vec::new(),
            positive: None,
            regression: Some(RegressionReference {
                values,
                interval: Some(crate::metrics::Interval {
                    level: 0.9,
                    half_width: 2.0,
                    calibration_rows: 100,
                    coverage: 0.9,
                    checked_rows: 100,
                }),
            }),
        };
        let r = reference((0..400).map(|i| f64::from(i % 40)).collect());
        // Requests predicting 0..40 again; the truth 1 above for most, 5 above for every fifth.
        let mut logs = logs(0.0, 0);
        for (i, l) in logs.iter_mut().enumerate() {
            l.labels = vec![json!((i % 40) as f64)];
        }
        let truth: BTreeMap<String, String> = (0..400)
            .map(|i| {
                let off = if i % 5 == 0 { 5.0 } else { 1.0 };
                (format!("r{i}"), ((i % 40) as f64 + off).to_string())
            })
            .collect();
        let mut p = policy();
        p.max_rmse = 2.0;
        p.max_mae = 3.0;
        p.min_coverage = 0.85;
        let report = check("m", &r, &logs, &truth, &p, None, 1_000_000);
        let q = report.performance.regression.clone().unwrap();
        // RMSE sqrt((0.8·1 + 0.2·25)) = sqrt(5.8); MAE 0.8 + 1 = 1.8; 80% within 2.
        assert!((q.rmse.unwrap() - 5.8f64.sqrt()).abs() < 1e-12, "{q:?}");
        assert!((q.mae.unwrap() - 1.8).abs() < 1e-12, "{q:?}");
        assert!((q.coverage.unwrap() - 0.8).abs() < 1e-12, "{q:?}");
        assert!(
            q.rmse_violated && !q.mae_violated && q.coverage_violated,
            "{q:?}"
        );
        assert_eq!(report.performance.labelled, 400);
        assert!(report.decision.violations.contains(&"rmse".to_string()));
        assert!(report.decision.violations.contains(&"coverage".to_string()));
        assert_eq!(report.decision.retrain_reasons, vec!["accuracy"]);
        let pred = report.prediction.clone().unwrap();
        assert_eq!(pred.test, Test::Ks);
        assert!(!pred.drifted, "{pred:?}");
        // Values far above the training targets drift.
        for l in &mut logs {
            l.labels = vec![json!(l.labels[0].as_f64().unwrap() + 100.0)];
        }
        let moved = check("m", &r, &logs, &BTreeMap::new(), &p, None, 1_000_000);
        assert!(moved.prediction.unwrap().drifted);
        assert!(
            moved
                .decision
                .violations
                .contains(&"prediction_drift".to_string())
        );
        assert_eq!(moved.performance.labelled, 0);
    }

    #[test]
    fn a_shift_drifts_and_retrains_once_per_cooldown() {
        let f = frame();
        let r = binary(&f, [vec!["0"; 200], vec!["1"; 200]].concat());
        let same = check(
            "m",
            &r,
            &logs(0.0, 1),
            &BTreeMap::new(),
            &policy(),
            None,
            1_000_000,
        );
        assert!(!same.dataset.drifted);
        assert!(same.features.iter().all(|x| !x.drifted));
        assert_eq!(same.features[0].test, Test::Ks);
        assert_eq!(same.features[1].test, Test::ChiSquare);

        let moved = logs(200.0, 1);
        let now = 2_000_000;
        let d = check("m", &r, &moved, &BTreeMap::new(), &policy(), None, now);
        assert_eq!(d.dataset.drifted_features, vec!["x"]);
        assert!(d.dataset.drifted, "1 of 2 features is a share of 0.5");
        assert!(d.decision.retrain);
        let soon = check(
            "m",
            &r,
            &moved,
            &BTreeMap::new(),
            &policy(),
            Some(now),
            now + 3600,
        );
        assert!(!soon.decision.retrain);
        assert!(soon.decision.alert);
        assert_eq!(
            soon.decision.cooldown_until.as_deref(),
            Some(crate::clock::rfc3339(now + 24 * 3600).as_str())
        );
        let later = check(
            "m",
            &r,
            &moved,
            &BTreeMap::new(),
            &policy(),
            Some(now),
            now + 24 * 3600,
        );
        assert!(later.decision.retrain);
    }

    #[test]
    fn wrong_predictions_violate_accuracy_from_30_labelled_on() {
        let f = frame();
        let r = binary(&f, vec!["0", "1"]);
        let all_wrong = truth(0..29, "0");
        let few = check("m", &r, &logs(0.0, 1), &all_wrong, &policy(), None, 0);
        assert!(!few.performance.judged && !few.decision.retrain);
        let all_wrong = truth(0..30, "0");
        let many = check("m", &r, &logs(0.0, 1), &all_wrong, &policy(), None, 0);
        assert_eq!(many.performance.accuracy, Some(0.0));
        assert!(many.performance.accuracy_violated);
        assert_eq!(many.decision.retrain_reasons, vec!["accuracy"]);
    }

    /// Predicted and true classes by request id `r0`, `r1`, ...
    fn labelled(pairs: &[(&str, &str)]) -> (Vec<Logged>, BTreeMap<String, String>) {
        let logs = pairs
            .iter()
            .enumerate()
            .map(|(i, (p, _))| Logged {
                request_id: format!("r{i}"),
                at: None,
                version: 1,
                instances: vec![json!({"x": 1.0})],
                labels: vec![json!(p)],
                probabilities: Vec::new(),
            })
            .collect();
        let fb = pairs
            .iter()
            .enumerate()
            .map(|(i, (_, t))| (format!("r{i}"), t.to_string()))
            .collect();
        (logs, fb)
    }

    #[test]
    fn multiclass_f1_is_the_macro_average() {
        let f = frame();
        let r = Reference {
            frame: &f,
            labels: vec!["a".into(), "b".into(), "c".into()],
            classes: vec!["a".into(), "b".into(), "c".into()],
            positive: None,
            regression: None,
        };
        // As sklearn.metrics.f1_score(y_true, y_pred, average="macro") computes it.
        let (logs, fb) = labelled(&[("a", "a"), ("a", "a"), ("a", "b"), ("b", "b"), ("c", "a")]);
        let p = performance(&logs, &fb, &r, &policy());
        assert_eq!(p.accuracy, Some(0.6));
        // a: tp 2, fp 1, fn 1 (the `c`-predicted `a`) -> 4/6; b: tp 1, fp 0, fn 1 -> 2/3;
        // c: tp 0 -> 0.
        let expected = (4.0 / 6.0 + 2.0 / 3.0 + 0.0) / 3.0;
        assert!((p.f1.expect("f1") - expected).abs() < 1e-12, "{:?}", p.f1);
        assert_eq!(p.f1_average, Some(F1Average::Macro { classes: 3 }));
    }

    #[test]
    fn binary_f1_is_the_declared_positive_class_and_text_labels_match() {
        let f = frame();
        let r = Reference {
            frame: &f,
            labels: vec!["high".into(), "low".into()],
            classes: vec!["high".into(), "low".into()],
            positive: Some("high".into()),
            regression: None,
        };
        // `low` sorts last, but `high` is positive: tp 1, fp 1, fn 1 -> 0.5.
        let (logs, fb) = labelled(&[
            ("high", "high"),
            ("high", "low"),
            ("low", "high"),
            ("low", "low"),
        ]);
        let p = performance(&logs, &fb, &r, &policy());
        assert_eq!((p.labelled, p.accuracy), (4, Some(0.5)));
        assert_eq!(p.f1, Some(0.5));
        let numeric = binary(&f, vec!["0", "1"]);
        // `1`, `"1"` and `1.0` are the same class.
        let logs: Vec<Logged> = [json!(1), json!("1"), json!(1.0)]
            .into_iter()
            .enumerate()
            .map(|(i, l)| Logged {
                request_id: format!("r{i}"),
                at: None,
                version: 1,
                instances: vec![json!({"x": 1.0})],
                labels: vec![l],
                probabilities: Vec::new(),
            })
            .collect();
        let p = performance(&logs, &truth(0..3, "1"), &numeric, &policy());
        assert_eq!((p.labelled, p.accuracy, p.f1), (3, Some(1.0), Some(1.0)));
    }

    #[test]
    fn a_few_instances_are_reported_but_not_judged() {
        let f = frame();
        let r = binary(&f, vec!["0", "1"]);
        let few: Vec<Logged> = logs(200.0, 1).into_iter().take(MIN_CURRENT - 1).collect();
        let rep = check("m", &r, &few, &BTreeMap::new(), &policy(), None, 0);
        assert!(!rep.dataset.judged);
        assert!(rep.features.iter().all(|f| !f.drifted));
        assert!(
            rep.features[0].value < 0.05,
            "the statistic is still reported"
        );
        assert!(!rep.decision.alert && !rep.decision.retrain);
        let enough: Vec<Logged> = logs(200.0, 1).into_iter().take(MIN_CURRENT).collect();
        assert!(check("m", &r, &enough, &BTreeMap::new(), &policy(), None, 0).features[0].drifted);
    }

    #[test]
    fn alert_details_and_chart_axes_are_short_numbers() {
        let f = frame();
        let r = binary(&f, vec!["0", "1"]);
        let rep = check(
            "m",
            &r,
            &logs(200.0, 1),
            &BTreeMap::new(),
            &policy(),
            None,
            0,
        );
        let details = rep.alert_details();
        assert_eq!(details.len(), 1, "{details:?}");
        // The KS p-value of a shift this large is far below 1e-4: scientific, a few digits.
        let d = &details[0];
        assert!(
            d.starts_with("x: ks ") && d.contains("e-") && d.ends_with("(threshold 0.05)"),
            "{d}"
        );
        assert!(d.len() < 40, "{d}");
        for bin in &rep.features[0].histogram.bins {
            assert!(bin.len() <= 8, "axis label `{bin}`");
        }
    }

    #[test]
    fn large_references_use_distances() {
        assert_eq!(
            Test::choose(Kind::Numeric, 50, 1001),
            Test::WassersteinNormed
        );
        assert_eq!(
            Test::choose(Kind::Categorical, 3, 1001),
            Test::JensenShannon
        );
        assert_eq!(Test::choose(Kind::Numeric, 5, 10), Test::ChiSquare);
    }

    #[test]
    fn metrics_are_embedded_metric_format_and_prometheus_text() {
        let f = frame();
        let r = binary(&f, vec!["0", "1"]);
        let rep = check(
            "m",
            &r,
            &logs(200.0, 1),
            &BTreeMap::new(),
            &policy(),
            None,
            0,
        );
        let lines = export::emf_lines("heart-disease", &rep, 1000);
        assert_eq!(lines.len(), 3);
        let first: serde_json::Value = serde_json::from_str(&lines[0]).expect("json");
        assert_eq!(
            first["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "mlinfra"
        );
        assert_eq!(
            first["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Stack"]])
        );
        assert_eq!(first["DatasetDriftShare"], 0.5);
        assert_eq!(first["Stack"], "heart-disease");
        assert!(
            first.get("Accuracy").is_none(),
            "no feedback: no accuracy sent as 0"
        );
        let x: serde_json::Value = serde_json::from_str(&lines[1]).expect("json");
        assert_eq!(x["Feature"], "x");
        assert_eq!(x["FeatureDrifted"], 1.0);
        let text = export::prometheus(&rep, 7);
        assert!(
            text.contains("mlinfra_feature_drift{feature=\"x\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("mlinfra_dataset_drift 1\n"));
    }
}
