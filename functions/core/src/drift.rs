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
//! Inputs must not hold NaN: missing values are counted apart by the caller.

/// Sorted copy of a sample.
fn sorted(x: &[f64]) -> Vec<f64> {
    let mut v = x.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// How many values of the sorted `s` are `<= x`.
fn count_le(s: &[f64], x: f64) -> usize {
    s.partition_point(|v| *v <= x)
}

/// The largest distance between the two empirical CDFs.
pub fn ks_statistic(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return f64::NAN;
    }
    let (sa, sb) = (sorted(a), sorted(b));
    let (na, nb) = (sa.len() as f64, sb.len() as f64);
    sa.iter()
        .chain(sb.iter())
        .map(|x| (count_le(&sa, *x) as f64 / na - count_le(&sb, *x) as f64 / nb).abs())
        .fold(0.0, f64::max)
}

/// The first Wasserstein distance between two samples: the area between their empirical CDFs.
pub fn wasserstein(u: &[f64], v: &[f64]) -> f64 {
    if u.is_empty() || v.is_empty() {
        return f64::NAN;
    }
    let (su, sv) = (sorted(u), sorted(v));
    let mut all: Vec<f64> = su.iter().chain(sv.iter()).copied().collect();
    all.sort_by(f64::total_cmp);
    let (nu, nv) = (su.len() as f64, sv.len() as f64);
    all.windows(2)
        .map(|w| {
            let cu = count_le(&su, w[0]) as f64 / nu;
            let cv = count_le(&sv, w[0]) as f64 / nv;
            (cu - cv).abs() * (w[1] - w[0])
        })
        .sum()
}

/// [`wasserstein`] divided by the reference's (population) standard deviation, so one
/// threshold fits every feature; `NaN` for a constant reference.
pub fn wasserstein_normed(reference: &[f64], current: &[f64]) -> f64 {
    let n = reference.len() as f64;
    let mean = reference.iter().sum::<f64>() / n;
    let sd = (reference.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
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
fn ln_gamma(x: f64) -> f64 {
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
    gamma_q(df / 2.0, x / 2.0)
}

/// Pearson's chi-squared statistic of observed against expected counts, and its p-value with
/// `k − 1` degrees of freedom.
pub fn chi_square(observed: &[f64], expected: &[f64]) -> (f64, f64) {
    let stat: f64 = observed
        .iter()
        .zip(expected)
        .map(|(o, e)| (o - e).powi(2) / e)
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
