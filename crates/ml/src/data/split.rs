//! The train/eval split: deterministic, stratified, and stable when rows are appended.
//!
//! Each row goes to eval when the hash of its content (and the seed) falls below the eval
//! fraction. A row's side depends only on the row, so appending rows never moves an old one;
//! identical rows land on the same side, so duplicates cannot leak from train into eval. The
//! threshold is applied per class, so each class gets the eval fraction in expectation
//! (stratified); with few rows of a class, at least one goes to each side.

use super::{Frame, Labels};
use crate::rng::{hash_bytes, unit};

/// Row indices of the two sides.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub train: Vec<usize>,
    pub eval: Vec<usize>,
}

/// A stable key of row `i`: its cells joined.
pub fn row_key(frame: &Frame, labels: &Labels, i: usize) -> Vec<u8> {
    let mut key = Vec::with_capacity(64);
    for c in &frame.columns {
        if let Some(s) = c.values.cell(i) {
            key.extend_from_slice(s.as_bytes());
        }
        key.push(0x1f);
    }
    key.extend_from_slice(labels.classes[labels.y[i]].as_bytes());
    key
}

pub fn split(frame: &Frame, labels: &Labels, eval_fraction: f64, seed: u64) -> Split {
    let n = frame.rows;
    let u: Vec<f64> = (0..n)
        .map(|i| unit(hash_bytes(&row_key(frame, labels, i), seed)))
        .collect();
    let mut is_eval: Vec<bool> = u.iter().map(|&x| x < eval_fraction).collect();
    // Each class with at least two rows has a row on each side.
    for k in 0..labels.classes.len() {
        let rows: Vec<usize> = (0..n).filter(|&i| labels.y[i] == k).collect();
        if rows.len() < 2 {
            continue;
        }
        if rows.iter().all(|&i| !is_eval[i]) {
            if let Some(&i) = rows.iter().min_by(|&&a, &&b| u[a].total_cmp(&u[b])) {
                is_eval[i] = true;
            }
        } else if rows.iter().all(|&i| is_eval[i])
            && let Some(&i) = rows.iter().max_by(|&&a, &&b| u[a].total_cmp(&u[b]))
        {
            is_eval[i] = false;
        }
    }
    let (eval, train): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| is_eval[i]);
    Split { train, eval }
}

/// A regression's split: the same rule over one stratum, a row's key ending with its target.
pub fn split_values(frame: &Frame, y: &[f64], eval_fraction: f64, seed: u64) -> Split {
    let labels = Labels {
        classes: y.iter().map(|v| super::fmt_num(*v)).collect(),
        class_values: None,
        y: (0..y.len()).collect(),
    };
    let n = frame.rows;
    let u: Vec<f64> = (0..n)
        .map(|i| unit(hash_bytes(&row_key(frame, &labels, i), seed)))
        .collect();
    let mut is_eval: Vec<bool> = u.iter().map(|&x| x < eval_fraction).collect();
    // At least one row on each side.
    if n >= 2 && is_eval.iter().all(|e| !e) {
        if let Some(i) = (0..n).min_by(|&a, &b| u[a].total_cmp(&u[b])) {
            is_eval[i] = true;
        }
    } else if n >= 2
        && is_eval.iter().all(|e| *e)
        && let Some(i) = (0..n).max_by(|&a, &b| u[a].total_cmp(&u[b]))
    {
        is_eval[i] = false;
    }
    let (eval, train): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| is_eval[i]);
    Split { train, eval }
}

/// Stratified k folds of `rows` (indices into `y`), deterministic under `seed`.
pub fn folds(
    rows: &[usize],
    y: &[usize],
    n_classes: usize,
    k: usize,
    seed: u64,
) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); k];
    for class in 0..n_classes {
        let mut members: Vec<(u64, usize)> = rows
            .iter()
            .filter(|&&i| y[i] == class)
            .map(|&i| (crate::rng::mix(i as u64 ^ seed.rotate_left(17)), i))
            .collect();
        members.sort_unstable();
        for (j, (_, i)) in members.into_iter().enumerate() {
            out[j % k].push(i);
        }
    }
    for f in &mut out {
        f.sort_unstable();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{LabelRule, ReadOptions, read_csv, take_label};

    fn heart() -> (Frame, Labels) {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/heart-disease/processed.cleveland.csv"
        ))
        .expect("data");
        let mut f = read_csv(text.as_bytes(), &ReadOptions::default()).expect("csv");
        let rule = LabelRule::Binary {
            op: crate::data::Compare::Gt,
            threshold: 0.0,
        };
        let (l, _) = take_label(&mut f, "num", &rule).expect("label");
        (f, l)
    }

    #[test]
    fn deterministic_and_stratified() {
        let (f, l) = heart();
        let a = split(&f, &l, 0.2, 42);
        assert_eq!(a, split(&f, &l, 0.2, 42));
        assert_ne!(a, split(&f, &l, 0.2, 43));
        assert_eq!(a.train.len() + a.eval.len(), f.rows);
        for k in 0..2 {
            let total = l.y.iter().filter(|&&y| y == k).count() as f64;
            let in_eval = a.eval.iter().filter(|&&i| l.y[i] == k).count() as f64;
            let share = in_eval / total;
            assert!((share - 0.2).abs() < 0.08, "class {k}: eval share {share}");
        }
    }

    #[test]
    fn appending_rows_moves_no_old_row() {
        let (f, l) = heart();
        let head: Vec<usize> = (0..250).collect();
        let small = f.select_rows(&head);
        let small_l = Labels {
            y: l.y[..250].to_vec(),
            ..l.clone()
        };
        let before = split(&small, &small_l, 0.2, 42);
        let after = split(&f, &l, 0.2, 42);
        let old_eval: Vec<usize> = after.eval.iter().copied().filter(|&i| i < 250).collect();
        assert_eq!(before.eval, old_eval);
    }

    #[test]
    fn folds_partition_rows_and_keep_class_balance() {
        let (f, l) = heart();
        let rows: Vec<usize> = (0..f.rows).collect();
        let fs = folds(&rows, &l.y, 2, 5, 1);
        let mut all: Vec<usize> = fs.concat();
        all.sort_unstable();
        assert_eq!(all, rows);
        for fold in &fs {
            let pos = fold.iter().filter(|&&i| l.y[i] == 1).count();
            assert!((pos as f64 / fold.len() as f64 - 0.46).abs() < 0.05);
        }
    }
}
