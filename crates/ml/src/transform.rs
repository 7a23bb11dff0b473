//! Transform: imputation, standardisation and one-hot encoding, fitted on the training rows only.
//!
//! Two stages, because the two model families need different inputs:
//! - [`Preprocessor::values`] gives each feature one number (a text category becomes its index,
//!   a missing one the most frequent category's), a missing number staying NaN. Trees split on
//!   these values and learn where missing values go. [`Preprocessor::impute`] also fills the
//!   missing numbers (median for numeric features, most frequent value for categorical ones).
//! - [`Preprocessor::encode`] imputes, standardises numeric features and one-hot encodes
//!   categorical ones (an unseen category encodes as all zeros). Logistic regression uses these.
//!
//! The exported ONNX graph contains the same two stages, so serving takes raw features.

use serde::{Deserialize, Serialize};

use crate::data::{Frame, Kind, Values};

/// A dense row-major matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl Matrix {
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Matrix {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    pub fn select_rows(&self, idx: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(idx.len() * self.cols);
        for &i in idx {
            data.extend_from_slice(self.row(i));
        }
        Matrix {
            rows: idx.len(),
            cols: self.cols,
            data,
        }
    }
}

/// Rows of a frame as [`Preprocessor::values`] gives them, read in place: a number column is
/// read from the frame at the row; only the other columns (text categories as their indices)
/// are coded, once, when the view is made. The tuner holds one view of its fitting rows and one
/// of its validation rows per fold, so no fold holds a copy of the data.
pub struct Rows<'a> {
    rows: Vec<usize>,
    columns: Vec<Source<'a>>,
}

/// Where a feature's values come from.
enum Source<'a> {
    /// A number column, read at the frame's row.
    Frame(&'a [f64]),
    /// The feature's values at the view's rows, in order.
    Coded(Vec<f64>),
    /// A column absent from the frame: one value for every row.
    Constant(f64),
}

impl<'a> Rows<'a> {
    /// The rows `rows` of `frame`, in that order, as `prep` gives them to the estimators.
    pub fn new(prep: &Preprocessor, frame: &'a Frame, rows: Vec<usize>) -> Self {
        let columns = prep
            .features
            .iter()
            .map(|f| match frame.column(&f.name).map(|c| &c.values) {
                Some(Values::Number(v)) => Source::Frame(v),
                Some(Values::Text(v)) => {
                    // Each distinct text is looked up once.
                    let of: Vec<f64> = v.coded().0.iter().map(|s| f.value_of(Some(s))).collect();
                    let missing = f.value_of(None);
                    Source::Coded(
                        rows.iter()
                            .map(|&i| v.code(i).map_or(missing, |c| of[c]))
                            .collect(),
                    )
                }
                None => Source::Constant(f.value_of(None)),
            })
            .collect();
        Rows { rows, columns }
    }

    /// Every row of `frame`.
    pub fn all(prep: &Preprocessor, frame: &'a Frame) -> Self {
        Rows::new(prep, frame, (0..frame.rows).collect())
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Number of features.
    pub fn cols(&self) -> usize {
        self.columns.len()
    }

    /// Feature `j` of row `r` (of the view).
    #[inline]
    pub fn get(&self, r: usize, j: usize) -> f64 {
        match &self.columns[j] {
            Source::Frame(v) => v[self.rows[r]],
            Source::Coded(v) => v[r],
            Source::Constant(x) => *x,
        }
    }

    /// Row `r` (of the view) into `out`.
    pub fn row_into(&self, r: usize, out: &mut Vec<f64>) {
        out.clear();
        out.extend((0..self.cols()).map(|j| self.get(r, j)));
    }

    /// Every row, as a matrix.
    pub fn to_matrix(&self) -> Matrix {
        let mut m = Matrix::zeros(self.len(), self.cols());
        for (r, row) in m.data.chunks_exact_mut(self.cols().max(1)).enumerate() {
            for (j, x) in row.iter_mut().enumerate() {
                *x = self.get(r, j);
            }
        }
        m
    }
}

/// Rows of a [`Rows`] view read as [`Preprocessor::encode`] would give them, each encoded when
/// read: logistic regression fits on these without an encoded copy of the data (one per
/// concurrent fit, several times the size of the values).
pub struct Encoded<'a> {
    prep: &'a Preprocessor,
    values: &'a Rows<'a>,
    width: usize,
}

impl<'a> Encoded<'a> {
    pub fn new(prep: &'a Preprocessor, values: &'a Rows<'a>) -> Self {
        Encoded {
            prep,
            values,
            width: prep.encoded_width(),
        }
    }
}

impl crate::model::logistic::Design for Encoded<'_> {
    fn rows(&self) -> usize {
        self.values.len()
    }

    fn cols(&self) -> usize {
        self.width
    }

    fn row<'a>(&'a self, i: usize, buf: &'a mut Vec<f64>) -> &'a [f64] {
        buf.resize(self.width, 0.0);
        let row = (0..self.values.cols()).map(|j| self.values.get(i, j));
        self.prep.encode_values(row, buf);
        buf
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeaturePrep {
    pub name: String,
    pub kind: Kind,
    /// Whether the raw cells are text (categories by name).
    pub text: bool,
    /// The value that replaces a missing cell (for text: the index of the most frequent category).
    pub fill: f64,
    /// Standardisation of a numeric feature: `(x - mean) / scale`.
    pub mean: f64,
    pub scale: f64,
    /// Categories of a categorical feature, in one-hot order.
    pub categories: Vec<String>,
    /// The categories as numbers when the column is numeric (integer-coded categories).
    pub category_values: Vec<f64>,
}

impl FeaturePrep {
    /// How many encoded columns this feature has: one for a number, one per category.
    pub fn encoded_width(&self) -> usize {
        match self.kind {
            Kind::Numeric => 1,
            Kind::Categorical => self.categories.len(),
        }
    }

    /// This feature's value of a text cell (`None`: missing or no such column): a text
    /// category's index (-1 when unseen, the fill's when missing), or the cell read as a number
    /// (NaN when missing or not a number).
    fn value_of(&self, cell: Option<&str>) -> f64 {
        match cell {
            Some(s) if self.text => self
                .categories
                .iter()
                .position(|c| c == s)
                .map_or(-1.0, |p| p as f64),
            Some(s) => s.parse::<f64>().unwrap_or(f64::NAN),
            None if self.text => self.fill,
            None => f64::NAN,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    pub features: Vec<FeaturePrep>,
}

impl Preprocessor {
    /// Fit on the rows `train` of `frame`.
    pub fn fit(frame: &Frame, train: &[usize]) -> Preprocessor {
        let features = frame
            .columns
            .iter()
            .map(|c| {
                let v = c.values.select(train);
                let text = matches!(v, Values::Text(_));
                let freq = crate::stats::frequencies(&v);
                let mut categories: Vec<String> = freq.iter().map(|(k, _)| k.clone()).collect();
                categories.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
                    (Ok(x), Ok(y)) => x.total_cmp(&y),
                    _ => a.cmp(b),
                });
                let category_values: Vec<f64> = if text {
                    Vec::new()
                } else {
                    categories.iter().filter_map(|c| c.parse().ok()).collect()
                };
                let most_frequent = freq.first().map(|(k, _)| k.clone());
                let (fill, mean, scale) = match (&v, c.kind) {
                    (Values::Number(nums), Kind::Numeric) => {
                        let mut present: Vec<f64> =
                            nums.iter().copied().filter(|x| !x.is_nan()).collect();
                        let median = if present.is_empty() {
                            0.0
                        } else {
                            crate::stats::quantiles(&mut present, &[0.5])[0]
                        };
                        // Round through f32 so the ONNX graph (f32) fills the same value.
                        let median = f64::from(median as f32);
                        let filled: Vec<f64> = nums
                            .iter()
                            .map(|x| if x.is_nan() { median } else { *x })
                            .collect();
                        let n = filled.len().max(1) as f64;
                        let mean = filled.iter().sum::<f64>() / n;
                        let var = filled.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
                        let scale = if var > 0.0 { var.sqrt() } else { 1.0 };
                        (median, mean, scale)
                    }
                    (Values::Number(_), Kind::Categorical) => {
                        let fill = most_frequent
                            .as_deref()
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(0.0);
                        (fill, 0.0, 1.0)
                    }
                    (Values::Text(_), _) => {
                        let fill = most_frequent
                            .and_then(|m| categories.iter().position(|c| *c == m))
                            .unwrap_or(0) as f64;
                        (fill, 0.0, 1.0)
                    }
                };
                FeaturePrep {
                    name: c.name.clone(),
                    kind: if text { Kind::Categorical } else { c.kind },
                    text,
                    fill,
                    mean,
                    scale,
                    categories,
                    category_values,
                }
            })
            .collect();
        Preprocessor { features }
    }

    pub fn names(&self) -> Vec<String> {
        self.features.iter().map(|f| f.name.clone()).collect()
    }

    /// Number of encoded columns.
    pub fn encoded_width(&self) -> usize {
        self.features.iter().map(FeaturePrep::encoded_width).sum()
    }

    /// The fill value of each feature.
    pub fn fills(&self) -> Vec<f64> {
        self.features.iter().map(|f| f.fill).collect()
    }

    /// One number per feature, missing cells filled. Columns are matched by name; a column
    /// absent from `frame` is all missing.
    pub fn impute(&self, frame: &Frame) -> Matrix {
        let mut m = self.values(frame);
        for row in m.data.chunks_exact_mut(self.features.len().max(1)) {
            for (x, f) in row.iter_mut().zip(&self.features) {
                if x.is_nan() {
                    *x = f.fill;
                }
            }
        }
        m
    }

    /// One number per feature: a missing number stays NaN, a text category becomes its index
    /// (-1 when unseen, the fill's when missing). Columns are matched by name; a column absent
    /// from `frame` is all missing.
    pub fn values(&self, frame: &Frame) -> Matrix {
        Rows::all(self, frame).to_matrix()
    }

    /// Impute (NaN becomes the fill value), standardise and one-hot encode a row of
    /// [`Self::values`] into `out` (length [`Self::encoded_width`]).
    pub fn encode_row(&self, row: &[f64], out: &mut [f64]) {
        self.encode_values(row.iter().copied(), out);
    }

    /// [`Self::encode_row`] of a row given value after value.
    pub fn encode_values(&self, row: impl IntoIterator<Item = f64>, out: &mut [f64]) {
        let mut k = 0;
        for (f, x) in self.features.iter().zip(row) {
            let x = if x.is_nan() { f.fill } else { x };
            match f.kind {
                Kind::Numeric => {
                    out[k] = (x - f.mean) / f.scale;
                    k += 1;
                }
                Kind::Categorical => {
                    for (c, slot) in out[k..k + f.categories.len()].iter_mut().enumerate() {
                        let hit = if f.text {
                            x == c as f64
                        } else {
                            f.category_values.get(c) == Some(&x)
                        };
                        *slot = if hit { 1.0 } else { 0.0 };
                    }
                    k += f.categories.len();
                }
            }
        }
    }

    /// [`Self::encode_row`] of every row.
    pub fn encode(&self, values: &Matrix) -> Matrix {
        let d = self.encoded_width();
        let mut m = Matrix::zeros(values.rows, d);
        for i in 0..values.rows {
            let (row, out) = (values.row(i), &mut m.data[i * d..(i + 1) * d]);
            self.encode_row(row, out);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{ReadOptions, read_csv};

    #[test]
    fn fitted_on_train_rows_only_and_encodes_unseen_as_zeros() {
        let f = read_csv(
            "x,c,t\n1,1,a\n3,2,b\n?,2,?\n100,9,z\n".as_bytes(),
            &ReadOptions {
                categorical: vec!["c".into()],
                ..ReadOptions::default()
            },
        )
        .expect("csv");
        let p = Preprocessor::fit(&f, &[0, 1, 2]);
        let x = &p.features[0];
        assert_eq!(x.fill, 2.0, "median of 1 and 3, row 3 excluded");
        assert_eq!(x.mean, 2.0);
        assert_eq!(p.features[1].categories, vec!["1", "2"]);
        assert_eq!(p.features[1].fill, 2.0);
        let imputed = p.impute(&f);
        assert_eq!(imputed.row(2), &[2.0, 2.0, 0.0]);
        assert_eq!(imputed.row(3)[2], -1.0, "unseen text category");
        let e = p.encode(&imputed);
        assert_eq!(e.cols, 1 + 2 + 2);
        assert_eq!(
            &e.row(3)[1..],
            &[0.0, 0.0, 0.0, 0.0],
            "unseen categories are all zeros"
        );
        assert_eq!(&e.row(0)[1..], &[1.0, 0.0, 1.0, 0.0]);
    }
}
