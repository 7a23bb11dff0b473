//! Exact TreeSHAP for the gradient-boosted trees (Lundberg, Erion and Lee, "Consistent
//! individualized feature attribution for tree ensembles", 2018, Algorithm 2): for each tree,
//! one pass down the paths of the row, keeping for every unique feature on the path the fraction
//! of the training rows that follow it (`zero`: the feature unknown, weighted by the children's
//! covers) and whether the row follows it (`one`), and the permutation weights of the subsets of
//! those features. Cost per tree O(leaves · depth²); contributions add up to the tree's output
//! minus its cover-weighted mean, exactly.

use super::NotExplainable;
use crate::model::gbt::{Gbt, Node, Tree, goes_left};

#[derive(Debug, Clone, Copy)]
struct Step {
    /// The feature (`usize::MAX` for the root's placeholder).
    feature: usize,
    zero: f64,
    one: f64,
    weight: f64,
}

/// `(base, contributions per feature)` of each output of `m` for `row`.
pub fn explain(m: &Gbt, row: &[f64]) -> Result<Vec<(f64, Vec<f64>)>, NotExplainable> {
    let outputs = m.base.len();
    let mut buf: Vec<Step> = Vec::with_capacity(64);
    let mut out: Vec<(f64, Vec<f64>)> = m.base.iter().map(|b| (*b, vec![0.0; row.len()])).collect();
    for round in &m.trees {
        for (k, t) in round.iter().enumerate().take(outputs) {
            if t.cover.len() != t.nodes.len() {
                return Err(NotExplainable(
                    "this model's trees do not record how many training rows reached each node (trained before explanations existed); retrain it to explain its predictions".into(),
                ));
            }
            out[k].0 += expected(t, 0);
            buf.clear();
            recurse(t, row, &mut out[k].1, 0, &mut buf, 0, 1.0, 1.0, usize::MAX);
        }
    }
    Ok(out)
}

/// The cover-weighted mean of the leaves under `node`.
fn expected(t: &Tree, node: usize) -> f64 {
    match &t.nodes[node] {
        Node::Leaf { value } => *value,
        Node::Split { left, right, .. } => {
            let (cl, cr) = (t.cover[*left], t.cover[*right]);
            let total = cl + cr;
            if total <= 0.0 {
                return 0.0;
            }
            (cl * expected(t, *left) + cr * expected(t, *right)) / total
        }
    }
}

/// Add a step to the path `buf[base..]` (a new last element), updating the weights.
fn extend(buf: &mut Vec<Step>, base: usize, zero: f64, one: f64, feature: usize) {
    let depth = buf.len() - base;
    buf.push(Step {
        feature,
        zero,
        one,
        weight: if depth == 0 { 1.0 } else { 0.0 },
    });
    let path = &mut buf[base..];
    for i in (0..depth).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64 / (depth + 1) as f64;
        path[i].weight = zero * path[i].weight * (depth - i) as f64 / (depth + 1) as f64;
    }
}

/// Take step `index` out of the path `buf[base..]`.
fn unwind(buf: &mut Vec<Step>, base: usize, index: usize) {
    let path = &mut buf[base..];
    let depth = path.len() - 1;
    let (one, zero) = (path[index].one, path[index].zero);
    let mut next = path[depth].weight;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let w = path[i].weight;
            path[i].weight = next * (depth + 1) as f64 / ((i + 1) as f64 * one);
            next = w - path[i].weight * zero * (depth - i) as f64 / (depth + 1) as f64;
        } else {
            path[i].weight = path[i].weight * (depth + 1) as f64 / (zero * (depth - i) as f64);
        }
    }
    for i in index..depth {
        path[i].feature = path[i + 1].feature;
        path[i].zero = path[i + 1].zero;
        path[i].one = path[i + 1].one;
    }
    buf.pop();
}

/// The total weight of the path with the step `index` taken out (without changing it).
fn unwound_sum(path: &[Step], index: usize) -> f64 {
    let depth = path.len() - 1;
    let (one, zero) = (path[index].one, path[index].zero);
    let mut next = path[depth].weight;
    let mut total = 0.0;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let w = next * (depth + 1) as f64 / ((i + 1) as f64 * one);
            total += w;
            next = path[i].weight - w * zero * (depth - i) as f64 / (depth + 1) as f64;
        } else {
            total += path[i].weight / zero / ((depth - i) as f64 / (depth + 1) as f64);
        }
    }
    total
}

/// One node: the parent's path is `buf[parent..]`; this node's path is built after it in the
/// same buffer (no allocation once the buffer has grown to the tree's depth) and dropped on
/// return.
#[allow(clippy::too_many_arguments)]
fn recurse(
    t: &Tree,
    row: &[f64],
    phi: &mut [f64],
    node: usize,
    buf: &mut Vec<Step>,
    parent: usize,
    zero: f64,
    one: f64,
    feature: usize,
) {
    let base = buf.len();
    buf.extend_from_within(parent..base);
    extend(buf, base, zero, one, feature);
    match &t.nodes[node] {
        Node::Leaf { value } => {
            let path = &buf[base..];
            for i in 1..path.len() {
                let w = unwound_sum(path, i);
                let s = path[i];
                phi[s.feature] += w * (s.one - s.zero) * value;
            }
        }
        Node::Split {
            feature: f,
            threshold,
            left,
            right,
            missing_left,
        } => {
            let (hot, cold) = if goes_left(row[*f], *threshold, *missing_left) {
                (*left, *right)
            } else {
                (*right, *left)
            };
            let w = t.cover[node];
            let (hot_zero, cold_zero) = if w > 0.0 {
                (t.cover[hot] / w, t.cover[cold] / w)
            } else {
                (0.0, 0.0)
            };
            let (mut in_zero, mut in_one) = (1.0, 1.0);
            if let Some(k) = buf[base..].iter().position(|s| s.feature == *f) {
                in_zero = buf[base + k].zero;
                in_one = buf[base + k].one;
                unwind(buf, base, k);
            }
            recurse(t, row, phi, hot, buf, base, hot_zero * in_zero, in_one, *f);
            recurse(t, row, phi, cold, buf, base, cold_zero * in_zero, 0.0, *f);
        }
    }
    buf.truncate(base);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Brute-force Shapley values of one tree with the path-dependent value function
    /// (`E[f(x) | x_S]` estimated by following the covers where a feature is unknown).
    fn brute(t: &Tree, row: &[f64], features: usize) -> Vec<f64> {
        fn value(t: &Tree, row: &[f64], known: &[bool], node: usize) -> f64 {
            match &t.nodes[node] {
                Node::Leaf { value } => *value,
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    ..
                } => {
                    if known[*feature] {
                        let next = if (row[*feature] as f32) <= *threshold {
                            *left
                        } else {
                            *right
                        };
                        value(t, row, known, next)
                    } else {
                        let (cl, cr) = (t.cover[*left], t.cover[*right]);
                        (cl * value(t, row, known, *left) + cr * value(t, row, known, *right))
                            / (cl + cr)
                    }
                }
            }
        }
        let fact = |n: usize| (1..=n).map(|x| x as f64).product::<f64>();
        let mut phi = vec![0.0; features];
        for (i, p) in phi.iter_mut().enumerate() {
            for mask in 0..(1usize << features) {
                if mask & (1 << i) != 0 {
                    continue;
                }
                let s = mask.count_ones() as usize;
                let mut known: Vec<bool> = (0..features).map(|j| mask & (1 << j) != 0).collect();
                let without = value(t, row, &known, 0);
                known[i] = true;
                let with = value(t, row, &known, 0);
                *p += fact(s) * fact(features - s - 1) / fact(features) * (with - without);
            }
        }
        phi
    }

    fn split(feature: usize, threshold: f32, left: usize, right: usize) -> Node {
        Node::Split {
            feature,
            threshold,
            left,
            right,
            missing_left: false,
        }
    }

    #[test]
    fn tree_shap_equals_the_shapley_values_by_enumeration() {
        // A depth-3 tree splitting on feature 0 twice on one path, with uneven covers.
        let leaf = |value| Node::Leaf { value };
        let t = Tree {
            nodes: vec![
                split(0, 0.5, 1, 2),
                split(1, 1.5, 3, 4),
                split(2, 2.5, 5, 6),
                split(0, 0.2, 7, 8),
                leaf(0.3),
                leaf(-0.4),
                split(1, 0.5, 9, 10),
                leaf(1.0),
                leaf(-1.2),
                leaf(0.7),
                leaf(2.0),
            ],
            cover: vec![
                100.0, 60.0, 40.0, 35.0, 25.0, 10.0, 30.0, 20.0, 15.0, 12.0, 18.0,
            ],
        };
        let m = Gbt {
            classes: 2,
            params: crate::model::GbtParams {
                max_depth: 3,
                learning_rate: 0.1,
                rounds: 1,
                min_leaf: 1,
            },
            base: vec![0.25],
            trees: vec![vec![t.clone()]],
            learned_missing: true,
            loss: crate::model::gbt::Loss::LogLoss,
        };
        for row in [
            [0.1, 1.0, 3.0],
            [0.3, 2.0, 0.0],
            [0.9, 0.0, 3.0],
            [0.9, 1.0, 1.0],
        ] {
            let got = explain(&m, &row).unwrap();
            let want = brute(&t, &row, 3);
            for (g, w) in got[0].1.iter().zip(&want) {
                assert!((g - w).abs() < 1e-12, "{row:?}: {:?} vs {want:?}", got[0].1);
            }
            let margin = m.margins(&row)[0];
            let sum = got[0].0 + got[0].1.iter().sum::<f64>();
            assert!((sum - margin).abs() < 1e-12, "{sum} vs {margin}");
        }
    }
}
