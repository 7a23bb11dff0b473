//! StatisticsGen: per-feature statistics and the label distribution.
//!
//! Quantiles use linear interpolation between order statistics (NumPy's default), found with
//! selection rather than a full sort, so a million rows take milliseconds per column.

use serde::{Deserialize, Serialize};

use crate::data::{Frame, Kind, Labels, Values};

pub const QUANTILES: [f64; 7] = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99];
pub const HISTOGRAM_BINS: usize = 20;
/// Category frequencies kept per feature (the most frequent first).
pub const TOP_CATEGORIES: usize = 50;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statistics {
    pub rows: usize,
    pub features: Vec<FeatureStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<LabelStats>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureStats {
    pub name: String,
    pub kind: Kind,
    /// `number` or `string`: what the cells hold.
    pub dtype: String,
    pub count: usize,
    pub missing: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numeric: Option<NumericStats>,
    /// Category frequencies, most frequent first (ties by value), for categorical features.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<(String, usize)>,
    /// Number of distinct categories (may exceed the listed ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericStats {
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
    pub min: f64,
    pub max: f64,
    /// Values at [`QUANTILES`].
    pub quantiles: Vec<f64>,
    pub histogram: Histogram,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Bin edges, `counts.len() + 1` of them; the last bin includes its right edge.
    pub edges: Vec<f64>,
    pub counts: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelStats {
    pub classes: Vec<String>,
    pub counts: Vec<usize>,
}

impl Statistics {
    pub fn feature(&self, name: &str) -> Option<&FeatureStats> {
        self.features.iter().find(|f| f.name == name)
    }
}

/// Compute the statistics of a frame (and of its labels, when given).
pub fn compute(frame: &Frame, labels: Option<&Labels>) -> Statistics {
    let features = frame
        .columns
        .iter()
        .map(|c| {
            let missing = (0..c.values.len())
                .filter(|&i| c.values.is_missing(i))
                .count();
            let count = c.values.len() - missing;
            let (dtype, numeric) = match &c.values {
                Values::Number(v) => ("number", numeric_stats(v)),
                Values::Text(_) => ("string", None),
            };
            let (categories, distinct) = if c.kind == Kind::Categorical {
                let all = frequencies(&c.values);
                let distinct = all.len();
                (
                    all.into_iter().take(TOP_CATEGORIES).collect(),
                    Some(distinct),
                )
            } else {
                (Vec::new(), None)
            };
            FeatureStats {
                name: c.name.clone(),
                kind: c.kind,
                dtype: dtype.to_string(),
                count,
                missing,
                numeric,
                categories,
                distinct,
            }
        })
        .collect();
    let label = labels.map(|l| {
        let mut counts = vec![0; l.classes.len()];
        for &y in &l.y {
            counts[y] += 1;
        }
        LabelStats {
            classes: l.classes.clone(),
            counts,
        }
    });
    Statistics {
        rows: frame.rows,
        features,
        label,
    }
}

/// Category frequencies, most frequent first, ties by value.
pub fn frequencies(values: &Values) -> Vec<(String, usize)> {
    let mut v: Vec<(String, usize)> = match values {
        // Count numbers by their bits and format each distinct value once.
        Values::Number(nums) => {
            let mut map: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
            for x in nums.iter().filter(|x| !x.is_nan()) {
                // +0.0 and -0.0 are one category.
                *map.entry((x + 0.0).to_bits()).or_default() += 1;
            }
            map.into_iter()
                .map(|(b, n)| (crate::data::fmt_num(f64::from_bits(b)), n))
                .collect()
        }
        Values::Text(texts) => {
            let (dict, codes) = texts.coded();
            let mut counts = vec![0usize; dict.len()];
            for c in codes.flatten() {
                counts[c] += 1;
            }
            dict.iter()
                .zip(counts)
                .filter(|(_, n)| *n > 0)
                .map(|(k, n)| (k.clone(), n))
                .collect()
        }
    };
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

fn numeric_stats(v: &[f64]) -> Option<NumericStats> {
    let mut present: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    if present.is_empty() {
        return None;
    }
    let n = present.len() as f64;
    let mean = present.iter().sum::<f64>() / n;
    let var = present.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    for &x in &present {
        min = min.min(x);
        max = max.max(x);
    }
    let quantiles = quantiles(&mut present, &QUANTILES);
    let histogram = histogram(v, min, max, HISTOGRAM_BINS);
    Some(NumericStats {
        mean,
        std: var.sqrt(),
        min,
        max,
        quantiles,
        histogram,
    })
}

/// Quantiles with linear interpolation (NumPy `linear`), by selection; reorders `v`.
pub fn quantiles(v: &mut [f64], qs: &[f64]) -> Vec<f64> {
    let n = v.len();
    let mut out = Vec::with_capacity(qs.len());
    // Select the needed order statistics left to right, each within the part not yet fixed.
    let mut lo = 0usize;
    for &q in qs {
        let pos = q * (n - 1) as f64;
        let k = pos.floor() as usize;
        let frac = pos - k as f64;
        let a = select(v, lo, k);
        let b = if frac > 0.0 && k + 1 < n {
            // The next order statistic is the minimum of the part after k.
            v[k + 1..].iter().copied().fold(f64::INFINITY, f64::min)
        } else {
            a
        };
        out.push(a + (b - a) * frac);
        lo = k;
    }
    out
}

fn select(v: &mut [f64], lo: usize, k: usize) -> f64 {
    let (_, x, _) = v[lo..].select_nth_unstable_by(k - lo, |a, b| a.total_cmp(b));
    *x
}

/// Equal-width bins between min and max; missing values are not counted.
pub fn histogram(v: &[f64], min: f64, max: f64, bins: usize) -> Histogram {
    let width = if max > min {
        (max - min) / bins as f64
    } else {
        1.0
    };
    let edges = (0..=bins).map(|i| min + width * i as f64).collect();
    let mut counts = vec![0usize; bins];
    for &x in v {
        if x.is_nan() {
            continue;
        }
        let b = (((x - min) / width) as usize).min(bins - 1);
        counts[b] += 1;
    }
    Histogram { edges, counts }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{ReadOptions, read_csv};

    #[test]
    fn quantiles_match_numpy_linear() {
        // numpy.quantile([3, 1, 4, 1, 5, 9, 2, 6], [.01, .05, .25, .5, .75, .95, .99])
        let mut v = vec![3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        let q = quantiles(&mut v, &QUANTILES);
        let expected = [1.0, 1.0, 1.75, 3.5, 5.25, 7.95, 8.79];
        for (a, b) in q.iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{q:?}");
        }
    }

    #[test]
    fn feature_statistics() {
        let f = read_csv(
            "a,c\n1,x\n2,y\n?,x\n4,\n".as_bytes(),
            &ReadOptions::default(),
        )
        .expect("csv");
        let s = compute(&f, None);
        let a = s.feature("a").expect("a");
        assert_eq!((a.count, a.missing), (3, 1));
        let n = a.numeric.as_ref().expect("numeric");
        assert!((n.mean - 7.0 / 3.0).abs() < 1e-12);
        assert_eq!((n.min, n.max), (1.0, 4.0));
        assert_eq!(n.histogram.counts.iter().sum::<usize>(), 3);
        let c = s.feature("c").expect("c");
        assert_eq!(
            c.categories,
            vec![("x".to_string(), 2), ("y".to_string(), 1)]
        );
        assert_eq!(c.missing, 1);
    }
}
