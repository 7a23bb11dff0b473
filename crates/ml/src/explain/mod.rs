//! Explanations of a prediction: how much each raw feature moved the model's margin (the
//! log-odds of a binary model, each class's score of a multiclass one, a regression's predicted
//! value) away from the model's
//! expected margin, as SHAP values, so that `base + Σ contributions = margin` exactly.
//!
//! - Gradient-boosted trees: exact path-dependent TreeSHAP ([`tree`]), the trees' splits
//!   weighted by the training rows that reached each node (their `cover`). The trees read one
//!   value per raw feature, so each contribution is already a raw feature's.
//! - Logistic and ridge regression: exact linear SHAP with independent features ([`linear`]): a column's
//!   contribution is its weight times its distance from the training mean; a categorical
//!   feature's one-hot columns are summed back into the feature.
//!
//! Models trained before covers and means were recorded cannot be explained; the error says to
//! retrain.

pub mod linear;
pub mod tree;

use serde::Serialize;

use crate::model::{Estimator, Model};

/// One output's explanation: the expected margin and each raw feature's contribution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// What the margin is of: `log_odds` (binary: the positive class) or the class's name.
    pub output: String,
    /// The model's expected margin over the training rows.
    pub base: f64,
    /// `(feature, contribution)`, in the model's feature order.
    pub contributions: Vec<(String, f64)>,
    /// `base + Σ contributions`: the margin of this row.
    pub margin: f64,
}

/// Why a model cannot be explained.
#[derive(Debug, Clone, PartialEq)]
pub struct NotExplainable(pub String);

impl std::fmt::Display for NotExplainable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The explanations of one row of [`crate::transform::Preprocessor::values`] (NaN = missing):
/// one per margin (one for a binary model, one per class otherwise).
pub fn explain(model: &Model, values: &[f64]) -> Result<Vec<Explanation>, NotExplainable> {
    let names = model.prep.names();
    let outputs: Vec<String> = if model.is_regression() {
        vec!["value".to_string()]
    } else if model.classes.len() == 2 {
        vec![format!("log_odds({})", model.classes[1])]
    } else {
        model.classes.clone()
    };
    let per_output: Vec<(f64, Vec<f64>)> = match &model.estimator {
        Estimator::GradientBoostedTrees(m) => {
            let row: Vec<f64> = if m.learned_missing {
                values.to_vec()
            } else {
                // Trees from before learned directions take imputed rows.
                model
                    .prep
                    .features
                    .iter()
                    .zip(values)
                    .map(|(f, v)| if v.is_nan() { f.fill } else { *v })
                    .collect()
            };
            tree::explain(m, &row)?
        }
        Estimator::LogisticRegression(m) => {
            let mut encoded = vec![0.0; model.prep.encoded_width()];
            model.prep.encode_row(values, &mut encoded);
            let columns = linear::explain(m, &encoded)?;
            columns
                .into_iter()
                .map(|(base, phi)| (base, linear::by_feature(&model.prep, &phi)))
                .collect()
        }
        Estimator::Ridge(m) => {
            let mut encoded = vec![0.0; model.prep.encoded_width()];
            model.prep.encode_row(values, &mut encoded);
            let (base, phi) = linear::explain_ridge(m, &encoded)?;
            vec![(base, linear::by_feature(&model.prep, &phi))]
        }
    };
    Ok(outputs
        .into_iter()
        .zip(per_output)
        .map(|(output, (base, phi))| Explanation {
            output,
            base,
            margin: base + phi.iter().sum::<f64>(),
            contributions: names.iter().cloned().zip(phi).collect(),
        })
        .collect())
}
