//! Trainer: the model families and a trained model (preprocessing + estimator) that predicts
//! class probabilities from raw features.

pub mod gbt;
pub mod linalg;
pub mod logistic;

use serde::{Deserialize, Serialize};

use crate::data::Frame;
use crate::transform::{Matrix, Preprocessor};
pub use gbt::{Binned, Gbt, GbtParams};
pub use logistic::Logistic;

/// Hyperparameters of one trial.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum Params {
    LogisticRegression { l2: f64 },
    GradientBoostedTrees(GbtParams),
}

impl Params {
    pub fn family(&self) -> &'static str {
        match self {
            Params::LogisticRegression { .. } => "logistic_regression",
            Params::GradientBoostedTrees(_) => "gradient_boosted_trees",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum Estimator {
    LogisticRegression(Logistic),
    GradientBoostedTrees(Gbt),
}

/// Imputed rows ready for the estimators, binned for the trees on first need (once, however
/// many fits share them).
#[derive(Debug)]
pub struct Prepared {
    pub x: Matrix,
    bins: std::sync::OnceLock<Binned>,
}

impl Prepared {
    pub fn new(x: Matrix) -> Self {
        Prepared {
            x,
            bins: std::sync::OnceLock::new(),
        }
    }

    /// The rows binned per feature (made on the first call, with up to `threads` threads).
    pub fn bins(&self, threads: usize) -> &Binned {
        self.bins.get_or_init(|| Binned::new(&self.x, threads))
    }
}

/// A trained model: what the exported ONNX graph computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub prep: Preprocessor,
    pub estimator: Estimator,
    pub classes: Vec<String>,
    pub class_values: Option<Vec<i64>>,
}

impl Model {
    /// Fit preprocessing and estimator on the rows `train` of `frame`.
    pub fn fit(
        frame: &Frame,
        y: &[usize],
        train: &[usize],
        classes: &crate::data::Labels,
        params: &Params,
    ) -> Model {
        let prep = Preprocessor::fit(frame, train);
        let imputed = Prepared::new(prep.impute(&frame.select_rows(train)));
        let ys: Vec<usize> = train.iter().map(|&i| y[i]).collect();
        Model::fit_prepared(prep, &imputed, &ys, classes, params, crate::par::threads())
    }

    /// Fit the estimator on already imputed rows (the tuner reuses them across trials), on up
    /// to `threads` threads (the model does not depend on it).
    pub fn fit_prepared(
        prep: Preprocessor,
        imputed: &Prepared,
        y: &[usize],
        labels: &crate::data::Labels,
        params: &Params,
        threads: usize,
    ) -> Model {
        let k = labels.classes.len();
        let estimator = match params {
            Params::LogisticRegression { l2 } => {
                Estimator::LogisticRegression(Logistic::fit(&prep.encode(&imputed.x), y, k, *l2))
            }
            Params::GradientBoostedTrees(p) => Estimator::GradientBoostedTrees(Gbt::fit_binned(
                imputed.bins(threads),
                y,
                k,
                *p,
                threads,
            )),
        };
        Model {
            prep,
            estimator,
            classes: labels.classes.clone(),
            class_values: labels.class_values.clone(),
        }
    }

    /// Class probabilities of imputed rows, row-major `rows × classes`.
    pub fn predict_imputed(&self, imputed: &Matrix) -> Vec<Vec<f64>> {
        let k = self.classes.len();
        let mut enc = vec![0.0; self.prep.encoded_width()];
        (0..imputed.rows)
            .map(|i| {
                let mut p = vec![0.0; k];
                match &self.estimator {
                    Estimator::LogisticRegression(m) => {
                        self.prep.encode_row(imputed.row(i), &mut enc);
                        m.predict_row(&enc, &mut p);
                    }
                    Estimator::GradientBoostedTrees(m) => m.predict_row(imputed.row(i), &mut p),
                }
                p
            })
            .collect()
    }

    /// Class probabilities of raw rows.
    pub fn predict_proba(&self, frame: &Frame) -> Vec<Vec<f64>> {
        self.predict_imputed(&self.prep.impute(frame))
    }
}

impl Model {
    /// Class probabilities of one raw row (`f32`, NaN = missing), as the exported graph computes
    /// them: imputation with the `f32` fill values, then the estimator.
    pub fn predict_raw_row(
        &self,
        raw: &[f32],
        encoded: &mut Vec<f64>,
        imputed: &mut Vec<f64>,
        out: &mut [f64],
    ) {
        imputed.clear();
        imputed.extend(self.prep.features.iter().zip(raw).map(|(f, x)| {
            if x.is_nan() {
                f64::from(f.fill as f32)
            } else {
                f64::from(*x)
            }
        }));
        match &self.estimator {
            Estimator::LogisticRegression(m) => {
                encoded.resize(self.prep.encoded_width(), 0.0);
                self.prep.encode_row(imputed, encoded);
                m.predict_row(encoded, out);
            }
            Estimator::GradientBoostedTrees(m) => m.predict_row(imputed, out),
        }
    }
}
