//! ExampleValidator: the anomalies of a batch of data against a schema.
//!
//! | anomaly | severity |
//! |---|---|
//! | a required column is missing | error |
//! | a column the schema does not know | warning |
//! | text in a numeric column | error |
//! | a numeric value outside the range | warning |
//! | a category outside the domain | warning |
//! | more missing cells than the allowed share | error |
//!
//! Errors block training; warnings are reported and training goes on.

use serde::{Deserialize, Serialize};

use crate::data::{Frame, Values, fmt_num};
use crate::schema::Schema;

/// How many example values an anomaly keeps.
pub const EXAMPLES: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    MissingColumn,
    UnexpectedColumn,
    WrongType,
    OutOfRange,
    UnknownCategory,
    TooManyMissing,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    pub column: String,
    pub kind: AnomalyKind,
    pub severity: Severity,
    /// How many cells (or 1 for a column-level anomaly).
    pub count: usize,
    pub examples: Vec<String>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Anomalies {
    pub rows: usize,
    pub anomalies: Vec<Anomaly>,
}

impl Anomalies {
    pub fn errors(&self) -> impl Iterator<Item = &Anomaly> {
        self.anomalies
            .iter()
            .filter(|a| a.severity == Severity::Error)
    }

    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }
}

/// Check `frame` (features only, no label) against `schema`.
pub fn validate(frame: &Frame, schema: &Schema) -> Anomalies {
    let mut out = Vec::new();
    for f in &schema.features {
        if f.required && frame.column(&f.name).is_none() {
            out.push(Anomaly {
                column: f.name.clone(),
                kind: AnomalyKind::MissingColumn,
                severity: Severity::Error,
                count: 1,
                examples: vec![],
                message: format!("required column `{}` is missing", f.name),
            });
        }
    }
    for c in &frame.columns {
        let Some(f) = schema.feature(&c.name) else {
            out.push(Anomaly {
                column: c.name.clone(),
                kind: AnomalyKind::UnexpectedColumn,
                severity: Severity::Warning,
                count: 1,
                examples: vec![],
                message: format!("column `{}` is not in the schema; it is ignored", c.name),
            });
            continue;
        };
        let n = c.values.len();
        let missing = (0..n).filter(|&i| c.values.is_missing(i)).count();
        let share = if n == 0 {
            0.0
        } else {
            missing as f64 / n as f64
        };
        if share > f.max_missing_share {
            out.push(Anomaly {
                column: c.name.clone(),
                kind: AnomalyKind::TooManyMissing,
                severity: Severity::Error,
                count: missing,
                examples: vec![],
                message: format!(
                    "`{}` is missing in {:.1}% of rows, the schema allows {:.1}%",
                    c.name,
                    share * 100.0,
                    f.max_missing_share * 100.0
                ),
            });
        }
        match (&c.values, f.dtype.as_str()) {
            (Values::Text(v), "number") => {
                let bad: Vec<&str> = v
                    .iter()
                    .flatten()
                    .filter(|s| s.parse::<f64>().is_err())
                    .collect();
                push_cells(
                    &mut out,
                    &c.name,
                    AnomalyKind::WrongType,
                    Severity::Error,
                    bad.iter().map(|s| s.to_string()),
                    |count| format!("`{}` should hold numbers; {count} cells are text", c.name),
                );
                // The numbers among the text still get range checks below.
                let nums: Vec<f64> = v
                    .iter()
                    .map(|s| s.and_then(|s| s.parse().ok()).unwrap_or(f64::NAN))
                    .collect();
                check_numbers(&mut out, &c.name, f, &nums);
            }
            (Values::Number(v), _) => check_numbers(&mut out, &c.name, f, v),
            (Values::Text(v), _) => {
                if let Some(domain) = &f.domain {
                    let bad = v
                        .iter()
                        .flatten()
                        .filter(|s| !domain.iter().any(|d| d == s))
                        .map(str::to_string);
                    push_cells(
                        &mut out,
                        &c.name,
                        AnomalyKind::UnknownCategory,
                        Severity::Warning,
                        bad,
                        |count| format!("`{}` has {count} values outside its domain", c.name),
                    );
                }
            }
        }
    }
    Anomalies {
        rows: frame.rows,
        anomalies: out,
    }
}

fn check_numbers(out: &mut Vec<Anomaly>, name: &str, f: &crate::schema::FeatureSchema, v: &[f64]) {
    if let Some([lo, hi]) = f.range {
        let bad = v
            .iter()
            .filter(|x| !x.is_nan() && (**x < lo || **x > hi))
            .map(|x| fmt_num(*x));
        push_cells(
            out,
            name,
            AnomalyKind::OutOfRange,
            Severity::Warning,
            bad,
            |count| {
                format!(
                    "`{name}` has {count} values outside [{}, {}]",
                    fmt_num(lo),
                    fmt_num(hi)
                )
            },
        );
    }
    if let Some(domain) = &f.domain {
        // Numbers compare as numbers (`3` and `3.0` are one category); only the values outside
        // the domain are formatted.
        let allowed: std::collections::HashSet<u64> = domain
            .iter()
            .filter_map(|d| d.parse::<f64>().ok())
            .map(|x| (x + 0.0).to_bits())
            .collect();
        let bad = v
            .iter()
            .filter(|x| !x.is_nan() && !allowed.contains(&(**x + 0.0).to_bits()))
            .map(|x| fmt_num(*x));
        push_cells(
            out,
            name,
            AnomalyKind::UnknownCategory,
            Severity::Warning,
            bad,
            |count| format!("`{name}` has {count} values outside its domain"),
        );
    }
}

fn push_cells(
    out: &mut Vec<Anomaly>,
    column: &str,
    kind: AnomalyKind,
    severity: Severity,
    cells: impl Iterator<Item = String>,
    message: impl Fn(usize) -> String,
) {
    let mut count = 0;
    let mut examples: Vec<String> = Vec::new();
    for c in cells {
        count += 1;
        if examples.len() < EXAMPLES && !examples.contains(&c) {
            examples.push(c);
        }
    }
    if count > 0 {
        out.push(Anomaly {
            column: column.to_string(),
            kind,
            severity,
            count,
            examples,
            message: message(count),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{LabelRule, ReadOptions, read_csv, take_label};
    use crate::stats;

    const HEART: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/heart-disease/processed.cleveland.csv"
    );

    fn opts() -> ReadOptions {
        ReadOptions {
            categorical: [
                "sex", "cp", "fbs", "restecg", "exang", "slope", "ca", "thal",
            ]
            .map(String::from)
            .to_vec(),
            ..ReadOptions::default()
        }
    }

    fn frame(text: &str) -> Frame {
        let mut f = read_csv(text.as_bytes(), &opts()).expect("csv");
        let rule = LabelRule::Binary {
            op: crate::data::Compare::Gt,
            threshold: 0.0,
        };
        take_label(&mut f, "num", &rule).expect("label");
        f
    }

    fn schema() -> Schema {
        let f = frame(&std::fs::read_to_string(HEART).expect("data"));
        Schema::infer(&stats::compute(&f, None))
    }

    #[test]
    fn clean_data_has_no_anomaly() {
        let f = frame(&std::fs::read_to_string(HEART).expect("data"));
        let a = validate(&f, &schema());
        assert!(a.anomalies.is_empty(), "{:#?}", a.anomalies);
    }

    #[test]
    fn every_injected_anomaly_is_found() {
        let text = std::fs::read_to_string(HEART).expect("data");
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        for (i, line) in lines.iter_mut().enumerate().skip(1) {
            let mut cells: Vec<String> = line.split(',').map(String::from).collect();
            // text in a numeric column (row 1), a new category (row 2), out of range (row 3)
            if i == 1 {
                cells[0] = "sixty".into();
            }
            if i == 2 {
                cells[12] = "9.0".into();
            }
            if i == 3 {
                cells[4] = "900.0".into();
            }
            // 40 % missing in `thalach`
            if i % 5 < 2 {
                cells[7] = "?".into();
            }
            *line = cells.join(",");
        }
        let f = frame(&lines.join("\n"));
        let a = validate(&f, &schema());
        let found = |col: &str, kind: AnomalyKind| {
            a.anomalies
                .iter()
                .find(|x| x.column == col && x.kind == kind)
        };
        let wrong = found("age", AnomalyKind::WrongType).expect("wrong type");
        assert_eq!((wrong.count, wrong.severity), (1, Severity::Error));
        assert_eq!(wrong.examples, vec!["sixty"]);
        let cat = found("thal", AnomalyKind::UnknownCategory).expect("new category");
        assert_eq!(cat.examples, vec!["9"]);
        let range = found("chol", AnomalyKind::OutOfRange).expect("out of range");
        assert_eq!(range.examples, vec!["900"]);
        let missing = found("thalach", AnomalyKind::TooManyMissing).expect("missing share");
        assert_eq!(missing.severity, Severity::Error);
        assert!(a.has_errors());
        assert_eq!(a.anomalies.len(), 4, "{:#?}", a.anomalies);
    }

    #[test]
    fn missing_and_unexpected_columns() {
        let f = frame("age,extra,num\n50,1,0\n60,2,1\n");
        let a = validate(&f, &schema());
        assert!(
            a.anomalies
                .iter()
                .any(|x| x.column == "sex" && x.kind == AnomalyKind::MissingColumn)
        );
        assert!(
            a.anomalies
                .iter()
                .any(|x| x.column == "extra" && x.severity == Severity::Warning)
        );
    }

    #[test]
    fn schema_versions_are_content_hashes_and_curated_files_are_checked() {
        let s = schema();
        assert_eq!(s.version(), schema().version());
        let back = Schema::from_json(&s.to_json()).expect("round trip");
        assert_eq!(back, s);
        let e = Schema::from_json("{\"format\": 1, \"features\": [], \"extra\": 1}")
            .expect_err("unknown field");
        assert!(e.contains("unknown field `extra`"), "{e}");
    }
}
