//! Gradient-boosted trees for classification: log loss (binary) or softmax (multiclass), second
//! order (Newton) leaf values, exact greedy splits grown level by level.
//!
//! Trees split on the imputed raw features. Thresholds are `f32` midpoints between consecutive
//! distinct values and a row goes left when `(x as f32) <= threshold`, exactly the comparison
//! ONNX's `BRANCH_LEQ` makes on `f32` inputs, so the exported model takes the same paths.
//! Deterministic: no sampling, ties go to the first feature and the lowest threshold.

use serde::{Deserialize, Serialize};

use super::logistic::{sigmoid, softmax};
use crate::transform::Matrix;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GbtParams {
    pub max_depth: usize,
    pub learning_rate: f64,
    pub rounds: usize,
    pub min_leaf: usize,
}

/// L2 regularisation of leaf values (XGBoost's `lambda`).
pub const LAMBDA: f64 = 1.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Node {
    Split {
        feature: usize,
        threshold: f32,
        left: usize,
        right: usize,
    },
    Leaf {
        value: f64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    pub fn predict(&self, row: &[f64]) -> f64 {
        let mut i = 0;
        loop {
            match &self.nodes[i] {
                Node::Leaf { value } => return *value,
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    i = if (row[*feature] as f32) <= *threshold {
                        *left
                    } else {
                        *right
                    };
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gbt {
    pub classes: usize,
    pub params: GbtParams,
    /// Initial margin per output (1 for binary, one per class otherwise).
    pub base: Vec<f64>,
    /// `trees[round][output]`.
    pub trees: Vec<Vec<Tree>>,
}

impl Gbt {
    pub fn fit(x: &Matrix, y: &[usize], classes: usize, params: GbtParams) -> Gbt {
        let n = x.rows;
        let outputs = if classes == 2 { 1 } else { classes };
        let mut counts = vec![0usize; classes];
        for &c in y {
            counts[c] += 1;
        }
        let prior = |c: usize| (counts[c] as f64 + 1e-3) / (n as f64 + 1e-3 * classes as f64);
        let base: Vec<f64> = if classes == 2 {
            vec![(prior(1) / prior(0)).ln()]
        } else {
            (0..classes).map(|c| prior(c).ln()).collect()
        };
        let order = presort(x);
        let mut margin: Vec<f64> = (0..n).flat_map(|_| base.iter().copied()).collect();
        let mut trees = Vec::with_capacity(params.rounds);
        let mut p = vec![0.0; classes];
        let mut g = vec![0.0; n];
        let mut h = vec![0.0; n];
        for _ in 0..params.rounds {
            let mut round = Vec::with_capacity(outputs);
            // Gradients of every output from the margins before this round.
            let mut grads = vec![(Vec::new(), Vec::new()); outputs];
            for (k, gk) in grads.iter_mut().enumerate() {
                for i in 0..n {
                    let m = &margin[i * outputs..(i + 1) * outputs];
                    let (pk, target) = if classes == 2 {
                        (sigmoid(m[0]), f64::from(u8::from(y[i] == 1)))
                    } else {
                        softmax(m, &mut p);
                        (p[k], f64::from(u8::from(y[i] == k)))
                    };
                    g[i] = pk - target;
                    h[i] = (pk * (1.0 - pk)).max(1e-16);
                }
                *gk = (g.clone(), h.clone());
            }
            for (k, (gk, hk)) in grads.iter().enumerate() {
                let tree = grow(x, &order, gk, hk, &params);
                for i in 0..n {
                    margin[i * outputs + k] += tree.predict(x.row(i));
                }
                round.push(tree);
            }
            trees.push(round);
        }
        Gbt {
            classes,
            params,
            base,
            trees,
        }
    }

    /// The margins of one imputed row (before the sigmoid or softmax).
    pub fn margins(&self, row: &[f64]) -> Vec<f64> {
        let mut m = self.base.clone();
        for round in &self.trees {
            for (k, t) in round.iter().enumerate() {
                m[k] += t.predict(row);
            }
        }
        m
    }

    pub fn predict_row(&self, row: &[f64], out: &mut [f64]) {
        let m = self.margins(row);
        if self.classes == 2 {
            let p1 = sigmoid(m[0]);
            out[0] = 1.0 - p1;
            out[1] = p1;
        } else {
            softmax(&m, out);
        }
    }
}

/// Row indices sorted by each feature's value.
fn presort(x: &Matrix) -> Vec<Vec<usize>> {
    (0..x.cols)
        .map(|j| {
            let mut idx: Vec<usize> = (0..x.rows).collect();
            idx.sort_by(|&a, &b| {
                x.data[a * x.cols + j]
                    .total_cmp(&x.data[b * x.cols + j])
                    .then(a.cmp(&b))
            });
            idx
        })
        .collect()
}

#[derive(Clone, Copy, Default)]
struct Acc {
    g: f64,
    h: f64,
    n: usize,
}

#[derive(Clone, Copy)]
struct Best {
    gain: f64,
    feature: usize,
    threshold: f32,
}

fn score(a: Acc) -> f64 {
    a.g * a.g / (a.h + LAMBDA)
}

fn grow(x: &Matrix, order: &[Vec<usize>], g: &[f64], h: &[f64], params: &GbtParams) -> Tree {
    let n = x.rows;
    let mut nodes: Vec<Node> = vec![Node::Leaf { value: 0.0 }];
    // The node each row sits in; `usize::MAX` once its node is final.
    let mut node_of = vec![0usize; n];
    let mut frontier: Vec<usize> = vec![0];
    let leaf_value = |a: Acc| -params.learning_rate * a.g / (a.h + LAMBDA);
    let mut totals: std::collections::HashMap<usize, Acc> = std::collections::HashMap::new();
    let mut all = Acc::default();
    for i in 0..n {
        all.g += g[i];
        all.h += h[i];
        all.n += 1;
    }
    totals.insert(0, all);
    for depth in 0..=params.max_depth {
        if frontier.is_empty() {
            break;
        }
        let slot: std::collections::HashMap<usize, usize> =
            frontier.iter().enumerate().map(|(s, &v)| (v, s)).collect();
        let mut best: Vec<Option<Best>> = vec![None; frontier.len()];
        if depth < params.max_depth {
            for (j, idx) in order.iter().enumerate() {
                let mut left = vec![Acc::default(); frontier.len()];
                let mut prev: Vec<Option<f64>> = vec![None; frontier.len()];
                for &i in idx {
                    let Some(&s) = slot.get(&node_of[i]) else {
                        continue;
                    };
                    let v = x.data[i * x.cols + j];
                    if let Some(pv) = prev[s] {
                        let (a32, b32) = (pv as f32, v as f32);
                        if a32 < b32 {
                            let tot = totals[&frontier[s]];
                            let l = left[s];
                            let r = Acc {
                                g: tot.g - l.g,
                                h: tot.h - l.h,
                                n: tot.n - l.n,
                            };
                            if l.n >= params.min_leaf && r.n >= params.min_leaf {
                                let gain = 0.5 * (score(l) + score(r) - score(tot));
                                if gain > 1e-12 && best[s].is_none_or(|b| gain > b.gain) {
                                    let mut t = (f64::from(a32)
                                        + (f64::from(b32) - f64::from(a32)) / 2.0)
                                        as f32;
                                    if !(a32 <= t && t < b32) {
                                        t = a32;
                                    }
                                    best[s] = Some(Best {
                                        gain,
                                        feature: j,
                                        threshold: t,
                                    });
                                }
                            }
                        }
                    }
                    left[s].g += g[i];
                    left[s].h += h[i];
                    left[s].n += 1;
                    prev[s] = Some(v);
                }
            }
        }
        let mut next = Vec::new();
        let mut split_of: std::collections::HashMap<usize, (usize, f32, usize, usize)> =
            std::collections::HashMap::new();
        for (s, &v) in frontier.iter().enumerate() {
            match best[s] {
                Some(b) => {
                    let (l, r) = (nodes.len(), nodes.len() + 1);
                    nodes.push(Node::Leaf { value: 0.0 });
                    nodes.push(Node::Leaf { value: 0.0 });
                    nodes[v] = Node::Split {
                        feature: b.feature,
                        threshold: b.threshold,
                        left: l,
                        right: r,
                    };
                    split_of.insert(v, (b.feature, b.threshold, l, r));
                    next.push(l);
                    next.push(r);
                }
                None => {
                    nodes[v] = Node::Leaf {
                        value: leaf_value(totals[&v]),
                    }
                }
            }
        }
        let mut new_totals: std::collections::HashMap<usize, Acc> =
            std::collections::HashMap::new();
        for i in 0..n {
            let v = node_of[i];
            if v == usize::MAX {
                continue;
            }
            match split_of.get(&v) {
                Some(&(f, t, l, r)) => {
                    let c = if (x.data[i * x.cols + f] as f32) <= t {
                        l
                    } else {
                        r
                    };
                    node_of[i] = c;
                    let a = new_totals.entry(c).or_default();
                    a.g += g[i];
                    a.h += h[i];
                    a.n += 1;
                }
                None => node_of[i] = usize::MAX,
            }
        }
        totals = new_totals;
        frontier = next;
    }
    for v in frontier {
        nodes[v] = Node::Leaf {
            value: leaf_value(totals.get(&v).copied().unwrap_or_default()),
        };
    }
    Tree { nodes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_threshold_and_respects_min_leaf_and_depth() {
        let xs: Vec<f64> = (0..40).map(f64::from).collect();
        let y: Vec<usize> = xs.iter().map(|&v| usize::from(v >= 20.0)).collect();
        let x = Matrix {
            rows: 40,
            cols: 1,
            data: xs,
        };
        let params = GbtParams {
            max_depth: 2,
            learning_rate: 0.3,
            rounds: 20,
            min_leaf: 3,
        };
        let m = Gbt::fit(&x, &y, 2, params);
        let mut p = [0.0; 2];
        m.predict_row(&[5.0], &mut p);
        assert!(p[1] < 0.1, "{p:?}");
        m.predict_row(&[35.0], &mut p);
        assert!(p[1] > 0.9, "{p:?}");
        let Node::Split { threshold, .. } = m.trees[0][0].nodes[0] else {
            panic!("first tree does not split")
        };
        assert_eq!(threshold, 19.5);
        for round in &m.trees {
            assert!(round[0].nodes.len() <= 7, "depth 2 has at most 7 nodes");
        }
    }

    #[test]
    fn deterministic() {
        let x = Matrix {
            rows: 6,
            cols: 2,
            data: vec![1.0, 5.0, 2.0, 4.0, 3.0, 3.0, 4.0, 2.0, 5.0, 1.0, 6.0, 0.0],
        };
        let y = vec![0, 1, 2, 0, 1, 2];
        let p = GbtParams {
            max_depth: 3,
            learning_rate: 0.1,
            rounds: 5,
            min_leaf: 1,
        };
        assert_eq!(Gbt::fit(&x, &y, 3, p), Gbt::fit(&x, &y, 3, p));
    }
}
