//! ExampleGen: reading a CSV into typed columns, and the label. A Parquet file is read as the
//! CSV text it converts to ([`parquet`]).
//!
//! A cell equal to one of the missing markers (`?` and empty by default) is missing. A column
//! whose present cells all parse as numbers is numeric data (missing = NaN); any other column is
//! text. A column is a categorical *feature* when it is text or when the stack lists it as
//! categorical (integer-coded categories such as `cp` = 1..4); otherwise it is numeric.

pub mod parquet;
pub mod split;
pub mod texts;

pub use texts::Texts;

use std::fmt;
use std::io::Read;

use serde::{Deserialize, Serialize};

/// How a feature is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Numeric,
    Categorical,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Numeric => "numeric",
            Kind::Categorical => "categorical",
        })
    }
}

/// The values of one column.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// Numbers; NaN marks a missing cell.
    Number(Vec<f64>),
    /// Text; a missing cell reads as `None`.
    Text(Texts),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::Number(v) => v.len(),
            Values::Text(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_missing(&self, i: usize) -> bool {
        match self {
            Values::Number(v) => v[i].is_nan(),
            Values::Text(v) => v.get(i).is_none(),
        }
    }

    /// The cell as text, for examples in messages and category keys.
    pub fn cell(&self, i: usize) -> Option<String> {
        match self {
            Values::Number(v) if v[i].is_nan() => None,
            Values::Number(v) => Some(fmt_num(v[i])),
            Values::Text(v) => v.get(i).map(str::to_string),
        }
    }

    /// The rows at `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Values {
        match self {
            Values::Number(v) => Values::Number(idx.iter().map(|&i| v[i]).collect()),
            Values::Text(v) => Values::Text(v.select(idx)),
        }
    }
}

/// A number as the CSV would show it: integers without a fraction.
pub fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// A number for people: integers as integers, six significant digits otherwise (`227.05`, not
/// `227.04999999999998`), scientific notation below 1e-4 (`2.64e-31`, not a hundred zeros).
///
/// ```
/// use mlinfra_ml::data::short_num;
/// assert_eq!(short_num(227.04999999999998), "227.05");
/// assert_eq!(short_num(2.64e-31), "2.64e-31");
/// assert_eq!(short_num(0.0264), "0.0264");
/// assert_eq!(short_num(42.0), "42");
/// ```
pub fn short_num(x: f64) -> String {
    if !x.is_finite() || (x.fract() == 0.0 && x.abs() < 1e15) {
        return fmt_num(x);
    }
    if x.abs() < 1e-4 {
        let s = format!("{x:.2e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        return format!("{mantissa}e{exp}");
    }
    let decimals = (5 - x.abs().log10().floor() as i32).clamp(0, 17) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub kind: Kind,
    pub values: Values,
}

/// A table of columns of equal length.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Frame {
    pub columns: Vec<Column>,
    pub rows: usize,
}

impl Frame {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }

    pub fn select_rows(&self, idx: &[usize]) -> Frame {
        Frame {
            columns: self
                .columns
                .iter()
                .map(|c| Column {
                    name: c.name.clone(),
                    kind: c.kind,
                    values: c.values.select(idx),
                })
                .collect(),
            rows: idx.len(),
        }
    }

    /// Remove and return a column.
    pub fn take(&mut self, name: &str) -> Option<Column> {
        let i = self.columns.iter().position(|c| c.name == name)?;
        Some(self.columns.remove(i))
    }
}

/// How to read a CSV.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadOptions {
    pub missing: Vec<String>,
    /// Columns to treat as categorical even when numeric.
    pub categorical: Vec<String>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            missing: vec!["?".into(), String::new()],
            categorical: Vec::new(),
        }
    }
}

/// A CSV that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataError {
    #[error("{0}")]
    Io(String),
    #[error("the file is empty: expected a header row and data rows")]
    Empty,
    #[error("the file has a header row but no data rows")]
    HeaderOnly,
    #[error("line {line}: {found} fields, but the header has {expected}")]
    Ragged {
        line: u64,
        expected: usize,
        found: usize,
    },
    #[error("line {line}: not UTF-8 text (invalid byte at position {position} of the line)")]
    Utf8 { line: u64, position: usize },
    #[error("the header has an empty column name (column {0})")]
    EmptyName(usize),
    #[error("the header names column `{0}` twice")]
    DuplicateName(String),
    #[error("line {line}: {message}")]
    Csv { line: u64, message: String },
    #[error("label column `{column}` is not in the file; the columns are {available}")]
    NoLabel { column: String, available: String },
    #[error("label column `{0}` has no values")]
    EmptyLabel(String),
    #[error(
        "label column `{column}` has a single class `{class}`: a classifier needs at least two"
    )]
    SingleClass { column: String, class: String },
    #[error(
        "label column `{column}`: `positive_when` compares numbers, but `{value}` is not a number; for a label of two text values, name the positive one with `positive: <value>` instead"
    )]
    LabelNotNumeric { column: String, value: String },
    #[error(
        "label column `{column}`: the positive class `{value}` is not among its values ({found})"
    )]
    NoPositive {
        column: String,
        value: String,
        found: String,
    },
    #[error(
        "label column `{column}` has more than two values ({found}): `positive` names one of two classes; use `positive_when` to split numbers, or leave both out for a multiclass task"
    )]
    NotBinary { column: String, found: String },
    #[error("column `{0}` has no values at all")]
    AllMissing(String),
    #[error(
        "label column `{column}`, line {line}: `{value}` is not a number, and a regression (`model.task: regression`) predicts numbers; fix the value, or for classes set `model.task: classification`"
    )]
    TargetNotNumeric {
        column: String,
        value: String,
        line: u64,
    },
    #[error(
        "label column `{column}` is `{value}` on every row: a regression needs a target that varies"
    )]
    ConstantTarget { column: String, value: String },
}

/// Read a CSV with a header row from any reader.
pub fn read_csv(reader: impl Read, opts: &ReadOptions) -> Result<Frame, DataError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(reader);
    let header = rdr.byte_headers().map_err(|e| csv_error(&e))?.clone();
    if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
        return Err(DataError::Empty);
    }
    let mut names = Vec::with_capacity(header.len());
    for (i, h) in header.iter().enumerate() {
        let name = std::str::from_utf8(h)
            .map_err(|e| DataError::Utf8 {
                line: 1,
                position: e.valid_up_to(),
            })?
            .trim()
            .to_string();
        if name.is_empty() {
            return Err(DataError::EmptyName(i + 1));
        }
        if names.contains(&name) {
            return Err(DataError::DuplicateName(name));
        }
        names.push(name);
    }
    let width = names.len();
    // Parse each column as numbers while that works; fall back to text for the rest.
    let mut numbers: Vec<Option<Vec<f64>>> = vec![Some(Vec::new()); width];
    let mut texts: Vec<Texts> = vec![Texts::new(); width];
    let mut record = csv::ByteRecord::new();
    let mut rows = 0usize;
    loop {
        match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(&e)),
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != width {
            return Err(DataError::Ragged {
                line,
                expected: width,
                found: record.len(),
            });
        }
        for (j, field) in record.iter().enumerate() {
            let s = std::str::from_utf8(field).map_err(|e| DataError::Utf8 {
                line,
                position: e.valid_up_to(),
            })?;
            let s = s.trim();
            let missing = opts.missing.iter().any(|m| m == s);
            if let Some(nums) = &mut numbers[j] {
                if missing {
                    nums.push(f64::NAN);
                    continue;
                }
                match s.parse::<f64>() {
                    Ok(v) if v.is_finite() => {
                        nums.push(v);
                        continue;
                    }
                    _ => {
                        // Not a number: this column is text from now on.
                        for v in nums.iter() {
                            texts[j].push((!v.is_nan()).then(|| fmt_num(*v)).as_deref());
                        }
                        numbers[j] = None;
                    }
                }
            }
            texts[j].push((!missing).then_some(s));
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(DataError::HeaderOnly);
    }
    let columns = names
        .into_iter()
        .zip(numbers.into_iter().zip(texts))
        .map(|(name, (nums, text))| {
            let values = match nums {
                Some(v) => Values::Number(v),
                None => Values::Text({
                    let mut text = text;
                    text.seal();
                    text
                }),
            };
            let kind = match &values {
                Values::Text(_) => Kind::Categorical,
                Values::Number(_) if opts.categorical.contains(&name) => Kind::Categorical,
                Values::Number(_) => Kind::Numeric,
            };
            Column { name, kind, values }
        })
        .collect();
    Ok(Frame { columns, rows })
}

fn csv_error(e: &csv::Error) -> DataError {
    let line = e.position().map_or(0, |p| p.line());
    match e.kind() {
        csv::ErrorKind::Io(io) => DataError::Io(io.to_string()),
        csv::ErrorKind::Utf8 { err, .. } => DataError::Utf8 {
            line,
            position: err.valid_up_to(),
        },
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => DataError::Ragged {
            line,
            expected: *expected_len as usize,
            found: *len as usize,
        },
        _ => DataError::Csv {
            line,
            message: e.to_string(),
        },
    }
}

/// The classes of a classification task and each row's class index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Labels {
    /// Class names in index order (`"0"`, `"1"` for a binary task).
    pub classes: Vec<String>,
    /// The class values as integers when every class is an integer (ONNX outputs these).
    pub class_values: Option<Vec<i64>>,
    pub y: Vec<usize>,
}

/// A comparison operator, written as in the stack file (`>`, `>=`, `<`, `<=`, `==`, `!=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compare {
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
}

impl Compare {
    /// Every operator, the two-character ones first (so that a prefix match takes `>=` before
    /// `>`).
    pub const ALL: [Compare; 6] = [
        Compare::Eq,
        Compare::Ne,
        Compare::Ge,
        Compare::Le,
        Compare::Gt,
        Compare::Lt,
    ];

    pub fn symbol(self) -> &'static str {
        match self {
            Compare::Gt => ">",
            Compare::Ge => ">=",
            Compare::Lt => "<",
            Compare::Le => "<=",
            Compare::Eq => "==",
            Compare::Ne => "!=",
        }
    }

    /// `a <op> b`.
    pub fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Compare::Gt => a > b,
            Compare::Ge => a >= b,
            Compare::Lt => a < b,
            Compare::Le => a <= b,
            Compare::Eq => a == b,
            Compare::Ne => a != b,
        }
    }
}

impl std::fmt::Display for Compare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.symbol())
    }
}

impl std::str::FromStr for Compare {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Compare::ALL
            .into_iter()
            .find(|c| c.symbol() == s)
            .ok_or_else(|| {
                format!("`{s}` is not a comparison: expected one of >, >=, <, <=, ==, !=")
            })
    }
}

/// How to turn the label column into classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LabelRule {
    /// Every distinct value is a class.
    Multiclass,
    /// Binary: positive (class 1) when `value <op> threshold`.
    Binary { op: Compare, threshold: f64 },
    /// Binary over a label of exactly two values (text or numbers): the class `value` is the
    /// positive one. The classes keep their names: `[the other value, value]`.
    Positive { value: String },
}

impl LabelRule {
    /// The positive class: `"1"` for `positive_when`, the named value for `positive`; `None`
    /// for a multiclass task, whose classes have no declared positive.
    pub fn positive_class(&self) -> Option<&str> {
        match self {
            LabelRule::Multiclass => None,
            LabelRule::Binary { .. } => Some("1"),
            LabelRule::Positive { value } => Some(value),
        }
    }

    /// A label value that this rule turns into `class` (`"0"`/`"1"` for a binary task; the
    /// class itself for a multiclass one), to write a labelled row back as training data:
    /// with `> 0`, class `1` is `1` and class `0` is `0`.
    pub fn value_for_class(&self, class: &str) -> Option<String> {
        let LabelRule::Binary { op, threshold: t } = self else {
            // Multiclass and `positive` classes are the label's own values.
            return Some(class.to_string());
        };
        let positive = match class {
            "1" => true,
            "0" => false,
            _ => return None,
        };
        use Compare::{Eq, Ge, Gt, Le, Lt, Ne};
        let v = match (op, positive) {
            (Gt, true) | (Ne, true) | (Le, false) | (Eq, false) => t + 1.0,
            (Ge, true) | (Le, true) | (Eq, true) | (Gt, false) | (Lt, false) | (Ne, false) => *t,
            (Lt, true) | (Ge, false) => t - 1.0,
        };
        debug_assert_eq!(self.positive(v), positive);
        Some(fmt_num(v))
    }

    pub fn positive(&self, v: f64) -> bool {
        match self {
            LabelRule::Multiclass | LabelRule::Positive { .. } => false,
            LabelRule::Binary { op, threshold: t } => op.holds(v, *t),
        }
    }
}

/// The label column taken off `frame`, or an error naming the columns there are.
fn take_column(frame: &mut Frame, column: &str) -> Result<Column, DataError> {
    frame.take(column).ok_or_else(|| DataError::NoLabel {
        column: column.to_string(),
        available: frame
            .names()
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// A regression's targets, split off a frame by [`take_target`].
#[derive(Debug, Clone, PartialEq)]
pub struct Targets {
    /// One finite number per row kept.
    pub y: Vec<f64>,
    /// Rows dropped because their target is missing.
    pub missing: usize,
    /// The lines (the header is line 1) of rows dropped because their target is not finite
    /// (`NaN`, `inf`).
    pub non_finite: Vec<u64>,
}

impl Targets {
    /// Every row dropped.
    pub fn dropped(&self) -> usize {
        self.missing + self.non_finite.len()
    }
}

/// Split a regression's numeric target off a frame: rows whose target is missing or not finite
/// are dropped (and counted, the non-finite ones by line); a value that is not a number, a
/// column that is not there, empty or constant is an error naming it.
pub fn take_target(frame: &mut Frame, column: &str) -> Result<Targets, DataError> {
    let col = take_column(frame, column)?;
    let (mut keep, mut y, mut missing, mut non_finite) = (Vec::new(), Vec::new(), 0, Vec::new());
    for i in 0..col.values.len() {
        let line = i as u64 + 2;
        let v = match &col.values {
            Values::Number(v) => v[i],
            Values::Text(_) => match col.values.cell(i) {
                None => f64::NAN,
                Some(cell) => match cell.parse::<f64>() {
                    Ok(v) if v.is_finite() => v,
                    Ok(_) => {
                        non_finite.push(line);
                        continue;
                    }
                    Err(_) => {
                        return Err(DataError::TargetNotNumeric {
                            column: column.to_string(),
                            value: cell,
                            line,
                        });
                    }
                },
            },
        };
        if v.is_nan() {
            missing += 1;
            continue;
        }
        keep.push(i);
        y.push(v);
    }
    if y.is_empty() {
        return Err(DataError::EmptyLabel(column.to_string()));
    }
    if y.iter().all(|v| *v == y[0]) {
        return Err(DataError::ConstantTarget {
            column: column.to_string(),
            value: fmt_num(y[0]),
        });
    }
    if keep.len() < col.values.len() {
        *frame = frame.select_rows(&keep);
    }
    Ok(Targets {
        y,
        missing,
        non_finite,
    })
}

/// Split the label off a frame. Rows whose label is missing are dropped; their count is returned.
pub fn take_label(
    frame: &mut Frame,
    column: &str,
    rule: &LabelRule,
) -> Result<(Labels, usize), DataError> {
    let col = take_column(frame, column)?;
    let keep: Vec<usize> = (0..col.values.len())
        .filter(|&i| !col.values.is_missing(i))
        .collect();
    let dropped = col.values.len() - keep.len();
    if keep.is_empty() {
        return Err(DataError::EmptyLabel(column.to_string()));
    }
    if dropped > 0 {
        *frame = frame.select_rows(&keep);
    }
    let values = col.values.select(&keep);
    let labels = match (rule, &values) {
        (LabelRule::Binary { .. }, Values::Number(v)) => Labels {
            classes: vec!["0".into(), "1".into()],
            class_values: Some(vec![0, 1]),
            y: v.iter().map(|x| usize::from(rule.positive(*x))).collect(),
        },
        (LabelRule::Binary { .. }, Values::Text(v)) => {
            let bad = v.iter().flatten().next().unwrap_or_default().to_string();
            return Err(DataError::LabelNotNumeric {
                column: column.to_string(),
                value: bad,
            });
        }
        (LabelRule::Positive { value }, _) => {
            let cells: Vec<String> = (0..values.len()).filter_map(|i| values.cell(i)).collect();
            let mut distinct = cells.clone();
            distinct.sort();
            distinct.dedup();
            let listed = || {
                distinct
                    .iter()
                    .map(|d| format!("`{d}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            if !distinct.contains(value) {
                return Err(DataError::NoPositive {
                    column: column.to_string(),
                    value: value.clone(),
                    found: listed(),
                });
            }
            let [a, b] = distinct.as_slice() else {
                return Err(if distinct.len() == 1 {
                    DataError::SingleClass {
                        column: column.to_string(),
                        class: value.clone(),
                    }
                } else {
                    DataError::NotBinary {
                        column: column.to_string(),
                        found: listed(),
                    }
                });
            };
            let negative = if a == value { b } else { a };
            Labels {
                classes: vec![negative.clone(), value.clone()],
                class_values: None,
                y: cells.iter().map(|c| usize::from(c == value)).collect(),
            }
        }
        (LabelRule::Multiclass, _) => {
            let cells: Vec<String> = (0..values.len()).filter_map(|i| values.cell(i)).collect();
            let mut classes: Vec<String> = cells.clone();
            classes.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(x), Ok(y)) => x.total_cmp(&y),
                _ => a.cmp(b),
            });
            classes.dedup();
            let class_values = classes
                .iter()
                .map(|c| c.parse::<i64>().ok())
                .collect::<Option<Vec<_>>>();
            let y = cells
                .iter()
                .map(|c| classes.iter().position(|k| k == c).unwrap_or(0))
                .collect();
            Labels {
                classes,
                class_values,
                y,
            }
        }
    };
    let present: std::collections::BTreeSet<usize> = labels.y.iter().copied().collect();
    if present.len() < 2 {
        let class = present
            .iter()
            .next()
            .map(|&k| labels.classes[k].clone())
            .unwrap_or_default();
        return Err(DataError::SingleClass {
            column: column.to_string(),
            class,
        });
    }
    Ok((labels, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str) -> Result<Frame, DataError> {
        read_csv(
            s.as_bytes(),
            &ReadOptions {
                categorical: vec!["cp".into()],
                ..ReadOptions::default()
            },
        )
    }

    #[test]
    fn a_regressions_target_drops_missing_and_non_finite_rows_and_refuses_text_or_a_constant() {
        let mut f = read("a,y\n1,2.5\n2,\n3,inf\n4,-1\n5,NaN\n").expect("read");
        let t = take_target(&mut f, "y").expect("target");
        assert_eq!(t.y, vec![2.5, -1.0]);
        assert_eq!(
            (t.missing, t.non_finite.clone(), t.dropped()),
            (1, vec![4, 6], 3)
        );
        assert_eq!(f.rows, 2);
        let mut f = read("a,y\n1,2\n2,high\n").expect("read");
        let e = take_target(&mut f, "y").expect_err("text").to_string();
        assert!(e.contains("line 3: `high` is not a number"), "{e}");
        let mut f = read("a,y\n1,2\n2,2\n").expect("read");
        let e = take_target(&mut f, "y").expect_err("constant").to_string();
        assert!(e.contains("is `2` on every row"), "{e}");
    }

    #[test]
    fn types_missing_and_kinds() {
        let f = read("age,cp,city,num\n63,1,Paris,0\n?,4,,2\n41.5,2,Lyon,1\n").expect("valid");
        assert_eq!(f.rows, 3);
        let age = f.column("age").expect("age");
        assert_eq!(age.kind, Kind::Numeric);
        match &age.values {
            Values::Number(v) => assert!(v[1].is_nan() && v[2] == 41.5),
            _ => panic!("numeric"),
        }
        assert_eq!(f.column("cp").expect("cp").kind, Kind::Categorical);
        let city = f.column("city").expect("city");
        assert_eq!(
            city.values,
            Values::Text([Some("Paris"), None, Some("Lyon")].into_iter().collect())
        );
    }

    #[test]
    fn a_column_that_turns_to_text_keeps_its_earlier_numbers() {
        let f = read("a\n1\n2\nx\n").expect("valid");
        assert_eq!(
            f.columns[0].values,
            Values::Text([Some("1"), Some("2"), Some("x")].into_iter().collect())
        );
    }

    #[test]
    fn bad_files_are_clear_errors() {
        assert_eq!(read(""), Err(DataError::Empty));
        assert_eq!(read("a,b\n"), Err(DataError::HeaderOnly));
        assert_eq!(
            read("a,b\n1,2\n3\n"),
            Err(DataError::Ragged {
                line: 3,
                expected: 2,
                found: 1
            })
        );
        assert_eq!(
            read("a,a\n1,2\n"),
            Err(DataError::DuplicateName("a".into()))
        );
        let bad = read_csv(&b"a,b\n1,\xff\n"[..], &ReadOptions::default());
        assert!(
            matches!(bad, Err(DataError::Utf8 { line: 2, .. })),
            "{bad:?}"
        );
    }

    #[test]
    fn binary_and_multiclass_labels() {
        let mut f = read("x,num\n1,0\n2,3\n3,?\n4,1\n").expect("valid");
        let rule = LabelRule::Binary {
            op: crate::data::Compare::Gt,
            threshold: 0.0,
        };
        let (l, dropped) = take_label(&mut f.clone(), "num", &rule).expect("binary");
        assert_eq!((l.y.clone(), dropped), (vec![0, 1, 1], 1));
        let (l, _) = take_label(&mut f, "num", &LabelRule::Multiclass).expect("multi");
        assert_eq!(l.classes, vec!["0", "1", "3"]);
        assert_eq!(l.class_values, Some(vec![0, 1, 3]));
        assert_eq!(l.y, vec![0, 2, 1]);
        assert_eq!(
            f.rows, 3,
            "the row with a missing label is dropped from the features too"
        );
    }

    #[test]
    fn label_errors() {
        let f = read("x,num\n1,0\n2,0\n").expect("valid");
        assert!(matches!(
            take_label(&mut f.clone(), "num", &LabelRule::Multiclass),
            Err(DataError::SingleClass { .. })
        ));
        let e = take_label(&mut f.clone(), "nmu", &LabelRule::Multiclass).expect_err("missing");
        assert_eq!(
            e.to_string(),
            "label column `nmu` is not in the file; the columns are `x`, `num`"
        );
    }

    #[test]
    fn a_named_positive_class_makes_a_binary_task_of_two_values() {
        let f = read("x,diagnosis\n1,benign\n2,malignant\n3,\n4,benign\n").expect("valid");
        let rule = LabelRule::Positive {
            value: "malignant".into(),
        };
        let (l, dropped) = take_label(&mut f.clone(), "diagnosis", &rule).expect("binary");
        assert_eq!(l.classes, vec!["benign", "malignant"]);
        assert_eq!(l.class_values, None);
        assert_eq!((l.y, dropped), (vec![0, 1, 0], 1));
        assert_eq!(rule.positive_class(), Some("malignant"));
        assert_eq!(rule.value_for_class("benign").as_deref(), Some("benign"));
        // The positive class may be the first in order: it is still class 1.
        let rule = LabelRule::Positive {
            value: "benign".into(),
        };
        let (l, _) = take_label(&mut f.clone(), "diagnosis", &rule).expect("binary");
        assert_eq!(l.classes, vec!["malignant", "benign"]);
        assert_eq!(l.y, vec![1, 0, 1]);
        // Numbers too.
        let mut g = read("x,y\n1,2\n2,7\n").expect("valid");
        let (l, _) =
            take_label(&mut g, "y", &LabelRule::Positive { value: "7".into() }).expect("binary");
        assert_eq!(
            (l.classes, l.y),
            (vec!["2".to_string(), "7".into()], vec![0, 1])
        );
    }

    #[test]
    fn a_named_positive_class_that_does_not_fit_is_refused() {
        let f = read("x,size\n1,small\n2,large\n3,medium\n").expect("valid");
        let positive = |v: &str| LabelRule::Positive { value: v.into() };
        let e = take_label(&mut f.clone(), "size", &positive("huge")).expect_err("absent");
        assert_eq!(
            e.to_string(),
            "label column `size`: the positive class `huge` is not among its values (`large`, `medium`, `small`)"
        );
        let e = take_label(&mut f.clone(), "size", &positive("large")).expect_err("three");
        assert!(matches!(e, DataError::NotBinary { .. }), "{e}");
        let one = read("x,size\n1,small\n").expect("valid");
        assert!(matches!(
            take_label(&mut one.clone(), "size", &positive("small")),
            Err(DataError::SingleClass { .. })
        ));
        let e = take_label(
            &mut f.clone(),
            "size",
            &LabelRule::Binary {
                op: Compare::Gt,
                threshold: 0.0,
            },
        )
        .expect_err("text");
        assert!(e.to_string().contains("`positive: <value>`"), "{e}");
    }
}
