//! Trainer: the model families and a trained model (preprocessing + estimator) that predicts
//! class probabilities (a classification) or a value (a regression) from raw features.

pub mod gbt;
pub mod linalg;
pub mod logistic;
pub mod ridge;

use serde::{Deserialize, Serialize};

use crate::data::Frame;
use crate::transform::{Preprocessor, Rows};
pub use gbt::{Binned, Gbt, GbtParams, Loss};
pub use logistic::Logistic;
pub use ridge::Ridge;

/// Hyperparameters of one trial.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum Params {
    LogisticRegression { l2: f64 },
    GradientBoostedTrees(GbtParams),
    Ridge { l2: f64 },
}

impl Params {
    pub fn family(&self) -> Family {
        match self {
            Params::LogisticRegression { .. } => Family::LogisticRegression,
            Params::GradientBoostedTrees(_) => Family::GradientBoostedTrees,
            Params::Ridge { .. } => Family::Ridge,
        }
    }
}

/// A model family the search can try (`model.families`), stored by its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    LogisticRegression,
    GradientBoostedTrees,
    Ridge,
}

crate::names::named!(Family, "a model family", {
    LogisticRegression => "logistic_regression",
    GradientBoostedTrees => "gradient_boosted_trees",
    Ridge => "ridge",
});

impl Family {
    /// The families a classification searches over.
    pub const CLASSIFICATION: &'static [Family] =
        &[Family::LogisticRegression, Family::GradientBoostedTrees];
    /// The families a regression searches over.
    pub const REGRESSION: &'static [Family] = &[Family::Ridge, Family::GradientBoostedTrees];

    /// The families of a classification, or of a regression when `regression`.
    pub fn for_task(regression: bool) -> &'static [Family] {
        if regression {
            Family::REGRESSION
        } else {
            Family::CLASSIFICATION
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum Estimator {
    LogisticRegression(Logistic),
    GradientBoostedTrees(Gbt),
    Ridge(Ridge),
}

/// Rows ready for the estimators (a [`Rows`] view: missing numbers NaN), binned for the trees
/// on first need (once, however many fits share them).
pub struct Prepared<'a> {
    pub x: Rows<'a>,
    fills: Vec<f64>,
    bins: std::sync::OnceLock<Binned>,
}

impl<'a> Prepared<'a> {
    /// The rows `rows` of `frame` as `prep` gives them to the estimators.
    pub fn new(prep: &Preprocessor, frame: &'a Frame, rows: Vec<usize>) -> Self {
        Prepared {
            x: Rows::new(prep, frame, rows),
            fills: prep.fills(),
            bins: std::sync::OnceLock::new(),
        }
    }

    /// The rows binned per feature (made on the first call, with up to `threads` threads).
    pub fn bins(&self, threads: usize) -> &Binned {
        self.bins.get_or_init(|| {
            let x = &self.x;
            let column = |j: usize| (0..x.len()).map(|r| x.get(r, j) as f32).collect();
            Binned::from_columns(x.len(), x.cols(), column, Some(&self.fills), threads)
        })
    }
}

/// A trained model: what the exported ONNX graph computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub prep: Preprocessor,
    pub estimator: Estimator,
    /// A classification's classes; none for a regression.
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
        let x = Prepared::new(&prep, frame, train.to_vec());
        let ys: Vec<usize> = train.iter().map(|&i| y[i]).collect();
        Model::fit_prepared(prep, &x, &ys, classes, params, crate::par::threads())
    }

    /// Fit the estimator on prepared rows (the tuner reuses them across trials), on up to
    /// `threads` threads (the model does not depend on it).
    pub fn fit_prepared(
        prep: Preprocessor,
        x: &Prepared<'_>,
        y: &[usize],
        labels: &crate::data::Labels,
        params: &Params,
        threads: usize,
    ) -> Model {
        let k = labels.classes.len();
        let estimator = match params {
            // Ridge is a regression's linear family; validation keeps it out of a
            // classification's space, where the linear family is the logistic regression.
            Params::LogisticRegression { l2 } | Params::Ridge { l2 } => {
                let encoded = crate::transform::Encoded::new(&prep, &x.x);
                Estimator::LogisticRegression(Logistic::fit(&encoded, y, k, *l2))
            }
            Params::GradientBoostedTrees(p) => {
                Estimator::GradientBoostedTrees(Gbt::fit_binned(x.bins(threads), y, k, *p, threads))
            }
        };
        Model {
            prep,
            estimator,
            classes: labels.classes.clone(),
            class_values: labels.class_values.clone(),
        }
    }

    /// Fit preprocessing and a regression of the targets `y` on the rows `train` of `frame`.
    pub fn fit_values(
        frame: &Frame,
        y: &[f64],
        train: &[usize],
        params: &Params,
        loss: Loss,
    ) -> Model {
        let prep = Preprocessor::fit(frame, train);
        let x = Prepared::new(&prep, frame, train.to_vec());
        let ys: Vec<f64> = train.iter().map(|&i| y[i]).collect();
        Model::fit_prepared_values(prep, &x, &ys, params, loss, crate::par::threads(), None)
    }

    /// Fit a regression on prepared rows (targets `y`, one per row), on up to `threads` threads
    /// (the model does not depend on it); trees stopped early on `valid` when given (see
    /// [`Gbt::fit_regression_stopping`]; ridge has no rounds to stop).
    pub fn fit_prepared_values(
        prep: Preprocessor,
        x: &Prepared<'_>,
        y: &[f64],
        params: &Params,
        loss: Loss,
        threads: usize,
        valid: Option<gbt::Validation<'_>>,
    ) -> Model {
        let estimator = match params {
            // The logistic regression is a classification's linear family; validation keeps it
            // out of a regression's space, where the linear family is ridge.
            Params::Ridge { l2 } | Params::LogisticRegression { l2 } => {
                let encoded = crate::transform::Encoded::new(&prep, &x.x);
                Estimator::Ridge(Ridge::fit(&encoded, y, *l2))
            }
            Params::GradientBoostedTrees(p) => Estimator::GradientBoostedTrees(
                Gbt::fit_regression_stopping(x.bins(threads), y, loss, *p, threads, valid),
            ),
        };
        Model {
            prep,
            estimator,
            classes: Vec::new(),
            class_values: None,
        }
    }

    /// Whether the model predicts a value (a regression) rather than class probabilities.
    pub fn is_regression(&self) -> bool {
        self.classes.is_empty()
    }

    /// A regression's predicted values of the rows of a view.
    pub fn predict_values(&self, x: &Rows<'_>) -> Vec<f64> {
        self.predict_rows(x).into_iter().map(|p| p[0]).collect()
    }

    /// Class probabilities of the rows of a view (made by this model's preprocessing); a
    /// regression's value alone for each row.
    pub fn predict_rows(&self, x: &Rows<'_>) -> Vec<Vec<f64>> {
        let k = self.classes.len().max(1);
        let (mut enc, mut filled, mut row) = (Vec::new(), Vec::new(), Vec::new());
        (0..x.len())
            .map(|r| {
                x.row_into(r, &mut row);
                let mut p = vec![0.0; k];
                self.predict_row(&row, &mut enc, &mut filled, &mut p);
                p
            })
            .collect()
    }

    /// Class probabilities of raw rows.
    pub fn predict_proba(&self, frame: &Frame) -> Vec<Vec<f64>> {
        self.predict_rows(&Rows::all(&self.prep, frame))
    }

    /// Class probabilities of one row of [`Preprocessor::values`] into `out`; `encoded` and
    /// `filled` are scratch space.
    fn predict_row(
        &self,
        x: &[f64],
        encoded: &mut Vec<f64>,
        filled: &mut Vec<f64>,
        out: &mut [f64],
    ) {
        match &self.estimator {
            // Trees from before learned directions take imputed rows.
            Estimator::GradientBoostedTrees(m) if !m.learned_missing => {
                filled.clear();
                filled.extend(
                    self.prep.features.iter().zip(x).map(
                        |(f, v)| {
                            if v.is_nan() { f.fill } else { *v }
                        },
                    ),
                );
                m.predict_row(filled, out);
            }
            _ => self.estimate(x, encoded, out),
        }
    }

    /// The estimator's class probabilities of a row as it takes it (trees: missing numbers as
    /// NaN when they learned where they go, else imputed; logistic regression: imputed here).
    fn estimate(&self, x: &[f64], encoded: &mut Vec<f64>, out: &mut [f64]) {
        match &self.estimator {
            Estimator::LogisticRegression(m) => {
                encoded.resize(self.prep.encoded_width(), 0.0);
                self.prep.encode_row(x, encoded);
                m.predict_row(encoded, out);
            }
            Estimator::GradientBoostedTrees(m) => m.predict_row(x, out),
            Estimator::Ridge(m) => {
                encoded.resize(self.prep.encoded_width(), 0.0);
                self.prep.encode_row(x, encoded);
                out[0] = m.predict_row(encoded);
            }
        }
    }
}

impl Model {
    /// Class probabilities of one raw row (`f32`, NaN = missing, a text category as its index),
    /// as the exported graph computes them: missing values filled with the `f32` fill values
    /// (except the numbers given to trees that learned where missing values go), then the
    /// estimator.
    pub fn predict_raw_row(
        &self,
        raw: &[f32],
        encoded: &mut Vec<f64>,
        values: &mut Vec<f64>,
        out: &mut [f64],
    ) {
        self.raw_values(raw, values);
        self.estimate(values, encoded, out);
    }

    /// A raw row as [`Self::predict_raw_row`] gives it to the estimator, into `values`.
    pub fn raw_values(&self, raw: &[f32], values: &mut Vec<f64>) {
        let keep_missing = matches!(
            &self.estimator,
            Estimator::GradientBoostedTrees(m) if m.learned_missing
        );
        values.clear();
        values.extend(self.prep.features.iter().zip(raw).map(|(f, x)| {
            if !x.is_nan() {
                f64::from(*x)
            } else if keep_missing && !f.text {
                f64::NAN
            } else {
                f64::from(f.fill as f32)
            }
        }));
    }
}
