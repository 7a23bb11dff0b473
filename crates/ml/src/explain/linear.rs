//! Exact linear SHAP for logistic and ridge regression, with independent features: the margin
//! `w·x + b` is explained against the training mean, each encoded column contributing
//! `w_c (x_c − mean_c)`, the base being `w·mean + b` (what `shap.LinearExplainer` gives with
//! the training rows' mean as its background). A raw feature's contribution is the sum of its
//! encoded columns' (one for a number, one per category for a categorical feature).

use super::NotExplainable;
use crate::model::{Logistic, Ridge};
use crate::transform::Preprocessor;

/// `(base, contributions per encoded column)` of each output (one for a binary model, one per
/// class otherwise) for an encoded row.
pub fn explain(m: &Logistic, encoded: &[f64]) -> Result<Vec<(f64, Vec<f64>)>, NotExplainable> {
    if m.means.len() != encoded.len() {
        return Err(NotExplainable(
            "this model does not record its training data's means (trained before explanations existed); retrain it to explain its predictions".into(),
        ));
    }
    Ok(m.weights
        .iter()
        .zip(&m.intercepts)
        .map(|(w, b)| {
            let base = b + w.iter().zip(&m.means).map(|(w, u)| w * u).sum::<f64>();
            let phi = w
                .iter()
                .zip(encoded.iter().zip(&m.means))
                .map(|(w, (x, u))| w * (x - u))
                .collect();
            (base, phi)
        })
        .collect())
}

/// `(base, contributions per encoded column)` of a ridge regression's value for an encoded row.
pub fn explain_ridge(m: &Ridge, encoded: &[f64]) -> Result<(f64, Vec<f64>), NotExplainable> {
    if m.means.len() != encoded.len() {
        return Err(NotExplainable(
            "this model's training means do not match its encoded row".into(),
        ));
    }
    let base = m.intercept
        + m.weights
            .iter()
            .zip(&m.means)
            .map(|(w, u)| w * u)
            .sum::<f64>();
    let phi = m
        .weights
        .iter()
        .zip(encoded.iter().zip(&m.means))
        .map(|(w, (x, u))| w * (x - u))
        .collect();
    Ok((base, phi))
}

/// Encoded columns' contributions summed per raw feature.
pub fn by_feature(prep: &Preprocessor, columns: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(prep.features.len());
    let mut k = 0;
    for f in &prep.features {
        let width = f.encoded_width();
        out.push(columns[k..k + width].iter().sum());
        k += width;
    }
    out
}
