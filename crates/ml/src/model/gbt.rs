//! Gradient-boosted trees: for a classification, log loss (binary) or softmax (multiclass) with
//! second order (Newton) leaf values; for a regression, squared, Huber or absolute error
//! ([`Loss`]). Splits are found on gradient histograms, trees grown level by level.
//!
//! Each feature is binned once per fit ([`Binned`]): its distinct `f32` values when there are at
//! most 255 of them (then the candidate splits are exactly those of an exact greedy splitter),
//! otherwise 255 bins of about equal counts, and one more bin for missing values (NaN). A node's split is found from per-bin sums of the
//! gradients and hessians; a split node builds the histogram of its smaller child only and gets
//! the other's by subtracting it from its own (LightGBM's and XGBoost `hist`'s method).
//!
//! Trees split on the raw features. A threshold is the `f32` midpoint between the largest
//! value of a bin and the smallest of the next, and a row goes left when
//! `(x as f32) <= threshold`, exactly the comparison ONNX's `BRANCH_LEQ` makes on `f32` inputs,
//! so the exported model takes the same paths. Missing values have a learned default direction
//! (XGBoost's sparsity-aware split): a split is scored with the node's missing rows on either
//! side, and they go where the gain is higher; when the node has none, they go where the
//! feature's fill value (the training median, or the most frequent category) goes, so a model
//! of complete data predicts a row with a missing value as if it held the fill value. The ONNX
//! graph carries the direction in `nodes_missing_value_tracks_true`. Deterministic: no sampling, ties go to the first
//! feature and the lowest threshold, and every histogram is summed in the same row order however
//! many threads build them.

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

/// What the trees minimise: a classification's log loss, or a regression's error
/// (`model.loss`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    #[default]
    LogLoss,
    /// Squared error: the trees fit the mean.
    #[serde(rename = "squared_error")]
    Squared,
    /// Huber's loss: squared for errors up to the 90th percentile of the current absolute
    /// errors (re-estimated every round, as scikit-learn's `GradientBoostingRegressor` does),
    /// absolute past it, so that a few wild targets do not pull the fit.
    Huber,
    /// Absolute error: the trees fit the median; each leaf's value is the median of its rows'
    /// residuals (LightGBM's `l1`).
    #[serde(rename = "absolute_error")]
    Absolute,
}

crate::names::named!(Loss, "a loss", {
    LogLoss => "log_loss",
    Squared => "squared_error",
    Huber => "huber",
    Absolute => "absolute_error",
});

impl Loss {
    /// The losses of a regression (`model.loss`), the default first.
    pub const REGRESSION: [Loss; 3] = [Loss::Squared, Loss::Huber, Loss::Absolute];

    pub fn is_log_loss(&self) -> bool {
        *self == Loss::LogLoss
    }
}

/// L2 regularisation of leaf values (XGBoost's `lambda`).
pub const LAMBDA: f64 = 1.0;

/// At most this many bins of values per feature (the code after a feature's last bin marks a
/// missing value, and codes are bytes).
pub const MAX_BINS: usize = 255;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Node {
    Split {
        feature: usize,
        threshold: f32,
        left: usize,
        right: usize,
        /// Whether a missing value (NaN) goes left.
        #[serde(default)]
        missing_left: bool,
    },
    Leaf {
        value: f64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
    /// The training rows that reached each node (what exact TreeSHAP weighs the paths by);
    /// empty in models from before it was recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cover: Vec<f64>,
}

/// Whether a split sends `x` left: a value compared in `f32` with the threshold, a missing
/// value (NaN) where the split learned it goes.
pub fn goes_left(x: f64, threshold: f32, missing_left: bool) -> bool {
    if x.is_nan() {
        missing_left
    } else {
        (x as f32) <= threshold
    }
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
                    missing_left,
                } => {
                    i = if goes_left(row[*feature], *threshold, *missing_left) {
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
    /// Class count; 0 for a regression, whose one output is the predicted value.
    pub classes: usize,
    pub params: GbtParams,
    /// Initial margin per output (1 for binary, one per class otherwise).
    pub base: Vec<f64>,
    /// `trees[round][output]`.
    pub trees: Vec<Vec<Tree>>,
    /// Whether the trees take missing values as NaN (their splits learned where they go).
    /// Models from before learned directions (`false`) take imputed rows.
    #[serde(default)]
    pub learned_missing: bool,
    /// What the trees minimised (absent: a classification's log loss).
    #[serde(default, skip_serializing_if = "Loss::is_log_loss")]
    pub loss: Loss,
}

/// The rows of a matrix binned per feature, once per fit (and shared by the fits of a search).
#[derive(Debug, Clone, PartialEq)]
pub struct Binned {
    rows: usize,
    cols: usize,
    /// Row-major bin of every value: `codes[i * cols + j]` (a row's bins are read together
    /// when histograms are built).
    codes: Vec<u8>,
    /// The same, column-major: `columns[j * rows + i]` (one feature's bins are read together
    /// when a node's rows are partitioned).
    columns: Vec<u8>,
    /// `thresholds[j][b]` separates bin `b` from bin `b + 1` of feature `j`: a value is in a bin
    /// `<= b` exactly when `(x as f32) <= thresholds[j][b]`. A missing value's code is
    /// `thresholds[j].len() + 1`, the bin after the last.
    thresholds: Vec<Vec<f32>>,
    /// The bin of each feature's fill value: where missing values go at a node that has none.
    fill_bins: Vec<usize>,
}

impl Binned {
    /// Bin every column of `x` (NaN = missing; the work is spread over `threads`). A feature's
    /// fill value is the median of its present values.
    pub fn new(x: &Matrix, threads: usize) -> Binned {
        Binned::with_fills(x, None, threads)
    }

    /// Bin every column of `x`, with the features' fill values when given (the
    /// preprocessing's: the median, or the most frequent category).
    pub fn with_fills(x: &Matrix, fills: Option<&[f64]>, threads: usize) -> Binned {
        let column = |j: usize| (0..x.rows).map(|i| x.data[i * x.cols + j] as f32).collect();
        Binned::from_columns(x.rows, x.cols, column, fills, threads)
    }

    /// Bin `cols` columns of `rows` values each, `column(j)` giving column `j` (as `f32`, NaN =
    /// missing) when it is binned, so that only the columns being binned are held at once.
    pub fn from_columns(
        rows: usize,
        cols: usize,
        column: impl Fn(usize) -> Vec<f32> + Sync,
        fills: Option<&[f64]>,
        threads: usize,
    ) -> Binned {
        let js: Vec<usize> = (0..cols).collect();
        let per_column = crate::par::map(&js, threads, |&j| {
            let values = column(j);
            let (thresholds, median) = thresholds(&values);
            let missing = (thresholds.len() + 1) as u8;
            let code = |v: f32| thresholds.partition_point(|&t| t < v);
            let codes: Vec<u8> = values
                .iter()
                .map(|&v| if v.is_nan() { missing } else { code(v) as u8 })
                .collect();
            let fill = fills.and_then(|f| f.get(j)).map_or(median, |&f| f as f32);
            let fill_bin = code(fill);
            (codes, thresholds, fill_bin)
        });
        let mut codes = vec![0u8; rows * cols];
        let mut columns = Vec::with_capacity(rows * cols);
        let mut ts = Vec::with_capacity(cols);
        let mut fill_bins = Vec::with_capacity(cols);
        for (j, (c, t, f)) in per_column.into_iter().enumerate() {
            for (i, &code) in c.iter().enumerate() {
                codes[i * cols + j] = code;
            }
            columns.extend_from_slice(&c);
            ts.push(t);
            fill_bins.push(f);
        }
        Binned {
            rows,
            cols,
            codes,
            columns,
            thresholds: ts,
            fill_bins,
        }
    }

    /// Feature `j`'s bins, row after row.
    fn column(&self, j: usize) -> &[u8] {
        &self.columns[j * self.rows..(j + 1) * self.rows]
    }

    /// Bins of feature `j` (one more than its thresholds).
    fn bins(&self, j: usize) -> usize {
        self.thresholds[j].len() + 1
    }
}

/// The `f32` midpoint of two consecutive distinct values `a < b`, or `a` when no `f32` lies
/// strictly between them.
fn midpoint(a: f32, b: f32) -> f32 {
    let t = (f64::from(a) + (f64::from(b) - f64::from(a)) / 2.0) as f32;
    if a <= t && t < b { t } else { a }
}

/// The thresholds between the bins of one column: between every two consecutive distinct values
/// when there are at most [`MAX_BINS`] of them, otherwise at about equal counts; and the median
/// of the present values (0 when there are none).
fn thresholds(values: &[f32]) -> (Vec<f32>, f32) {
    let mut sorted: Vec<f32> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    sorted.sort_unstable_by(f32::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    // Distinct values with their counts.
    let mut distinct: Vec<(f32, usize)> = Vec::new();
    for v in sorted {
        match distinct.last_mut() {
            Some((d, c)) if *d == v => *c += 1,
            _ => distinct.push((v, 1)),
        }
    }
    if distinct.len() <= MAX_BINS {
        let t = distinct
            .windows(2)
            .map(|w| midpoint(w[0].0, w[1].0))
            .collect();
        return (t, median);
    }
    // Close a bin once it holds its share of what remains, so that a very frequent value does
    // not leave the last bins empty.
    let mut out = Vec::with_capacity(MAX_BINS - 1);
    let mut left: usize = distinct.iter().map(|d| d.1).sum();
    let mut in_bin = 0usize;
    for (i, w) in distinct.windows(2).enumerate() {
        in_bin += w[0].1;
        let bins_left = MAX_BINS - out.len();
        let distinct_left = distinct.len() - i - 1;
        if in_bin * bins_left >= left || distinct_left < bins_left {
            out.push(midpoint(w[0].0, w[1].0));
            left -= in_bin;
            in_bin = 0;
            if out.len() == MAX_BINS - 1 {
                break;
            }
        }
    }
    (out, median)
}

/// The rows early stopping measures a regression's fit on: each row as the trees take it (NaN
/// = missing), its target, and how many rounds without improvement stop the fit.
pub struct Validation<'a> {
    pub rows: &'a [Vec<f64>],
    pub y: &'a [f64],
    pub patience: usize,
}

/// Early stopping's state: the validation rows' predictions, the best round and its error.
struct Stopping {
    pred: Vec<f64>,
    round: usize,
    best: usize,
    best_error: f64,
}

impl Stopping {
    fn new(valid: Option<&Validation<'_>>, base: f64) -> Stopping {
        Stopping {
            pred: vec![base; valid.map_or(0, |v| v.rows.len())],
            round: 0,
            best: 0,
            best_error: f64::INFINITY,
        }
    }

    /// Add round `tree` to the validation predictions; whether the fit stops here.
    fn step(&mut self, tree: &Tree, v: &Validation<'_>, loss: Loss) -> bool {
        let mut error = 0.0;
        for ((p, row), t) in self.pred.iter_mut().zip(v.rows).zip(v.y) {
            *p += tree.predict(row);
            let d = t - *p;
            error += if loss == Loss::Absolute {
                d.abs()
            } else {
                d * d
            };
        }
        if error < self.best_error {
            (self.best, self.best_error) = (self.round, error);
        }
        self.round += 1;
        self.round - self.best > v.patience.max(1)
    }
}

/// The `q` quantile of `values` (the lower one of the two around it; 0 when there are none).
fn quantile(mut values: Vec<f64>, q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let k = ((values.len() - 1) as f64 * q).floor() as usize;
    *values.select_nth_unstable_by(k, f64::total_cmp).1
}

/// Sums of gradients, hessians and rows.
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    g: f64,
    h: f64,
    n: u32,
}

impl Acc {
    fn minus(self, o: Acc) -> Acc {
        Acc {
            g: self.g - o.g,
            h: self.h - o.h,
            n: self.n - o.n,
        }
    }

    fn score(self) -> f64 {
        self.g * self.g / (self.h + LAMBDA)
    }
}

#[derive(Debug, Clone, Copy)]
struct Best {
    gain: f64,
    feature: usize,
    bin: usize,
    /// The left child's sums, its missing rows included when they go left.
    left: Acc,
    missing_left: bool,
}

/// Work over fewer rows than this (a node's histograms, a level's partitions, a chunk of
/// gradients) stays on one thread.
const PARALLEL_ROWS: usize = 16_384;

impl Gbt {
    pub fn fit(x: &Matrix, y: &[usize], classes: usize, params: GbtParams) -> Gbt {
        let threads = crate::par::threads();
        Gbt::fit_binned(&Binned::new(x, threads), y, classes, params, threads)
    }

    /// Fit on binned rows, building histograms on up to `threads` threads (the model does not
    /// depend on it).
    pub fn fit_binned(
        x: &Binned,
        y: &[usize],
        classes: usize,
        params: GbtParams,
        threads: usize,
    ) -> Gbt {
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
        let mut margin: Vec<f64> = (0..n).flat_map(|_| base.iter().copied()).collect();
        let mut trees = Vec::with_capacity(params.rounds);
        let mut grower = Grower::new(x, params, threads);
        let mut g = vec![vec![0.0; n]; outputs];
        let mut h = vec![vec![0.0; n]; outputs];
        for _ in 0..params.rounds {
            gradients(&margin, y, classes, &mut g, &mut h, threads);
            let mut round = Vec::with_capacity(outputs);
            for k in 0..outputs {
                let tree = grower.grow(&g[k], &h[k]);
                // The leaves' rows are known: add each leaf's value to them, which is what
                // `tree.predict` gives for these rows.
                for &(start, end, value, _) in &grower.leaves {
                    for &r in &grower.rows[start..end] {
                        margin[r as usize * outputs + k] += value;
                    }
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
            learned_missing: true,
            loss: Loss::LogLoss,
        }
    }

    /// Fit a regression of `y` on binned rows with `loss` (squared, Huber or absolute error;
    /// the log loss is a classification's and fits as squared error here), histograms built on
    /// up to `threads` threads (the model does not depend on it).
    pub fn fit_regression(
        x: &Binned,
        y: &[f64],
        loss: Loss,
        params: GbtParams,
        threads: usize,
    ) -> Gbt {
        Gbt::fit_regression_stopping(x, y, loss, params, threads, None)
    }

    /// [`Gbt::fit_regression`], stopped early on `valid`: after each round the validation
    /// rows' error (squared; absolute for [`Loss::Absolute`]) is measured, and when it has not
    /// improved for `valid.patience` rounds the fit stops and keeps the rounds up to the best.
    pub fn fit_regression_stopping(
        x: &Binned,
        y: &[f64],
        loss: Loss,
        params: GbtParams,
        threads: usize,
        valid: Option<Validation<'_>>,
    ) -> Gbt {
        let n = x.rows;
        let base = match loss {
            Loss::Huber | Loss::Absolute => quantile(y.to_vec(), 0.5),
            Loss::LogLoss | Loss::Squared => y.iter().sum::<f64>() / n.max(1) as f64,
        };
        let mut pred = vec![base; n];
        let mut trees = Vec::with_capacity(params.rounds);
        let mut grower = Grower::new(x, params, threads);
        grower.unit_hessians = true;
        let mut g = vec![0.0; n];
        let h = vec![1.0; n];
        let mut stopping = Stopping::new(valid.as_ref(), base);
        for _ in 0..params.rounds {
            let delta = if loss == Loss::Huber {
                quantile(
                    y.iter().zip(&pred).map(|(a, b)| (a - b).abs()).collect(),
                    0.9,
                )
            } else {
                0.0
            };
            for i in 0..n {
                let r = y[i] - pred[i];
                g[i] = match loss {
                    Loss::Huber => -r.clamp(-delta, delta),
                    Loss::Absolute => -f64::from(i8::from(r > 0.0) - i8::from(r < 0.0)),
                    Loss::LogLoss | Loss::Squared => -r,
                };
            }
            let mut tree = grower.grow(&g, &h);
            if loss == Loss::Absolute {
                // A leaf's value is the median of its rows' residuals (times the rate).
                let lr = params.learning_rate;
                for leaf in &mut grower.leaves {
                    let residuals = grower.rows[leaf.0..leaf.1]
                        .iter()
                        .map(|&r| y[r as usize] - pred[r as usize])
                        .collect();
                    leaf.2 = lr * quantile(residuals, 0.5);
                    tree.nodes[leaf.3] = Node::Leaf { value: leaf.2 };
                }
            }
            for &(start, end, value, _) in &grower.leaves {
                for &r in &grower.rows[start..end] {
                    pred[r as usize] += value;
                }
            }
            let stop = valid
                .as_ref()
                .is_some_and(|v| stopping.step(&tree, v, loss));
            trees.push(vec![tree]);
            if stop {
                break;
            }
        }
        if valid.is_some() {
            // The rounds up to the best on the validation rows.
            trees.truncate(stopping.best + 1);
        }
        Gbt {
            classes: 0,
            params,
            base: vec![base],
            trees,
            learned_missing: true,
            loss,
        }
    }

    /// The margins of one row (NaN = missing; before the sigmoid or softmax).
    pub fn margins(&self, row: &[f64]) -> Vec<f64> {
        let mut m = self.base.clone();
        for round in &self.trees {
            for (k, t) in round.iter().enumerate() {
                m[k] += t.predict(row);
            }
        }
        m
    }

    /// The class probabilities of one row into `out`, or a regression's value into `out[0]`.
    pub fn predict_row(&self, row: &[f64], out: &mut [f64]) {
        let m = self.margins(row);
        if self.classes == 0 {
            out[0] = m[0];
        } else if self.classes == 2 {
            let p1 = sigmoid(m[0]);
            out[0] = 1.0 - p1;
            out[1] = p1;
        } else {
            softmax(&m, out);
        }
    }
}

/// The gradients and hessians of every output at the current margins, rows spread over
/// `threads` (each row's values depend on that row only).
fn gradients(
    margin: &[f64],
    y: &[usize],
    classes: usize,
    g: &mut [Vec<f64>],
    h: &mut [Vec<f64>],
    threads: usize,
) {
    let outputs = g.len();
    let n = y.len();
    let chunk = n.div_ceil(threads.max(1)).max(PARALLEL_ROWS);
    let mut gs: Vec<_> = g.iter_mut().map(|v| v.chunks_mut(chunk)).collect();
    let mut hs: Vec<_> = h.iter_mut().map(|v| v.chunks_mut(chunk)).collect();
    let mut parts = Vec::new();
    for start in (0..n).step_by(chunk) {
        let gk: Vec<&mut [f64]> = gs.iter_mut().filter_map(Iterator::next).collect();
        let hk: Vec<&mut [f64]> = hs.iter_mut().filter_map(Iterator::next).collect();
        parts.push((start, gk, hk));
    }
    let one = |(start, mut gk, mut hk): (usize, Vec<&mut [f64]>, Vec<&mut [f64]>)| {
        let mut p = vec![0.0; classes];
        let len = gk.first().map_or(0, |s| s.len());
        for i in 0..len {
            let row = start + i;
            let m = &margin[row * outputs..(row + 1) * outputs];
            if classes == 2 {
                let pk = sigmoid(m[0]);
                gk[0][i] = pk - f64::from(u8::from(y[row] == 1));
                hk[0][i] = (pk * (1.0 - pk)).max(1e-16);
            } else {
                softmax(m, &mut p);
                for k in 0..outputs {
                    gk[k][i] = p[k] - f64::from(u8::from(y[row] == k));
                    hk[k][i] = (p[k] * (1.0 - p[k])).max(1e-16);
                }
            }
        }
    };
    if parts.len() <= 1 {
        parts.into_iter().for_each(one);
        return;
    }
    std::thread::scope(|s| {
        for part in parts {
            s.spawn(move || one(part));
        }
    });
}

/// A split node's rows `rows[start..end]` to divide between its children.
struct Cut {
    start: usize,
    end: usize,
    feature: usize,
    bin: usize,
    missing_left: bool,
}

/// A node waiting to be split: its rows `rows[start..end]`, their sums and histogram.
struct Open {
    node: usize,
    start: usize,
    end: usize,
    sum: Acc,
    hist: Vec<Acc>,
}

/// What growing trees on one binned matrix reuses from tree to tree.
struct Grower<'a> {
    x: &'a Binned,
    params: GbtParams,
    threads: usize,
    /// Where each feature's bins start in a histogram.
    offsets: Vec<usize>,
    width: usize,
    /// Row indices, grouped by node: every node owns a contiguous range.
    rows: Vec<u32>,
    /// The leaves of the last tree: `(start, end, value, node)`: a range of `rows`, the
    /// leaf's value and its node in the tree.
    leaves: Vec<(usize, usize, f64, usize)>,
    /// Whether every hessian is 1 (a regression's losses), so that histograms count rows
    /// instead of summing hessians.
    unit_hessians: bool,
}

impl<'a> Grower<'a> {
    fn new(x: &'a Binned, params: GbtParams, threads: usize) -> Self {
        let mut offsets = Vec::with_capacity(x.cols);
        let mut width = 0;
        for j in 0..x.cols {
            offsets.push(width);
            // The values' bins, then the missing values'.
            width += x.bins(j) + 1;
        }
        Grower {
            x,
            params,
            threads: threads.max(1),
            offsets,
            width,
            rows: Vec::new(),
            leaves: Vec::new(),
            unit_hessians: false,
        }
    }

    /// The histograms of the row ranges `rows[start..end]`. Each row's bins are read together
    /// and added to independent bins, so the additions of one row overlap. Several ranges are
    /// spread over the threads one per thread; a single large one has its features split into
    /// one contiguous group per thread. Every bin is summed in row order whatever the
    /// grouping, so the sums do not depend on the threads.
    fn histograms(&self, ranges: &[(usize, usize)], g: &[f64], h: &[f64]) -> Vec<Vec<Acc>> {
        let cols = self.x.cols;
        let rows: usize = ranges.iter().map(|(s, e)| e - s).sum();
        if ranges.len() >= self.threads || rows < PARALLEL_ROWS {
            return crate::par::map(
                ranges,
                self.threads.min(1 + rows / PARALLEL_ROWS),
                |&(s, e)| self.histogram(s, e, 0, cols, g, h),
            );
        }
        ranges
            .iter()
            .map(|&(s, e)| {
                let threads = self.threads.min(cols);
                let groups: Vec<(usize, usize)> = (0..threads)
                    .map(|t| (t * cols / threads, (t + 1) * cols / threads))
                    .collect();
                let parts = crate::par::map(&groups, threads, |&(j0, j1)| {
                    self.histogram(s, e, j0, j1, g, h)
                });
                let mut hist = Vec::with_capacity(self.width);
                for p in parts {
                    hist.extend(p);
                }
                hist
            })
            .collect()
    }

    /// The histogram of features `j0..j1` over the rows `rows[start..end]`.
    fn histogram(
        &self,
        start: usize,
        end: usize,
        j0: usize,
        j1: usize,
        g: &[f64],
        h: &[f64],
    ) -> Vec<Acc> {
        let (x, offsets, width) = (self.x, &self.offsets, self.width);
        let lo = offsets.get(j0).copied().unwrap_or(width);
        let hi = offsets.get(j1).copied().unwrap_or(width);
        let starts: Vec<usize> = offsets[j0..j1].iter().map(|o| o - lo).collect();
        if self.unit_hessians {
            // Every hessian is 1 (a regression): a bin's is its row count, not summed, and the
            // sums are kept in 16 bytes a bin instead of 24 while the rows are read.
            let mut sums = vec![(0.0f64, 0u32); hi - lo];
            for &r in &self.rows[start..end] {
                let r = r as usize;
                let gr = g[r];
                let codes = &x.codes[r * x.cols + j0..r * x.cols + j1];
                for (&c, &s) in codes.iter().zip(&starts) {
                    let b = &mut sums[s + usize::from(c)];
                    b.0 += gr;
                    b.1 += 1;
                }
            }
            return sums
                .into_iter()
                .map(|(g, n)| Acc {
                    g,
                    h: f64::from(n),
                    n,
                })
                .collect();
        }
        let mut hist = vec![Acc::default(); hi - lo];
        for &r in &self.rows[start..end] {
            let r = r as usize;
            let (gr, hr) = (g[r], h[r]);
            let codes = &x.codes[r * x.cols + j0..r * x.cols + j1];
            for (&c, &s) in codes.iter().zip(&starts) {
                let b = &mut hist[s + usize::from(c)];
                b.g += gr;
                b.h += hr;
                b.n += 1;
            }
        }
        hist
    }

    /// The best split of a node, if any gains.
    fn best(&self, o: &Open) -> Option<Best> {
        let min_leaf = self.params.min_leaf as u32;
        if o.sum.n < 2 * min_leaf.max(1) {
            return None;
        }
        let parent = o.sum.score();
        let mut best: Option<Best> = None;
        for (j, &off) in self.offsets.iter().enumerate() {
            let nb = self.x.bins(j);
            let bins = &o.hist[off..off + nb];
            let missing = o.hist[off + nb];
            let fill_bin = self.x.fill_bins[j];
            let mut left = Acc::default();
            // The last bin cannot be a left side: every value would go left.
            for (b, acc) in bins[..nb - 1].iter().enumerate() {
                left.g += acc.g;
                left.h += acc.h;
                left.n += acc.n;
                if acc.n == 0 {
                    continue;
                }
                // Missing rows to the fill value's side first, so that a tie keeps them there.
                let fill_left = fill_bin <= b;
                let sides = if missing.n == 0 {
                    [Some(fill_left), None]
                } else {
                    [Some(fill_left), Some(!fill_left)]
                };
                for missing_left in sides.into_iter().flatten() {
                    let l = if missing_left {
                        Acc {
                            g: left.g + missing.g,
                            h: left.h + missing.h,
                            n: left.n + missing.n,
                        }
                    } else {
                        left
                    };
                    let right = o.sum.minus(l);
                    if l.n < min_leaf || right.n < min_leaf {
                        continue;
                    }
                    let gain = 0.5 * (l.score() + right.score() - parent);
                    if gain > 1e-12 && best.is_none_or(|x| gain > x.gain) {
                        best = Some(Best {
                            gain,
                            feature: j,
                            bin: b,
                            left: l,
                            missing_left,
                        });
                    }
                }
            }
        }
        best
    }

    fn grow(&mut self, g: &[f64], h: &[f64]) -> Tree {
        let n = self.x.rows;
        let lr = self.params.learning_rate;
        let leaf_value = |a: Acc| -lr * a.g / (a.h + LAMBDA);
        self.rows.clear();
        self.rows.extend(0..n as u32);
        self.leaves.clear();
        let mut nodes = vec![Node::Leaf { value: 0.0 }];
        let mut cover = vec![n as f64];
        let mut sum = Acc::default();
        for i in 0..n {
            sum.g += g[i];
            sum.h += h[i];
            sum.n += 1;
        }
        let hist = if self.params.max_depth > 0 {
            self.histograms(&[(0, n)], g, h).pop().unwrap_or_default()
        } else {
            Vec::new()
        };
        let mut frontier = vec![Open {
            node: 0,
            start: 0,
            end: n,
            sum,
            hist,
        }];
        for depth in 0..=self.params.max_depth {
            // Split what gains, then partition the split nodes' rows.
            let mut split = Vec::new();
            for o in frontier {
                let best = if depth < self.params.max_depth {
                    self.best(&o)
                } else {
                    None
                };
                let Some(b) = best else {
                    let value = leaf_value(o.sum);
                    nodes[o.node] = Node::Leaf { value };
                    self.leaves.push((o.start, o.end, value, o.node));
                    continue;
                };
                let (l, r) = (nodes.len(), nodes.len() + 1);
                nodes.push(Node::Leaf { value: 0.0 });
                nodes.push(Node::Leaf { value: 0.0 });
                cover.push(b.left.n as f64);
                cover.push((o.sum.n - b.left.n) as f64);
                nodes[o.node] = Node::Split {
                    feature: b.feature,
                    threshold: self.x.thresholds[b.feature][b.bin],
                    left: l,
                    right: r,
                    missing_left: b.missing_left,
                };
                split.push((o, b, l, r));
            }
            let jobs: Vec<Cut> = split
                .iter()
                .map(|(o, b, _, _)| Cut {
                    start: o.start,
                    end: o.end,
                    feature: b.feature,
                    bin: b.bin,
                    missing_left: b.missing_left,
                })
                .collect();
            let mids = self.partition(&jobs);
            // With where each right side starts, and whether the left child is the smaller.
            let split: Vec<_> = split
                .into_iter()
                .zip(mids)
                .map(|((o, b, l, r), mid)| {
                    let left_smaller = mid - o.start <= o.end - mid;
                    (o, b, mid, left_smaller, l, r)
                })
                .collect();
            // The smaller child of every split node gets its histogram (all of them at once,
            // spread over the threads); the larger one's is its parent's minus it. Children at
            // the last level need none.
            let need = depth + 1 < self.params.max_depth;
            let small: Vec<(usize, usize)> = split
                .iter()
                .map(|&(ref o, _, mid, left_smaller, _, _)| {
                    if left_smaller {
                        (o.start, mid)
                    } else {
                        (mid, o.end)
                    }
                })
                .collect();
            let mut small_hists = if need {
                self.histograms(&small, g, h)
            } else {
                Vec::new()
            }
            .into_iter();
            let mut next = Vec::with_capacity(2 * split.len());
            for (o, b, mid, left_smaller, l, r) in split {
                let (left_hist, right_hist) = match small_hists.next() {
                    Some(small) => {
                        let large: Vec<Acc> = o
                            .hist
                            .iter()
                            .zip(&small)
                            .map(|(p, s)| p.minus(*s))
                            .collect();
                        if left_smaller {
                            (small, large)
                        } else {
                            (large, small)
                        }
                    }
                    None => (Vec::new(), Vec::new()),
                };
                next.push(Open {
                    node: l,
                    start: o.start,
                    end: mid,
                    sum: b.left,
                    hist: left_hist,
                });
                next.push(Open {
                    node: r,
                    start: mid,
                    end: o.end,
                    sum: o.sum.minus(b.left),
                    hist: right_hist,
                });
            }
            frontier = next;
            if frontier.is_empty() {
                break;
            }
        }
        Tree { nodes, cover }
    }

    /// For each cut, reorder `rows[start..end]` so that the rows going left (bin of `feature`
    /// `<= bin`, or missing when missing values go left) come first, each side keeping its
    /// order; returns where each right side starts. The ranges are cut into pieces partitioned
    /// on the threads, then put back in order, so the result does not depend on the threads.
    fn partition(&mut self, jobs: &[Cut]) -> Vec<usize> {
        const PIECE: usize = 1 << 16;
        let pieces: Vec<(usize, usize, &Cut)> = jobs
            .iter()
            .flat_map(|c| {
                (c.start..c.end)
                    .step_by(PIECE)
                    .map(move |s| (s, (s + PIECE).min(c.end), c))
            })
            .collect();
        let (x, rows) = (self.x, &self.rows);
        let total: usize = jobs.iter().map(|j| j.end - j.start).sum();
        let threads = self.threads.min(1 + total / PARALLEL_ROWS);
        let parts = crate::par::map(&pieces, threads, |&(s, e, c)| {
            let col = x.column(c.feature);
            let missing = x.bins(c.feature);
            let (left, right): (Vec<u32>, Vec<u32>) = rows[s..e].iter().partition(|&&r| {
                let code = usize::from(col[r as usize]);
                code <= c.bin || (code == missing && c.missing_left)
            });
            (left, right)
        });
        let mut parts = parts.into_iter();
        let mut mids = Vec::with_capacity(jobs.len());
        for &Cut { start, end, .. } in jobs {
            let n = (end - start).div_ceil(PIECE);
            let mine: Vec<(Vec<u32>, Vec<u32>)> = parts.by_ref().take(n).collect();
            let mut w = start;
            for (left, _) in &mine {
                self.rows[w..w + left.len()].copy_from_slice(left);
                w += left.len();
            }
            mids.push(w);
            for (_, right) in &mine {
                self.rows[w..w + right.len()].copy_from_slice(right);
                w += right.len();
            }
        }
        mids
    }
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

    /// `rows × cols` values with many distinct values in column 0, few in column 1, and a label
    /// that depends on both.
    fn data(rows: usize, cols: usize) -> (Matrix, Vec<usize>) {
        let mut rng = crate::rng::Rng::new(7);
        let mut data = Vec::with_capacity(rows * cols);
        let mut y = Vec::with_capacity(rows);
        for _ in 0..rows {
            let a = rng.unit() * 100.0;
            let b = (rng.unit() * 5.0).floor();
            data.push(a);
            data.push(b);
            for _ in 2..cols {
                data.push(rng.unit());
            }
            y.push(usize::from(a + 10.0 * b + 20.0 * rng.unit() > 80.0));
        }
        (Matrix { rows, cols, data }, y)
    }

    #[test]
    fn bins_are_exact_for_few_values_and_of_about_equal_counts_for_many() {
        let (x, _) = data(20_000, 2);
        let b = Binned::new(&x, 1);
        assert_eq!(b.thresholds[1], vec![0.5, 1.5, 2.5, 3.5]);
        assert_eq!(b.thresholds[0].len(), MAX_BINS - 1);
        let mut counts = vec![0usize; MAX_BINS];
        for i in 0..x.rows {
            let c = usize::from(b.column(0)[i]);
            assert_eq!(b.codes[i * 2], b.column(0)[i], "both layouts agree");
            counts[c] += 1;
            let v = x.data[i * 2] as f32;
            // The code agrees with the thresholds as the exported model compares them.
            if c > 0 {
                assert!(v > b.thresholds[0][c - 1]);
            }
            if c < MAX_BINS - 1 {
                assert!(v <= b.thresholds[0][c]);
            }
        }
        let share = 20_000 / MAX_BINS;
        assert!(
            counts.iter().all(|&c| c >= share / 2 && c <= share * 2),
            "{counts:?}"
        );
    }

    #[test]
    fn a_frequent_value_does_not_leave_bins_empty() {
        // Half the rows hold one value; the others are all distinct.
        let rows = 10_000;
        let data: Vec<f64> = (0..rows)
            .map(|i| if i % 2 == 0 { 0.0 } else { i as f64 })
            .collect();
        let b = Binned::new(
            &Matrix {
                rows,
                cols: 1,
                data,
            },
            1,
        );
        assert_eq!(b.thresholds[0].len(), MAX_BINS - 1);
        let mut counts = vec![0usize; MAX_BINS];
        for i in 0..rows {
            counts[usize::from(b.column(0)[i])] += 1;
        }
        assert_eq!(counts[0], rows / 2);
        assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
    }

    #[test]
    fn the_rows_of_each_leaf_are_those_the_tree_sends_there() {
        let (x, y) = data(5_000, 3);
        let b = Binned::new(&x, 1);
        let params = GbtParams {
            max_depth: 4,
            learning_rate: 0.3,
            rounds: 1,
            min_leaf: 5,
        };
        let mut grower = Grower::new(&b, params, 1);
        let g: Vec<f64> = y.iter().map(|&c| 0.5 - c as f64).collect();
        let h = vec![0.25; y.len()];
        let tree = grower.grow(&g, &h);
        assert!(tree.nodes.len() > 7, "the tree grew: {}", tree.nodes.len());
        let mut seen = 0;
        for &(start, end, value, _) in &grower.leaves {
            for &r in &grower.rows[start..end] {
                assert_eq!(tree.predict(x.row(r as usize)), value);
                seen += 1;
            }
        }
        assert_eq!(seen, x.rows, "every row is in one leaf");
    }

    #[test]
    fn the_model_does_not_depend_on_the_threads() {
        // Large enough that the root's histograms are built on several threads.
        let (x, y) = data(2 * PARALLEL_ROWS, 4);
        let params = GbtParams {
            max_depth: 3,
            learning_rate: 0.2,
            rounds: 5,
            min_leaf: 20,
        };
        let one = Gbt::fit_binned(&Binned::new(&x, 1), &y, 2, params, 1);
        for threads in [2, 3] {
            let b = Binned::new(&x, threads);
            assert_eq!(b, Binned::new(&x, 1));
            assert_eq!(Gbt::fit_binned(&b, &y, 2, params, threads), one);
        }
        let (y3, k) = (
            y.iter()
                .enumerate()
                .map(|(i, c)| c + i % 2)
                .collect::<Vec<_>>(),
            3,
        );
        assert_eq!(
            Gbt::fit_binned(&Binned::new(&x, 1), &y3, k, params, 1),
            Gbt::fit_binned(&Binned::new(&x, 2), &y3, k, params, 2)
        );
    }

    /// Rows where `x` is missing are mostly class 1; its present values say nothing.
    fn informative_missing() -> (Matrix, Vec<usize>) {
        let mut rng = crate::rng::Rng::new(7);
        let (mut data, mut y) = (Vec::new(), Vec::new());
        for i in 0..2000 {
            let missing = i % 4 == 0;
            data.push(if missing {
                f64::NAN
            } else {
                (rng.unit() * 10.0).floor()
            });
            y.push(usize::from(if missing {
                rng.unit() < 0.9
            } else {
                rng.unit() < 0.2
            }));
        }
        (
            Matrix {
                rows: 2000,
                cols: 1,
                data,
            },
            y,
        )
    }

    #[test]
    fn missing_values_go_where_training_learned() {
        let (x, y) = informative_missing();
        let params = GbtParams {
            max_depth: 2,
            learning_rate: 0.3,
            rounds: 20,
            min_leaf: 5,
        };
        let m = Gbt::fit(&x, &y, 2, params);
        assert!(m.learned_missing);
        let mut p = [0.0; 2];
        m.predict_row(&[f64::NAN], &mut p);
        assert!(p[1] > 0.8, "a missing value is class 1: {p:?}");
        for v in 0..10 {
            m.predict_row(&[f64::from(v)], &mut p);
            assert!(p[1] < 0.35, "value {v}: {p:?}");
        }
        let learned = m.trees.iter().flatten().flat_map(|t| &t.nodes).any(|n| {
            matches!(n, Node::Split { missing_left: true, threshold, .. } if *threshold <= 0.5)
                || matches!(n, Node::Split { missing_left: false, threshold, .. } if *threshold >= 8.5)
        });
        assert!(learned, "some split isolates the missing rows");
    }

    #[test]
    fn without_missing_values_in_training_a_missing_value_goes_where_the_fill_goes() {
        let (x, y) = informative_missing();
        let present: Vec<usize> = (0..x.rows).filter(|&i| !x.data[i].is_nan()).collect();
        let x = x.select_rows(&present);
        let y: Vec<usize> = present.iter().map(|&i| y[i]).collect();
        let params = GbtParams {
            max_depth: 3,
            learning_rate: 0.3,
            rounds: 10,
            min_leaf: 5,
        };
        for fill in [2.0, 7.0] {
            let b = Binned::with_fills(&x, Some(&[fill]), 1);
            let m = Gbt::fit_binned(&b, &y, 2, params, 1);
            let (mut a, mut c) = ([0.0; 2], [0.0; 2]);
            m.predict_row(&[f64::NAN], &mut a);
            m.predict_row(&[fill], &mut c);
            assert_eq!(a, c, "fill {fill}");
        }
    }

    /// `y = a + 10 b` plus noise uniform in ±5, and a few wild targets.
    fn regression_data(rows: usize) -> (Matrix, Vec<f64>) {
        let (x, _) = data(rows, 3);
        let mut rng = crate::rng::Rng::new(11);
        let y = (0..rows)
            .map(|i| {
                let clean = x.data[i * 3] + 10.0 * x.data[i * 3 + 1] + 10.0 * rng.unit() - 5.0;
                if i % 97 == 0 { clean + 1000.0 } else { clean }
            })
            .collect();
        (x, y)
    }

    #[test]
    fn a_regression_fits_its_target_and_robust_losses_resist_wild_targets() {
        let (x, y) = regression_data(3000);
        let bins = Binned::new(&x, 2);
        let params = GbtParams {
            max_depth: 4,
            learning_rate: 0.2,
            rounds: 60,
            min_leaf: 10,
        };
        // The median absolute error on the rows that are not wild, per loss.
        let error = |loss: Loss| {
            let m = Gbt::fit_regression(&bins, &y, loss, params, 2);
            assert_eq!((m.classes, m.base.len(), m.loss), (0, 1, loss));
            let mut out = [0.0];
            let mut errors: Vec<f64> = (0..x.rows)
                .filter(|i| i % 97 != 0)
                .map(|i| {
                    m.predict_row(x.row(i), &mut out);
                    (out[0] - y[i]).abs()
                })
                .collect();
            errors.sort_by(f64::total_cmp);
            errors[errors.len() / 2]
        };
        let (squared, huber, absolute) = (
            error(Loss::Squared),
            error(Loss::Huber),
            error(Loss::Absolute),
        );
        // Noise of ±5 has a median absolute error of 2.5 around the truth.
        assert!(huber < 3.5 && absolute < 3.5, "{huber} {absolute}");
        assert!(
            squared > huber && squared > absolute,
            "{squared} {huber} {absolute}"
        );
        // Deterministic and independent of the threads.
        let a = Gbt::fit_regression(&bins, &y, Loss::Absolute, params, 1);
        assert_eq!(a, Gbt::fit_regression(&bins, &y, Loss::Absolute, params, 2));
    }

    #[test]
    fn early_stopping_keeps_the_rounds_up_to_the_best_on_the_validation_rows() {
        let (x, y) = regression_data(3000);
        let fit: Vec<usize> = (0..2000).collect();
        let held: Vec<usize> = (2000..3000).collect();
        let pick = |rows: &[usize]| Matrix {
            rows: rows.len(),
            cols: x.cols,
            data: rows.iter().flat_map(|&i| x.row(i).to_vec()).collect(),
        };
        let bins = Binned::new(&pick(&fit), 2);
        let y_fit: Vec<f64> = fit.iter().map(|&i| y[i]).collect();
        let y_held: Vec<f64> = held.iter().map(|&i| y[i]).collect();
        let rows: Vec<Vec<f64>> = held.iter().map(|&i| x.row(i).to_vec()).collect();
        // Deep trees at a high rate overfit the noise long before 300 rounds.
        let params = GbtParams {
            max_depth: 6,
            learning_rate: 0.5,
            rounds: 300,
            min_leaf: 1,
        };
        let valid = Validation {
            rows: &rows,
            y: &y_held,
            patience: 5,
        };
        let all = Gbt::fit_regression(&bins, &y_fit, Loss::Squared, params, 2);
        let stopped =
            Gbt::fit_regression_stopping(&bins, &y_fit, Loss::Squared, params, 2, Some(valid));
        assert_eq!(all.trees.len(), 300);
        assert!(stopped.trees.len() < 100, "{} rounds", stopped.trees.len());
        // The rounds kept are the first rounds of the full fit, and score better on the
        // validation rows.
        assert_eq!(stopped.trees[..], all.trees[..stopped.trees.len()]);
        let mse = |m: &Gbt| {
            let mut out = [0.0];
            rows.iter()
                .zip(&y_held)
                .map(|(r, t)| {
                    m.predict_row(r, &mut out);
                    (out[0] - t).powi(2)
                })
                .sum::<f64>()
        };
        assert!(mse(&stopped) < mse(&all));
    }
}
