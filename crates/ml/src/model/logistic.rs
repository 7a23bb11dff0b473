//! Logistic regression with an L2 penalty, binary (sigmoid) and multinomial (softmax).
//!
//! Minimises `Σ log loss + l2/2 · ‖W‖²` (the intercepts are not penalised): scikit-learn's
//! objective with `C = 1 / l2`. Solved with Newton's method and a backtracking line search, which
//! converges in a handful of iterations for the tens of features a tabular model has, and is
//! deterministic.

use serde::{Deserialize, Serialize};

use super::linalg::cholesky_solve;
use crate::transform::Matrix;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    /// Class count (2 = binary with one weight vector).
    pub classes: usize,
    /// Weights, `rows × d`: one row for binary, one per class for multinomial.
    pub weights: Vec<Vec<f64>>,
    pub intercepts: Vec<f64>,
    /// The mean of each encoded column over the training rows: the reference of linear SHAP
    /// explanations. Empty in models from before it was recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub means: Vec<f64>,
}

const MAX_ITER: usize = 100;

/// The rows a fit reads: a matrix, or rows encoded on the fly from smaller ones (so that no
/// encoded copy of the data is held: [`crate::transform::Encoded`]).
pub trait Design {
    fn rows(&self) -> usize;
    fn cols(&self) -> usize;
    /// Row `i`, written into `buf` when it is not stored as it is.
    fn row<'a>(&'a self, i: usize, buf: &'a mut Vec<f64>) -> &'a [f64];
}

impl Design for Matrix {
    fn rows(&self) -> usize {
        self.rows
    }

    fn cols(&self) -> usize {
        self.cols
    }

    fn row<'a>(&'a self, i: usize, _: &'a mut Vec<f64>) -> &'a [f64] {
        Matrix::row(self, i)
    }
}

impl Logistic {
    pub fn fit(x: &impl Design, y: &[usize], classes: usize, l2: f64) -> Logistic {
        let mut m = Logistic::solve(x, y, classes, l2);
        m.means = column_means(x);
        m
    }

    fn solve(x: &impl Design, y: &[usize], classes: usize, l2: f64) -> Logistic {
        let d = x.cols();
        let rows = if classes == 2 { 1 } else { classes };
        let p = rows * (d + 1);
        let mut theta = vec![0.0; p];
        let mut obj = objective(x, y, classes, l2, &theta);
        for _ in 0..MAX_ITER {
            let (grad, hess) = grad_hess(x, y, classes, l2, &theta);
            let Some(step) = cholesky_solve(&hess, &grad, p) else {
                break;
            };
            // Backtracking line search on the objective.
            let mut t = 1.0;
            let mut accepted = false;
            while t > 1e-10 {
                let cand: Vec<f64> = theta.iter().zip(&step).map(|(a, s)| a - t * s).collect();
                let o = objective(x, y, classes, l2, &cand);
                if o <= obj {
                    theta = cand;
                    let improvement = obj - o;
                    obj = o;
                    accepted = true;
                    if improvement <= 1e-12 * obj.abs().max(1.0) {
                        return unpack(&theta, classes, d);
                    }
                    break;
                }
                t *= 0.5;
            }
            if !accepted {
                break;
            }
            if step.iter().all(|s| s.abs() * t < 1e-12) {
                break;
            }
        }
        unpack(&theta, classes, d)
    }

    /// Class probabilities of one encoded row.
    pub fn predict_row(&self, row: &[f64], out: &mut [f64]) {
        let z: Vec<f64> = self
            .weights
            .iter()
            .zip(&self.intercepts)
            .map(|(w, b)| b + w.iter().zip(row).map(|(a, x)| a * x).sum::<f64>())
            .collect();
        if self.classes == 2 {
            let p1 = sigmoid(z[0]);
            out[0] = 1.0 - p1;
            out[1] = p1;
        } else {
            softmax(&z, out);
        }
    }
}

/// The mean of each column.
fn column_means(x: &impl Design) -> Vec<f64> {
    let (n, d) = (x.rows(), x.cols());
    let mut sum = vec![0.0; d];
    let mut buf = Vec::new();
    for i in 0..n {
        for (s, v) in sum.iter_mut().zip(x.row(i, &mut buf)) {
            *s += v;
        }
    }
    sum.iter().map(|s| s / n.max(1) as f64).collect()
}

fn unpack(theta: &[f64], classes: usize, d: usize) -> Logistic {
    let rows = if classes == 2 { 1 } else { classes };
    let weights = (0..rows)
        .map(|r| theta[r * (d + 1)..r * (d + 1) + d].to_vec())
        .collect();
    let intercepts = (0..rows).map(|r| theta[r * (d + 1) + d]).collect();
    Logistic {
        classes,
        weights,
        intercepts,
        means: Vec::new(),
    }
}

pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

pub fn softmax(z: &[f64], out: &mut [f64]) {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut s = 0.0;
    for (o, v) in out.iter_mut().zip(z) {
        *o = (v - m).exp();
        s += *o;
    }
    for o in out.iter_mut() {
        *o /= s;
    }
}

fn linear(theta: &[f64], r: usize, d: usize, row: &[f64]) -> f64 {
    let w = &theta[r * (d + 1)..r * (d + 1) + d];
    theta[r * (d + 1) + d] + w.iter().zip(row).map(|(a, x)| a * x).sum::<f64>()
}

fn penalty(theta: &[f64], rows: usize, d: usize, l2: f64) -> f64 {
    (0..rows)
        .map(|r| {
            theta[r * (d + 1)..r * (d + 1) + d]
                .iter()
                .map(|w| w * w)
                .sum::<f64>()
        })
        .sum::<f64>()
        * l2
        / 2.0
}

fn objective(x: &impl Design, y: &[usize], classes: usize, l2: f64, theta: &[f64]) -> f64 {
    let d = x.cols();
    let mut loss = 0.0;
    let mut buf = Vec::new();
    if classes == 2 {
        for (i, &yi) in y.iter().enumerate().take(x.rows()) {
            let z = linear(theta, 0, d, x.row(i, &mut buf));
            // log(1 + e^z) - y z, computed stably
            let softplus = if z > 0.0 {
                z + (-z).exp().ln_1p()
            } else {
                z.exp().ln_1p()
            };
            loss += softplus - if yi == 1 { z } else { 0.0 };
        }
        loss + penalty(theta, 1, d, l2)
    } else {
        let mut z = vec![0.0; classes];
        for (i, &yi) in y.iter().enumerate().take(x.rows()) {
            let row = x.row(i, &mut buf);
            for (k, zk) in z.iter_mut().enumerate() {
                *zk = linear(theta, k, d, row);
            }
            let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
            loss += lse - z[yi];
        }
        loss + penalty(theta, classes, d, l2)
    }
}

fn grad_hess(
    x: &impl Design,
    y: &[usize],
    classes: usize,
    l2: f64,
    theta: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let d = x.cols();
    let rows = if classes == 2 { 1 } else { classes };
    let p = rows * (d + 1);
    let mut buf = Vec::new();
    let mut g = vec![0.0; p];
    let mut h = vec![0.0; p * p];
    let mut xi = vec![0.0; d + 1];
    let mut probs = vec![0.0; rows];
    let mut z = vec![0.0; classes];
    for (i, &yi) in y.iter().enumerate().take(x.rows()) {
        let row = x.row(i, &mut buf);
        xi[..d].copy_from_slice(row);
        xi[d] = 1.0;
        if classes == 2 {
            probs[0] = sigmoid(linear(theta, 0, d, row));
        } else {
            for (k, zk) in z.iter_mut().enumerate() {
                *zk = linear(theta, k, d, row);
            }
            softmax(&z, &mut probs);
        }
        for a in 0..rows {
            let target = if classes == 2 {
                f64::from(u8::from(yi == 1))
            } else {
                f64::from(u8::from(yi == a))
            };
            let r = probs[a] - target;
            for (u, xu) in xi.iter().enumerate() {
                g[a * (d + 1) + u] += r * xu;
            }
            for b in 0..rows {
                let s = if a == b {
                    probs[a] * (1.0 - probs[a])
                } else {
                    -probs[a] * probs[b]
                };
                if s == 0.0 {
                    continue;
                }
                for u in 0..=d {
                    let su = s * xi[u];
                    let row = (a * (d + 1) + u) * p + b * (d + 1);
                    for (v, xv) in xi.iter().enumerate() {
                        h[row + v] += su * xv;
                    }
                }
            }
        }
    }
    for r in 0..rows {
        for u in 0..d {
            let k = r * (d + 1) + u;
            g[k] += l2 * theta[k];
            h[k * p + k] += l2;
        }
        // The softmax is invariant to a shift of all intercepts: a tiny ridge keeps H definite.
        let k = r * (d + 1) + d;
        h[k * p + k] += 1e-10;
    }
    (g, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> (Matrix, Vec<usize>) {
        let data = vec![0.0, 1.0, 1.0, 0.5, 2.0, 1.5, 3.0, 2.0, 4.0, 3.5, 0.5, 0.0];
        let x = Matrix {
            rows: 6,
            cols: 2,
            data,
        };
        (x, vec![0, 0, 1, 1, 1, 0])
    }

    #[test]
    fn gradient_vanishes_at_the_solution() {
        let (x, y) = toy();
        let m = Logistic::fit(&x, &y, 2, 1.0);
        let mut theta = m.weights[0].clone();
        theta.push(m.intercepts[0]);
        let (g, _) = grad_hess(&x, &y, 2, 1.0, &theta);
        assert!(g.iter().all(|v| v.abs() < 1e-8), "{g:?}");
    }

    #[test]
    fn multinomial_probabilities_sum_to_one_and_fit_the_classes() {
        let (x, _) = toy();
        let y = vec![0, 0, 1, 2, 2, 0];
        let m = Logistic::fit(&x, &y, 3, 0.1);
        let mut p = vec![0.0; 3];
        for i in 0..x.rows {
            m.predict_row(x.row(i), &mut p);
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        m.predict_row(x.row(4), &mut p);
        assert!(p[2] > p[0] && p[2] > p[1], "{p:?}");
    }
}
