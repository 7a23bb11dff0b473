//! Evaluator: classification and regression metrics, comparison with a baseline, and the
//! blessing decision.
//!
//! Definitions follow scikit-learn so numbers can be compared: precision/recall/F1 with
//! `zero_division=0`; ROC AUC exact with tied scores averaged (binary) and one-vs-rest macro
//! (multiclass); log loss with probabilities clipped to `[1e-15, 1 - 1e-15]`; Brier score as
//! the mean squared error of the positive class probability (binary) or the mean over rows of
//! the summed squared error over classes (multiclass); expected calibration error over 10
//! equal-width bins of the top-class confidence.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub rows: usize,
    pub accuracy: f64,
    pub balanced_accuracy: f64,
    pub precision: Vec<f64>,
    pub recall: Vec<f64>,
    pub f1: Vec<f64>,
    pub macro_precision: f64,
    pub macro_recall: f64,
    pub macro_f1: f64,
    /// Binary: the positive class's F1. Multiclass: macro F1.
    pub f1_score: f64,
    pub roc_auc: f64,
    pub log_loss: f64,
    pub brier: f64,
    pub ece: f64,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
}

impl Evaluation {
    /// The value of `metric`.
    pub fn metric(&self, metric: Metric) -> f64 {
        match metric {
            Metric::RocAuc => self.roc_auc,
            Metric::Accuracy => self.accuracy,
            Metric::BalancedAccuracy => self.balanced_accuracy,
            Metric::F1 => self.f1_score,
            Metric::LogLoss => self.log_loss,
            // A regression's metrics are not defined on classes.
            Metric::Rmse | Metric::Mae | Metric::R2 | Metric::Mape => f64::NAN,
        }
    }
}

/// A regression's metrics on labelled rows, as scikit-learn defines them: RMSE, MAE, R²
/// (`r2_score`: 1 - SS_res / SS_tot, 0 when the target is constant and the predictions differ,
/// 1 when they match it) and MAPE (`mean_absolute_percentage_error`: |y - ŷ| / max(|y|, ε), as a
/// fraction, ε the smallest positive `f64` step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionEvaluation {
    pub rows: usize,
    pub rmse: f64,
    pub mae: f64,
    pub r2: f64,
    pub mape: f64,
    /// The share of the rows whose true value is inside their prediction interval, when the
    /// model has one ([`Self::with_interval`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<f64>,
    /// The mean width of the rows' prediction intervals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_width: Option<f64>,
}

/// An evaluation of a classification or of a regression (stored as the one it is).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Evaluated {
    Classification(Evaluation),
    Regression(RegressionEvaluation),
}

impl Evaluated {
    /// The metrics a registered version records.
    pub fn metrics(&self) -> std::collections::BTreeMap<String, f64> {
        match self {
            Evaluated::Classification(e) => e.registered(),
            Evaluated::Regression(e) => {
                let mut m = std::collections::BTreeMap::from([
                    ("rmse".to_string(), e.rmse),
                    ("mae".to_string(), e.mae),
                    ("r2".to_string(), e.r2),
                    ("mape".to_string(), e.mape),
                ]);
                if let (Some(c), Some(w)) = (e.coverage, e.interval_width) {
                    m.insert("coverage".into(), c);
                    m.insert("interval_width".into(), w);
                }
                m
            }
        }
    }

    /// The value of `metric` (NaN for the other task's).
    pub fn metric(&self, metric: Metric) -> f64 {
        match self {
            Evaluated::Classification(e) => e.metric(metric),
            Evaluated::Regression(e) => e.metric(metric),
        }
    }

    /// The classification's evaluation (`None` for a regression's).
    pub fn classification(&self) -> Option<&Evaluation> {
        match self {
            Evaluated::Classification(e) => Some(e),
            Evaluated::Regression(_) => None,
        }
    }

    /// The regression's evaluation (`None` for a classification's).
    pub fn regression(&self) -> Option<&RegressionEvaluation> {
        match self {
            Evaluated::Regression(e) => Some(e),
            Evaluated::Classification(_) => None,
        }
    }

    /// The blessing of this evaluation against a baseline of the same task (a baseline of the
    /// other task is no baseline).
    pub fn bless(&self, policy: &Policy, baseline: Option<&Evaluated>) -> Blessing {
        match self {
            Evaluated::Classification(e) => {
                bless(policy, e, baseline.and_then(Evaluated::classification))
            }
            Evaluated::Regression(e) => {
                bless_regression(policy, e, baseline.and_then(Evaluated::regression))
            }
        }
    }

    /// One line of the main metrics, for people: `roc_auc 0.9123, accuracy 0.8500, f1 0.8400`
    /// or `rmse 12.3, mae 9.87, r2 0.812`.
    pub fn summary(&self) -> String {
        match self {
            Evaluated::Classification(e) => format!(
                "roc_auc {:.4}, accuracy {:.4}, f1 {:.4}",
                e.roc_auc, e.accuracy, e.f1_score
            ),
            Evaluated::Regression(e) => {
                let mut s = format!(
                    "rmse {}, mae {}, r2 {:.4}",
                    crate::data::short_num(e.rmse),
                    crate::data::short_num(e.mae),
                    e.r2
                );
                if let Some(c) = e.coverage {
                    s.push_str(&format!(", interval coverage {:.1}%", c * 100.0));
                }
                s
            }
        }
    }
}

impl Evaluation {
    /// The metrics a registered version records.
    pub fn registered(&self) -> std::collections::BTreeMap<String, f64> {
        std::collections::BTreeMap::from([
            ("roc_auc".to_string(), self.roc_auc),
            ("accuracy".to_string(), self.accuracy),
            ("balanced_accuracy".to_string(), self.balanced_accuracy),
            ("f1".to_string(), self.f1_score),
            ("log_loss".to_string(), self.log_loss),
        ])
    }
}

impl RegressionEvaluation {
    /// The metrics of `predicted` against the true values `y` (same length, finite).
    pub fn of(y: &[f64], predicted: &[f64]) -> RegressionEvaluation {
        let n = y.len();
        let nf = n.max(1) as f64;
        let (mut se, mut ae, mut ape) = (0.0, 0.0, 0.0);
        for (t, p) in y.iter().zip(predicted) {
            let d = t - p;
            se += d * d;
            ae += d.abs();
            ape += d.abs() / t.abs().max(f64::EPSILON);
        }
        let mean = y.iter().sum::<f64>() / nf;
        let total: f64 = y.iter().map(|t| (t - mean) * (t - mean)).sum();
        let r2 = if total > 0.0 {
            1.0 - se / total
        } else if se == 0.0 {
            1.0
        } else {
            0.0
        };
        RegressionEvaluation {
            rows: n,
            rmse: (se / nf).sqrt(),
            mae: ae / nf,
            r2,
            mape: ape / nf,
            coverage: None,
            interval_width: None,
        }
    }

    /// With the coverage and width of `interval`, checked on these same rows.
    pub fn with_interval(mut self, interval: &Interval) -> Self {
        self.coverage = Some(interval.coverage);
        self.interval_width = Some(2.0 * interval.half_width);
        self
    }

    /// The value of `metric` (NaN for a classification's).
    pub fn metric(&self, metric: Metric) -> f64 {
        match metric {
            Metric::Rmse => self.rmse,
            Metric::Mae => self.mae,
            Metric::R2 => self.r2,
            Metric::Mape => self.mape,
            _ => f64::NAN,
        }
    }
}

/// A split-conformal prediction interval of a regression: each value ± `half_width`, which
/// the model's absolute errors on calibration rows (held out from its training) give at the
/// coverage `level`; the coverage reached on other held-out rows, as a check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub level: f64,
    pub half_width: f64,
    pub calibration_rows: usize,
    /// The share of the checked rows whose true value falls in their interval.
    pub coverage: f64,
    pub checked_rows: usize,
}

impl Interval {
    /// The interval at `level` from the absolute errors of rows held out from the fits that
    /// predicted them (a search's out-of-fold errors: cross-conformal, every training row
    /// calibrates): the ⌈(n + 1)·level⌉-th smallest of the n errors. `checked` are the absolute
    /// errors of other rows (the evaluation rows), on which the coverage is measured.
    pub fn calibrated(errors: &[f64], level: f64, checked: &[f64]) -> Result<Interval, String> {
        Interval::conformal(errors.to_vec(), level, checked).map_err(|needed| {
            format!(
                "an interval at {level} needs at least {needed} calibration rows; the training rows give {}",
                errors.len()
            )
        })
    }

    /// The interval at `level` from the absolute errors of held-out rows (`residuals[i]` =
    /// |y - ŷ| of row i): the rows are split by a hash of their index into calibration and
    /// check halves. The half-width is the ⌈(n + 1)·level⌉-th smallest calibration error (n
    /// calibration rows), so a new row is covered with probability at least `level` when rows
    /// are exchangeable; too few rows for that rank is an error that says how many are needed.
    pub fn split_conformal(residuals: &[f64], level: f64) -> Result<Interval, String> {
        let (mut calibration, mut check) = (Vec::new(), Vec::new());
        for (i, r) in residuals.iter().enumerate() {
            if crate::rng::mix(i as u64 ^ 0x696e_7465_7276_616c) & 1 == 0 {
                calibration.push(*r);
            } else {
                check.push(*r);
            }
        }
        let n = calibration.len();
        // About twice the calibration rows needed are needed in all.
        Interval::conformal(calibration, level, &check).map_err(|needed| {
            format!(
                "an interval at {level} needs at least {needed} calibration rows; the held-out rows give {n} (about half of {})",
                residuals.len()
            )
        })
    }

    /// The interval at `level` whose half-width is the ⌈(n + 1)·level⌉-th smallest of the n
    /// `calibration` errors, its coverage measured on the `checked` errors; or, when there are
    /// too few for that rank, the smallest n for which ⌈(n + 1)·level⌉ ≤ n.
    fn conformal(
        mut calibration: Vec<f64>,
        level: f64,
        checked: &[f64],
    ) -> Result<Interval, usize> {
        let n = calibration.len();
        let rank = ((n as f64 + 1.0) * level).ceil() as usize;
        if rank > n || rank == 0 {
            let needed = (1..).find(|m: &usize| ((*m as f64 + 1.0) * level).ceil() as usize <= *m);
            return Err(needed.unwrap_or(usize::MAX));
        }
        let half_width = *calibration
            .select_nth_unstable_by(rank - 1, f64::total_cmp)
            .1;
        let covered = checked.iter().filter(|r| **r <= half_width).count();
        Ok(Interval {
            level,
            half_width,
            calibration_rows: n,
            coverage: covered as f64 / checked.len().max(1) as f64,
            checked_rows: checked.len(),
        })
    }
}

/// A metric the search optimises and the blessing compares (`model.tuning.metric`,
/// `promotion.metric`), stored by its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    RocAuc,
    Accuracy,
    BalancedAccuracy,
    F1,
    LogLoss,
    Rmse,
    Mae,
    R2,
    Mape,
}

crate::names::named!(Metric, "a metric", {
    RocAuc => "roc_auc",
    Accuracy => "accuracy",
    BalancedAccuracy => "balanced_accuracy",
    F1 => "f1",
    LogLoss => "log_loss",
    Rmse => "rmse",
    Mae => "mae",
    R2 => "r2",
    Mape => "mape",
});

impl Metric {
    /// Whether a larger value is better.
    pub fn higher_is_better(self) -> bool {
        !matches!(
            self,
            Metric::LogLoss | Metric::Rmse | Metric::Mae | Metric::Mape
        )
    }

    /// Whether the metric scores a regression's values (else a classification's classes).
    pub fn is_regression(self) -> bool {
        matches!(self, Metric::Rmse | Metric::Mae | Metric::R2 | Metric::Mape)
    }

    /// Whether `value` reaches the policy's `minimum`: at least it when higher is better, at most
    /// it otherwise (where a minimum of 0 or less means no limit).
    pub fn reaches(self, value: f64, minimum: f64) -> bool {
        if self.higher_is_better() {
            value >= minimum
        } else {
            minimum <= 0.0 || value <= minimum
        }
    }
}

/// The predicted class: the most probable, the first on ties.
pub fn argmax(p: &[f64]) -> usize {
    let mut best = 0;
    for (k, v) in p.iter().enumerate() {
        if *v > p[best] {
            best = k;
        }
    }
    best
}

pub fn evaluate(y: &[usize], proba: &[Vec<f64>], classes: usize) -> Evaluation {
    let n = y.len();
    let pred: Vec<usize> = proba.iter().map(|p| argmax(p)).collect();
    let mut confusion = vec![vec![0usize; classes]; classes];
    for (t, p) in y.iter().zip(&pred) {
        confusion[*t][*p] += 1;
    }
    let correct: usize = (0..classes).map(|k| confusion[k][k]).sum();
    let accuracy = correct as f64 / n as f64;
    let mut precision = vec![0.0; classes];
    let mut recall = vec![0.0; classes];
    let mut f1 = vec![0.0; classes];
    for k in 0..classes {
        let tp = confusion[k][k] as f64;
        let predicted: usize = (0..classes).map(|t| confusion[t][k]).sum();
        let actual: usize = confusion[k].iter().sum();
        precision[k] = if predicted > 0 {
            tp / predicted as f64
        } else {
            0.0
        };
        recall[k] = if actual > 0 { tp / actual as f64 } else { 0.0 };
        f1[k] = if precision[k] + recall[k] > 0.0 {
            2.0 * precision[k] * recall[k] / (precision[k] + recall[k])
        } else {
            0.0
        };
    }
    let present: Vec<usize> = (0..classes)
        .filter(|&k| confusion[k].iter().sum::<usize>() > 0)
        .collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let balanced_accuracy =
        present.iter().map(|&k| recall[k]).sum::<f64>() / present.len().max(1) as f64;
    let roc_auc = if classes == 2 {
        auc(y.iter().map(|&t| t == 1), proba.iter().map(|p| p[1]))
    } else {
        let aucs: Vec<f64> = present
            .iter()
            .map(|&k| auc(y.iter().map(|&t| t == k), proba.iter().map(|p| p[k])))
            .collect();
        mean(&aucs)
    };
    let eps = 1e-15;
    let log_loss = y
        .iter()
        .zip(proba)
        .map(|(&t, p)| {
            // scikit-learn renormalises each row before clipping.
            let s: f64 = p.iter().sum();
            -(p[t] / s).clamp(eps, 1.0 - eps).ln()
        })
        .sum::<f64>()
        / n as f64;
    let brier = if classes == 2 {
        y.iter()
            .zip(proba)
            .map(|(&t, p)| (p[1] - t as f64).powi(2))
            .sum::<f64>()
            / n as f64
    } else {
        y.iter()
            .zip(proba)
            .map(|(&t, p)| {
                p.iter()
                    .enumerate()
                    .map(|(k, v)| (v - f64::from(u8::from(k == t))).powi(2))
                    .sum::<f64>()
            })
            .sum::<f64>()
            / n as f64
    };
    Evaluation {
        rows: n,
        accuracy,
        balanced_accuracy,
        macro_precision: mean(&precision),
        macro_recall: mean(&recall),
        macro_f1: mean(&f1),
        f1_score: if classes == 2 { f1[1] } else { mean(&f1) },
        precision,
        recall,
        f1,
        roc_auc,
        log_loss,
        brier,
        ece: ece(y, proba, 10),
        confusion,
    }
}

/// ROC AUC by ranks (Mann–Whitney U), ties averaged. NaN when one side is empty.
pub fn auc(positive: impl Iterator<Item = bool>, score: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<(f64, bool)> = score.zip(positive).collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n_pos = v.iter().filter(|x| x.1).count() as f64;
    let n_neg = v.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return f64::NAN;
    }
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1].0 == v[i].0 {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += avg_rank * v[i..=j].iter().filter(|x| x.1).count() as f64;
        i = j + 1;
    }
    (rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

/// Expected calibration error of the top-class confidence over `bins` equal-width bins.
pub fn ece(y: &[usize], proba: &[Vec<f64>], bins: usize) -> f64 {
    let mut conf = vec![0.0; bins];
    let mut acc = vec![0.0; bins];
    let mut count = vec![0usize; bins];
    for (&t, p) in y.iter().zip(proba) {
        let k = argmax(p);
        let c = p[k];
        let b = ((c * bins as f64) as usize).min(bins - 1);
        conf[b] += c;
        acc[b] += f64::from(u8::from(k == t));
        count[b] += 1;
    }
    let n = y.len() as f64;
    (0..bins)
        .filter(|&b| count[b] > 0)
        .map(|b| {
            (count[b] as f64 / n) * (acc[b] / count[b] as f64 - conf[b] / count[b] as f64).abs()
        })
        .sum()
}

/// The evaluation's curves, for charts: the ROC curve of the positive class (binary models
/// only) and the calibration of the top-class confidence over the same 10 bins as [`ece`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curves {
    /// `[false positive rate, true positive rate]` from `[0, 0]` to `[1, 1]`, one point per
    /// distinct score (ties move diagonally). Empty for multiclass models or when a class is
    /// missing from the evaluation rows.
    pub roc: Vec<[f64; 2]>,
    pub calibration: Vec<CalibrationBin>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// Mean top-class confidence and the share of those rows predicted right.
    pub confidence: f64,
    pub accuracy: f64,
    pub rows: usize,
}

pub fn curves(y: &[usize], proba: &[Vec<f64>], classes: usize) -> Curves {
    let mut roc = Vec::new();
    if classes == 2 {
        let mut v: Vec<(f64, bool)> = proba
            .iter()
            .map(|p| p[1])
            .zip(y.iter().map(|&t| t == 1))
            .collect();
        v.sort_by(|a, b| b.0.total_cmp(&a.0));
        let pos = v.iter().filter(|x| x.1).count() as f64;
        let neg = v.len() as f64 - pos;
        if pos > 0.0 && neg > 0.0 {
            roc.push([0.0, 0.0]);
            let (mut tp, mut fp) = (0.0, 0.0);
            for (i, (score, positive)) in v.iter().enumerate() {
                if *positive {
                    tp += 1.0;
                } else {
                    fp += 1.0;
                }
                if v.get(i + 1).is_none_or(|next| next.0 != *score) {
                    roc.push([fp / neg, tp / pos]);
                }
            }
        }
    }
    let bins = 10;
    let mut conf = vec![0.0; bins];
    let mut right = vec![0.0; bins];
    let mut rows = vec![0usize; bins];
    for (&t, p) in y.iter().zip(proba) {
        let k = argmax(p);
        let b = ((p[k] * bins as f64) as usize).min(bins - 1);
        conf[b] += p[k];
        right[b] += f64::from(u8::from(k == t));
        rows[b] += 1;
    }
    let calibration = (0..bins)
        .filter(|&b| rows[b] > 0)
        .map(|b| CalibrationBin {
            confidence: conf[b] / rows[b] as f64,
            accuracy: right[b] / rows[b] as f64,
            rows: rows[b],
        })
        .collect();
    Curves { roc, calibration }
}

/// The promotion policy of the stack, as the Evaluator applies it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub metric: Metric,
    pub min_metric: f64,
    pub min_improvement: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blessing {
    pub blessed: bool,
    pub metric: Metric,
    pub candidate: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    pub reason: String,
}

/// Bless a candidate against the policy and an optional baseline (the production model's value
/// of the same metric on the same eval rows).
pub fn bless(policy: &Policy, candidate: &Evaluation, baseline: Option<&Evaluation>) -> Blessing {
    let m = policy.metric;
    bless_values(policy, candidate.metric(m), baseline.map(|e| e.metric(m)))
}

/// [`bless`] for a regression: the policy's metric of the candidate against the baseline's.
pub fn bless_regression(
    policy: &Policy,
    candidate: &RegressionEvaluation,
    baseline: Option<&RegressionEvaluation>,
) -> Blessing {
    let m = policy.metric;
    bless_values(policy, candidate.metric(m), baseline.map(|e| e.metric(m)))
}

/// The blessing of a candidate whose value of the policy's metric is `c`, against the
/// Production version's `b` on the same rows.
fn bless_values(policy: &Policy, c: f64, b: Option<f64>) -> Blessing {
    let m = policy.metric;
    let higher = m.higher_is_better();
    let meets_min = m.reaches(c, policy.min_metric);
    let (blessed, reason) = if !c.is_finite() {
        (false, format!("{m} is not defined on the eval rows"))
    } else if !meets_min {
        (
            false,
            if higher {
                format!(
                    "{m} {c:.4} does not reach the minimum {:.4}",
                    policy.min_metric
                )
            } else {
                format!("{m} {c:.4} is above the maximum {:.4}", policy.min_metric)
            },
        )
    } else if let Some(b) = b {
        let gain = if higher { c - b } else { b - c };
        if gain >= policy.min_improvement {
            (
                true,
                format!(
                    "{m} {c:.4} vs production {b:.4}: improvement {gain:+.4} ≥ {:+.4}",
                    policy.min_improvement
                ),
            )
        } else {
            (
                false,
                format!(
                    "{m} {c:.4} vs production {b:.4}: improvement {gain:+.4} < {:+.4}",
                    policy.min_improvement
                ),
            )
        }
    } else {
        let threshold = if higher {
            format!("reaches the minimum {:.4}", policy.min_metric)
        } else if policy.min_metric > 0.0 {
            format!("is within the maximum {:.4}", policy.min_metric)
        } else {
            "has no maximum to meet".to_string()
        };
        (
            true,
            format!("{m} {c:.4} {threshold}; no production model to beat"),
        )
    };
    Blessing {
        blessed,
        metric: m,
        candidate: c,
        baseline: b,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Metrics are stored by name (settings, run records, the registry's policy): the names,
    /// their parsing and their direction.
    #[test]
    fn metrics_by_name_and_direction() {
        for (&m, &name) in Metric::ALL.iter().zip(Metric::NAMES) {
            assert_eq!(m.name(), name);
            assert_eq!(name.parse::<Metric>(), Ok(m));
            assert_eq!(
                serde_json::to_string(&m).expect("json"),
                format!("\"{name}\"")
            );
        }
        let e = "auc".parse::<Metric>().expect_err("not a metric");
        assert!(e.contains("`auc`") && e.contains("`roc_auc`"), "{e}");
        assert!(Metric::RocAuc.reaches(0.8, 0.8) && !Metric::RocAuc.reaches(0.79, 0.8));
        assert!(Metric::LogLoss.reaches(0.3, 0.4) && !Metric::LogLoss.reaches(0.5, 0.4));
        assert!(
            Metric::LogLoss.reaches(9.0, 0.0),
            "no maximum when the minimum is 0"
        );
    }

    /// `sklearn.metrics` on y = [3, -0.5, 2, 7], ŷ = [2.5, 0.0, 2, 8]: mean_squared_error
    /// 0.375, mean_absolute_error 0.5, r2_score 0.9486081370449679,
    /// mean_absolute_percentage_error 0.3273809523809524.
    #[test]
    fn regression_metrics_are_scikit_learns() {
        let e = RegressionEvaluation::of(&[3.0, -0.5, 2.0, 7.0], &[2.5, 0.0, 2.0, 8.0]);
        assert!((e.rmse - 0.375f64.sqrt()).abs() < 1e-12, "{e:?}");
        assert!((e.mae - 0.5).abs() < 1e-12, "{e:?}");
        assert!((e.r2 - 0.948_608_137_044_967_9).abs() < 1e-12, "{e:?}");
        assert!((e.mape - 0.327_380_952_380_952_4).abs() < 1e-12, "{e:?}");
        assert_eq!(RegressionEvaluation::of(&[2.0, 2.0], &[2.0, 2.0]).r2, 1.0);
        assert_eq!(RegressionEvaluation::of(&[2.0, 2.0], &[1.0, 3.0]).r2, 0.0);
        assert!(Metric::Rmse.is_regression() && !Metric::Rmse.higher_is_better());
        assert!(Metric::R2.higher_is_better() && !Metric::F1.is_regression());
        // Lower RMSE is better: blessed against a worse Production version, not a better one.
        let policy = Policy {
            metric: Metric::Rmse,
            min_metric: 0.0,
            min_improvement: 0.0,
        };
        assert!(
            bless_regression(
                &policy,
                &e,
                Some(&RegressionEvaluation {
                    rmse: 0.7,
                    ..e.clone()
                })
            )
            .blessed
        );
        assert!(
            !bless_regression(
                &policy,
                &e,
                Some(&RegressionEvaluation {
                    rmse: 0.5,
                    ..e.clone()
                })
            )
            .blessed
        );
    }

    /// The half-width is the ⌈(n + 1)·level⌉-th smallest calibration error; the check rows'
    /// coverage is near the level on exchangeable errors; too few rows say how many.
    #[test]
    fn split_conformal_intervals() {
        let mut rng = crate::rng::Rng::new(7);
        let residuals: Vec<f64> = (0..4000).map(|_| rng.unit() * 10.0).collect();
        let i = Interval::split_conformal(&residuals, 0.9).expect("interval");
        assert_eq!(i.calibration_rows + i.checked_rows, 4000);
        assert!(i.calibration_rows > 1800 && i.checked_rows > 1800, "{i:?}");
        assert!((i.half_width - 9.0).abs() < 0.3, "{i:?}");
        assert!((i.coverage - 0.9).abs() < 0.03, "{i:?}");
        let e = Interval::split_conformal(&residuals[..10], 0.9).expect_err("too few");
        assert!(e.contains("at least 9 calibration rows"), "{e}");
    }

    #[test]
    fn families_by_name() {
        use crate::model::Family;
        for (&f, &name) in Family::ALL.iter().zip(Family::NAMES) {
            assert_eq!(f.name(), name);
            assert_eq!(name.parse::<Family>(), Ok(f));
            assert_eq!(
                serde_json::to_string(&f).expect("json"),
                format!("\"{name}\"")
            );
        }
        assert!("svm".parse::<Family>().is_err());
    }

    #[test]
    fn auc_with_ties_and_perfect_separation() {
        // roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
        let a = auc(
            [false, false, true, true].into_iter(),
            [0.1, 0.4, 0.35, 0.8].into_iter(),
        );
        assert!((a - 0.75).abs() < 1e-12);
        let t = auc([false, true].into_iter(), [0.5, 0.5].into_iter());
        assert!((t - 0.5).abs() < 1e-12);
    }

    #[test]
    fn the_roc_curve_encloses_the_auc_and_calibration_bins_count_every_row() {
        let y = [0, 0, 1, 1, 0, 1, 1, 0];
        let p1 = [0.1, 0.4, 0.35, 0.8, 0.5, 0.5, 0.9, 0.2];
        let proba: Vec<Vec<f64>> = p1.iter().map(|&p| vec![1.0 - p, p]).collect();
        let c = curves(&y, &proba, 2);
        assert_eq!(c.roc.first(), Some(&[0.0, 0.0]));
        assert_eq!(c.roc.last(), Some(&[1.0, 1.0]));
        let area: f64 = c
            .roc
            .windows(2)
            .map(|w| (w[1][0] - w[0][0]) * (w[1][1] + w[0][1]) / 2.0)
            .sum();
        let a = auc(y.iter().map(|&t| t == 1), p1.iter().copied());
        assert!((area - a).abs() < 1e-12, "{area} vs {a}");
        assert_eq!(c.calibration.iter().map(|b| b.rows).sum::<usize>(), y.len());
        let e: f64 = c
            .calibration
            .iter()
            .map(|b| b.rows as f64 / y.len() as f64 * (b.accuracy - b.confidence).abs())
            .sum();
        assert!((e - ece(&y, &proba, 10)).abs() < 1e-12);
        assert!(
            curves(&[0, 0], &[vec![0.9, 0.1], vec![0.8, 0.2]], 2)
                .roc
                .is_empty()
        );
    }

    #[test]
    fn blessing_follows_the_policy() {
        let y = [0, 1, 1, 0];
        let good = evaluate(
            &y,
            &[
                vec![0.9, 0.1],
                vec![0.2, 0.8],
                vec![0.3, 0.7],
                vec![0.6, 0.4],
            ],
            2,
        );
        let bad = evaluate(
            &y,
            &[
                vec![0.1, 0.9],
                vec![0.8, 0.2],
                vec![0.3, 0.7],
                vec![0.6, 0.4],
            ],
            2,
        );
        let policy = Policy {
            metric: Metric::RocAuc,
            min_metric: 0.8,
            min_improvement: 0.01,
        };
        assert!(bless(&policy, &good, None).blessed);
        assert!(!bless(&policy, &bad, None).blessed);
        assert!(bless(&policy, &good, Some(&bad)).blessed);
        let same = bless(&policy, &good, Some(&good));
        assert!(!same.blessed, "{}", same.reason);
    }
}
