//! Ridge regression: least squares with an L2 penalty on the weights (not the intercept),
//! scikit-learn's `Ridge(alpha = l2)`: minimises `‖y − Xw − b‖² + l2 · ‖w‖²`. Solved exactly
//! from the centred normal equations by a Cholesky factorisation: one pass over the rows, then
//! a `d × d` solve for the tens of encoded columns a tabular model has.

use serde::{Deserialize, Serialize};

use super::linalg::cholesky_solve;
use super::logistic::Design;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ridge {
    /// One weight per encoded column.
    pub weights: Vec<f64>,
    pub intercept: f64,
    /// The mean of each encoded column over the training rows: the reference of linear SHAP
    /// explanations (and the centring of the fit).
    pub means: Vec<f64>,
}

impl Ridge {
    /// Fit on the rows of `x` with targets `y`. A penalty of 0 on collinear columns is made
    /// solvable with the smallest penalty that is (1e-10 of the largest diagonal, growing).
    pub fn fit(x: &impl Design, y: &[f64], l2: f64) -> Ridge {
        let (n, d) = (x.rows(), x.cols());
        let mut sum = vec![0.0; d];
        let mut xx = vec![0.0; d * d];
        let mut xy = vec![0.0; d];
        let mut y_sum = 0.0;
        let mut buf = Vec::new();
        for (i, &t) in y.iter().enumerate().take(n) {
            let row = x.row(i, &mut buf);
            y_sum += t;
            for a in 0..d {
                let v = row[a];
                if v == 0.0 {
                    continue;
                }
                sum[a] += v;
                xy[a] += v * t;
                for b in 0..=a {
                    xx[a * d + b] += v * row[b];
                }
            }
        }
        let nf = n.max(1) as f64;
        let means: Vec<f64> = sum.iter().map(|s| s / nf).collect();
        let y_mean = y_sum / nf;
        // Centred: Σ (x − μ)(x − μ)ᵀ = Σ x xᵀ − n μ μᵀ, and Σ (x − μ)(y − ȳ) = Σ x y − n μ ȳ.
        for a in 0..d {
            xy[a] -= nf * means[a] * y_mean;
            for b in 0..=a {
                let c = xx[a * d + b] - nf * means[a] * means[b];
                xx[a * d + b] = c;
                xx[b * d + a] = c;
            }
        }
        let largest = (0..d).map(|a| xx[a * d + a]).fold(0.0f64, f64::max);
        let mut penalty = l2;
        let weights = loop {
            let mut a = xx.clone();
            for i in 0..d {
                a[i * d + i] += penalty;
            }
            if let Some(w) = cholesky_solve(&a, &xy, d) {
                break w;
            }
            if d == 0 || penalty > largest.max(1.0) * 1e6 {
                break vec![0.0; d];
            }
            penalty = if penalty > 0.0 {
                penalty * 10.0
            } else {
                largest.max(1.0) * 1e-10
            };
        };
        let intercept = y_mean - weights.iter().zip(&means).map(|(w, u)| w * u).sum::<f64>();
        Ridge {
            weights,
            intercept,
            means,
        }
    }

    /// The predicted value of one encoded row.
    pub fn predict_row(&self, row: &[f64]) -> f64 {
        self.intercept
            + self
                .weights
                .iter()
                .zip(row)
                .map(|(w, x)| w * x)
                .sum::<f64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::Matrix;

    /// scikit-learn 1.9.1: `Ridge(alpha=2.0).fit(X, y)` on these rows gives
    /// `coef_ = [1.24875622, -0.10945274]`, `intercept_ = 1.0945273631840782`.
    #[test]
    fn matches_scikit_learns_ridge() {
        let x = Matrix {
            rows: 5,
            cols: 2,
            data: vec![1.0, 2.0, 2.0, 0.0, 3.0, 1.0, 4.0, 3.0, 5.0, 5.0],
        };
        let y = [1.0, 4.0, 5.0, 6.0, 7.0];
        let m = Ridge::fit(&x, &y, 2.0);
        assert!((m.weights[0] - 1.248_756_22).abs() < 1e-8, "{m:?}");
        assert!((m.weights[1] + 0.109_452_74).abs() < 1e-8, "{m:?}");
        assert!(
            (m.intercept - 1.094_527_363_184_078_2).abs() < 1e-12,
            "{m:?}"
        );
        let at = m.predict_row(&[1.0, 2.0]);
        assert!((at - (m.intercept + m.weights[0] + 2.0 * m.weights[1])).abs() < 1e-12);
    }

    #[test]
    fn collinear_columns_without_a_penalty_still_fit() {
        let x = Matrix {
            rows: 4,
            cols: 2,
            data: vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0],
        };
        let m = Ridge::fit(&x, &[2.0, 4.0, 6.0, 8.0], 0.0);
        assert!((m.predict_row(&[5.0, 5.0]) - 10.0).abs() < 1e-6, "{m:?}");
    }
}
