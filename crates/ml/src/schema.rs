//! SchemaGen: what valid data looks like, inferred from statistics or curated by hand.
//!
//! Inference rules (documented in `docs/pipeline.md`): every column seen is required; numeric
//! features get the observed `[min, max]` as their range; categorical features get the observed
//! categories as their domain; the allowed missing share is `max(0.05, 2 × observed)`. The schema
//! is versioned by the hash of its content, so the same data always gives the same version.

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::data::Kind;
use crate::stats::Statistics;

/// The schema format this code reads and writes.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    pub format: u32,
    pub features: Vec<FeatureSchema>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<LabelSchema>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSchema {
    pub name: String,
    pub kind: Kind,
    /// `number` or `string`.
    pub dtype: String,
    pub required: bool,
    /// Allowed `[min, max]` of a numeric feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<[f64; 2]>,
    /// Allowed values of a categorical feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<Vec<String>>,
    pub max_missing_share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelSchema {
    pub classes: Vec<String>,
}

impl Schema {
    /// Infer a schema from statistics.
    pub fn infer(stats: &Statistics) -> Schema {
        let features = stats
            .features
            .iter()
            .map(|f| {
                let observed = if stats.rows == 0 {
                    0.0
                } else {
                    f.missing as f64 / stats.rows as f64
                };
                let range = match (&f.numeric, f.kind) {
                    (Some(n), Kind::Numeric) => Some([n.min, n.max]),
                    _ => None,
                };
                let domain = (f.kind == Kind::Categorical).then(|| {
                    let mut d: Vec<String> = f.categories.iter().map(|(c, _)| c.clone()).collect();
                    d.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
                        (Ok(x), Ok(y)) => x.total_cmp(&y),
                        _ => a.cmp(b),
                    });
                    d
                });
                FeatureSchema {
                    name: f.name.clone(),
                    kind: f.kind,
                    dtype: f.dtype.clone(),
                    required: true,
                    range,
                    domain,
                    max_missing_share: round6((2.0 * observed).clamp(0.05, 1.0)),
                }
            })
            .collect();
        let label = stats.label.as_ref().map(|l| LabelSchema {
            classes: l.classes.clone(),
        });
        Schema {
            format: FORMAT,
            features,
            label,
        }
    }

    pub fn feature(&self, name: &str) -> Option<&FeatureSchema> {
        self.features.iter().find(|f| f.name == name)
    }

    /// Canonical JSON (what is hashed and stored).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// The content version: `sha256:` and 12 hex digits of the canonical JSON.
    pub fn version(&self) -> String {
        let d = sha2::Sha256::digest(self.to_json().as_bytes());
        format!("sha256:{}", &hex::encode(d)[..12])
    }

    /// Read a curated schema file (JSON), with errors that name the problem.
    pub fn from_json(text: &str) -> Result<Schema, String> {
        let s: Schema = serde_json::from_str(text).map_err(|e| {
            format!(
                "not a valid schema: line {} column {}: {e}",
                e.line(),
                e.column()
            )
        })?;
        if s.format != FORMAT {
            return Err(format!(
                "schema format {} is not supported, expected {FORMAT}",
                s.format
            ));
        }
        for f in &s.features {
            if !(0.0..=1.0).contains(&f.max_missing_share) {
                return Err(format!(
                    "feature `{}`: `max_missing_share` is {}, expected a share between 0 and 1",
                    f.name, f.max_missing_share
                ));
            }
            if let Some([lo, hi]) = f.range
                && lo > hi
            {
                return Err(format!("feature `{}`: range [{lo}, {hi}] is empty", f.name));
            }
        }
        Ok(s)
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}
