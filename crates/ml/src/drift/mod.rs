//! Drift statistics: how far a current sample of a feature is from its reference (training)
//! sample. Each function equals its scipy counterpart on the same input to 1e-9
//! (`tests/drift.rs`, reference values from `python/drift_reference.py`).
//!
//! - [`ks_statistic`]: the two-sample Kolmogorov–Smirnov statistic (`scipy.stats.ks_2samp`).
//! - [`wasserstein`]: the first Wasserstein distance (`scipy.stats.wasserstein_distance`);
//!   [`wasserstein_normed`] divides it by the reference's standard deviation.
//! - [`psi`]: the population stability index over equal-width bins of the combined range, an
//!   empty bin counting as 0.0001 of its sample.
//! - [`chi_square`]: Pearson's chi-squared goodness of fit (`scipy.stats.chisquare`) with its
//!   p-value from [`chi2_sf`] (`scipy.stats.chi2.sf`).
//! - [`jensen_shannon`]: the Jensen–Shannon distance, natural log
//!   (`scipy.spatial.distance.jensenshannon`).
//!
//! - [`ks::p_value`]: the KS test's p-value as `ks_2samp(method="auto")` computes it.
//! - [`numeric`]: all of the numeric ones in one pass over both samples sorted once (a radix
//!   sort), which is what the monitor calls.
//!
//! Inputs must not hold NaN: missing values are counted apart by the caller.

pub mod ks;

/// Sort values (no NaN) ascending: an LSD radix sort on order-preserving 64-bit keys, in
/// 16-bit digits, for large samples; a comparison sort for small ones.
pub fn sort_values(x: &mut [f64]) {
    if x.len() < 512 {
        x.sort_unstable_by(f64::total_cmp);
        return;
    }
    let key = |v: f64| {
        let b = v.to_bits();
        if b >> 63 == 1 { !b } else { b | (1 << 63) }
    };
    let mut keys: Vec<u64> = x.iter().map(|v| key(*v)).collect();
    let mut tmp = vec![0u64; keys.len()];
    // 11-bit digits: six passes whose 2048 counters stay in the L1 cache.
    const BITS: u32 = 11;
    const MASK: u64 = (1 << BITS) - 1;
    let mut counts = vec![0usize; 1 << BITS];
    let mut shift = 0;
    while shift < 64 {
        counts.iter_mut().for_each(|c| *c = 0);
        for k in &keys {
            counts[((k >> shift) & MASK) as usize] += 1;
        }
        if !counts.contains(&keys.len()) {
            let mut sum = 0;
            for c in counts.iter_mut() {
                (*c, sum) = (sum, sum + *c);
            }
            for k in &keys {
                let d = ((k >> shift) & MASK) as usize;
                tmp[counts[d]] = *k;
                counts[d] += 1;
            }
            std::mem::swap(&mut keys, &mut tmp);
        }
        shift += BITS;
    }
    for (v, k) in x.iter_mut().zip(keys) {
        let b = if k >> 63 == 1 { k & !(1 << 63) } else { !k };
        *v = f64::from_bits(b);
    }
}

/// Sorted copy of a sample.
fn sorted(x: &[f64]) -> Vec<f64> {
    let mut v = x.to_vec();
    sort_values(&mut v);
    v
}

/// The KS statistic and the first Wasserstein distance of two sorted samples, in one merge.
fn merge_stats(a: &[f64], b: &[f64]) -> (f64, f64) {
    let (n, m) = (a.len(), b.len());
    let (nf, mf) = (n as f64, m as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let (mut d, mut w) = (0.0f64, 0.0f64);
    let mut prev: Option<f64> = None;
    while i < n || j < m {
        let v = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.min(*y),
            (Some(x), None) => *x,
            (None, Some(y)) => *y,
            (None, None) => break,
        };
        if let Some(p) = prev {
            w += (i as f64 / nf - j as f64 / mf).abs() * (v - p);
        }
        while i < n && a[i] <= v {
            i += 1;
        }
        while j < m && b[j] <= v {
            j += 1;
        }
        d = d.max((i as f64 / nf - j as f64 / mf).abs());
        prev = Some(v);
    }
    (d, w)
}

/// The largest distance between the two empirical CDFs.
pub fn ks_statistic(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return f64::NAN;
    }
    merge_stats(&sorted(a), &sorted(b)).0
}

/// The KS statistic and its two-sided p-value ([`ks::p_value`]).
pub fn ks_test(a: &[f64], b: &[f64]) -> (f64, f64) {
    let d = ks_statistic(a, b);
    (d, ks::p_value(d, a.len(), b.len()))
}

/// Every numeric drift statistic of one feature.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Numeric {
    pub ks_statistic: f64,
    pub ks_p_value: f64,
    pub wasserstein: f64,
    /// [`Numeric::wasserstein`] over the reference's standard deviation.
    pub wasserstein_normed: f64,
    pub psi: f64,
}

/// KS statistic and p-value, Wasserstein distance (plain and normed) and PSI over `bins` bins,
/// with each sample sorted once. `NaN`s when either sample is empty.
pub fn numeric(reference: &[f64], current: &[f64], bins: usize) -> Numeric {
    if reference.is_empty() || current.is_empty() {
        return Numeric {
            ks_statistic: f64::NAN,
            ks_p_value: f64::NAN,
            wasserstein: f64::NAN,
            wasserstein_normed: f64::NAN,
            psi: f64::NAN,
        };
    }
    let (r, c) = (sorted(reference), sorted(current));
    let (d, w) = merge_stats(&r, &c);
    let sd = std_dev(&r);
    let lo = r[0].min(c[0]);
    let hi = r[r.len() - 1].max(c[c.len() - 1]);
    Numeric {
        ks_statistic: d,
        ks_p_value: ks::p_value(d, r.len(), c.len()),
        wasserstein: w,
        wasserstein_normed: if sd > 0.0 { w / sd } else { f64::NAN },
        psi: psi_in(&r, &c, lo, hi, bins),
    }
}

/// [`numeric`] for many (reference, current) pairs, spread over the machine's cores.
pub fn numeric_many(pairs: &[(&[f64], &[f64])], bins: usize) -> Vec<Numeric> {
    crate::par::map(pairs, crate::par::threads(), |(r, c)| numeric(r, c, bins))
}

fn std_dev(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt()
}

/// The first Wasserstein distance between two samples: the area between their empirical CDFs.
pub fn wasserstein(u: &[f64], v: &[f64]) -> f64 {
    if u.is_empty() || v.is_empty() {
        return f64::NAN;
    }
    merge_stats(&sorted(u), &sorted(v)).1
}

/// [`wasserstein`] divided by the reference's (population) standard deviation, so one
/// threshold fits every feature; `NaN` for a constant reference.
pub fn wasserstein_normed(reference: &[f64], current: &[f64]) -> f64 {
    let sd = std_dev(reference);
    if sd > 0.0 {
        wasserstein(reference, current) / sd
    } else {
        f64::NAN
    }
}

/// The share of a sample in each of `bins` equal-width bins over `[lo, hi]` (the last bin
/// closed), an empty bin counting as 0.0001.
fn bin_shares(x: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<f64> {
    let mut counts = vec![0usize; bins];
    let width = (hi - lo) / bins as f64;
    for v in x {
        let i = if width > 0.0 {
            (((v - lo) / width).floor() as usize).min(bins - 1)
        } else {
            0
        };
        counts[i] += 1;
    }
    let n = x.len() as f64;
    counts
        .into_iter()
        .map(|c| if c == 0 { 0.0001 } else { c as f64 / n })
        .collect()
}

/// The population stability index of `current` against `reference` over `bins` equal-width bins
/// spanning both samples.
pub fn psi(reference: &[f64], current: &[f64], bins: usize) -> f64 {
    if reference.is_empty() || current.is_empty() || bins == 0 {
        return f64::NAN;
    }
    let all = reference.iter().chain(current.iter());
    let lo = all.clone().copied().fold(f64::INFINITY, f64::min);
    let hi = all.copied().fold(f64::NEG_INFINITY, f64::max);
    psi_in(reference, current, lo, hi, bins)
}

/// PSI over `bins` equal-width bins of `[lo, hi]` (widened by ±0.5 when it is one point).
fn psi_in(reference: &[f64], current: &[f64], lo: f64, hi: f64, bins: usize) -> f64 {
    let (lo, hi) = if lo == hi {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    };
    psi_of_shares(
        &bin_shares(reference, lo, hi, bins),
        &bin_shares(current, lo, hi, bins),
    )
}

/// The PSI of two share vectors of the same bins (or categories).
pub fn psi_of_shares(reference: &[f64], current: &[f64]) -> f64 {
    reference
        .iter()
        .zip(current)
        .map(|(r, c)| (r - c) * (r / c).ln())
        .sum()
}

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, relative error below 1e-15).
pub(crate) fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularised upper incomplete gamma function `Q(a, x)`.
fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let prefix = (a * x.ln() - x - ln_gamma(a)).exp();
    if x < a + 1.0 {
        // Series for P(a, x).
        let (mut term, mut sum, mut n) = (1.0 / a, 1.0 / a, a);
        for _ in 0..10_000 {
            n += 1.0;
            term *= x / n;
            sum += term;
            if term.abs() < sum.abs() * 1e-17 {
                break;
            }
        }
        1.0 - sum * prefix
    } else {
        // Continued fraction for Q(a, x) (modified Lentz).
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-17 {
                break;
            }
        }
        prefix * h
    }
}

/// The survival function of the chi-squared distribution with `df` degrees of freedom.
pub fn chi2_sf(x: f64, df: f64) -> f64 {
    if x == f64::INFINITY {
        return 0.0;
    }
    gamma_q(df / 2.0, x / 2.0)
}

/// Pearson's chi-squared statistic of observed against expected counts, and its p-value with
/// `k − 1` degrees of freedom. A category expected never but observed (a new category) makes
/// the statistic infinite and the p-value 0; one neither expected nor observed adds nothing.
pub fn chi_square(observed: &[f64], expected: &[f64]) -> (f64, f64) {
    let stat: f64 = observed
        .iter()
        .zip(expected)
        .map(|(o, e)| match (*o, *e) {
            (o, e) if e > 0.0 => (o - e).powi(2) / e,
            (o, _) if o > 0.0 => f64::INFINITY,
            _ => 0.0,
        })
        .sum();
    let df = observed.len().saturating_sub(1) as f64;
    (stat, chi2_sf(stat, df))
}

/// The Jensen–Shannon distance (natural log) between two distributions over the same
/// categories; each is normalised to sum to 1 first.
pub fn jensen_shannon(p: &[f64], q: &[f64]) -> f64 {
    let (sp, sq) = (p.iter().sum::<f64>(), q.iter().sum::<f64>());
    let rel = |x: f64, y: f64| if x > 0.0 { x * (x / y).ln() } else { 0.0 };
    let js: f64 = p
        .iter()
        .zip(q)
        .map(|(a, b)| {
            let (a, b) = (a / sp, b / sq);
            let m = (a + b) / 2.0;
            rel(a, m) + rel(b, m)
        })
        .sum::<f64>()
        / 2.0;
    js.max(0.0).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_samples_do_not_drift() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(ks_statistic(&x, &x), 0.0);
        assert_eq!(wasserstein(&x, &x), 0.0);
        assert!(psi(&x, &x, 10).abs() < 1e-12);
        assert!(jensen_shannon(&x, &x).abs() < 1e-12);
    }

    #[test]
    fn a_shift_is_the_wasserstein_distance() {
        let a: Vec<f64> = (0..100).map(f64::from).collect();
        let b: Vec<f64> = a.iter().map(|x| x + 7.0).collect();
        assert!((wasserstein(&a, &b) - 7.0).abs() < 1e-9);
        assert!((ks_statistic(&a, &b) - 0.07).abs() < 1e-12);
    }
}
