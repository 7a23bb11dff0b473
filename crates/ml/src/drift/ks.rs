//! The p-value of the two-sample Kolmogorov–Smirnov test, as `scipy.stats.ks_2samp` computes it
//! with `method="auto"`: exact when neither sample has more than 10 000 values, else from the
//! distribution of the one-sample statistic `D_n` with `n = round(n₁n₂ / (n₁ + n₂))`.
//!
//! - exact, equal sizes: the proportion of lattice paths leaving the band `|x − y| < h`, summed
//!   as an alternating series in Horner form (Hodges 1958);
//! - exact, unequal sizes: the proportion of paths leaving the band, computed directly as
//!   `1 − P(inside)` column by column (Viehmann 2021), which keeps every value in `[0, 1]`;
//! - asymptotic: the Kolmogorov distribution of Simard & L'Ecuyer (2011): the Durbin matrix
//!   (Marsaglia, Tsang & Wang 2003) for small `n·x²`, the Pelz–Good expansion, and twice the
//!   exact one-sided Smirnov tail (Birnbaum & Tingey 1951) in the upper tail.

/// Above this many values in either sample the p-value is asymptotic (scipy's `MAX_AUTO_N`).
pub const MAX_EXACT_N: usize = 10_000;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The two-sided p-value of the KS statistic `d` between samples of `n1` and `n2` values.
pub fn p_value(d: f64, n1: usize, n2: usize) -> f64 {
    if n1 == 0 || n2 == 0 || d.is_nan() {
        return f64::NAN;
    }
    if n1.max(n2) <= MAX_EXACT_N
        && let Some(p) = exact(d, n1 as u64, n2 as u64)
    {
        return p.clamp(0.0, 1.0);
    }
    let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
    let en = (m * n / (m + n)).round();
    kolmogorov_sf(en as u64, d).clamp(0.0, 1.0)
}

/// The exact p-value; `None` when it cannot be computed in floating point.
fn exact(d: f64, n1: u64, n2: u64) -> Option<f64> {
    let g = gcd(n1, n2);
    let lcm = (n1 / g) * n2;
    let h = (d * lcm as f64).round_ties_even() as u64;
    if h == 0 {
        return Some(1.0);
    }
    let p = if n1 == n2 {
        outside_square(n1, h)
    } else {
        outside_band(n1, n2, g, h)
    };
    (p.is_finite() && (0.0..=1.0).contains(&p)).then_some(p)
}

/// `P(D_{n,n} ≥ h/n)`: `2 Σ_k (−1)^(k+1) C(2n, n − kh) / C(2n, n)` in Horner form.
fn outside_square(n: u64, h: u64) -> f64 {
    let mut p = 0.0;
    let mut k = n / h;
    loop {
        let mut a = 1.0;
        for j in 0..h {
            a = (n as f64 - (k * h) as f64 - j as f64) * a
                / (n as f64 + (k * h) as f64 + j as f64 + 1.0);
        }
        p = a * (1.0 - p);
        if k == 0 {
            break;
        }
        k -= 1;
    }
    2.0 * p
}

/// The proportion of monotone lattice paths from `(0, 0)` to `(m, n)` that leave the band
/// `|x·n/g − y·m/g| < h`, as `A(i, j) = (i·A(i−1, j) + j·A(i, j−1)) / (i + j)` with `A = 1`
/// outside the band, keeping one column's window of the band.
fn outside_band(m: u64, n: u64, g: u64, h: u64) -> f64 {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (mg, ng) = ((m / g) as i64, (n / g) as i64);
    let (h, n_i) = (h as i64, n as i64);
    let ceil_div = |a: i64, b: i64| -> i64 { -((-a).div_euclid(b)) };
    let mut minj: i64 = 0;
    let mut maxj: i64 = ceil_div(h, mg).min(n_i + 1);
    let mut col = vec![0.0f64; (maxj - minj) as usize];
    let mut next = Vec::with_capacity(col.len() + 2);
    for i in 1..=m as i64 {
        let (last_min, last_len) = (minj, col.len() as i64);
        minj = ((ng * i - h).div_euclid(mg) + 1).max(0).min(n_i);
        maxj = ceil_div(ng * i + h, mg).min(n_i + 1);
        if maxj <= minj {
            return 1.0;
        }
        next.clear();
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        let fi = i as f64;
        for j in minj..maxj {
            let k = j - last_min;
            let left = if (0..last_len).contains(&k) {
                col[k as usize]
            } else {
                1.0
            };
            val = (left * fi + val * j as f64) / (fi + j as f64);
            next.push(val);
        }
        std::mem::swap(&mut col, &mut next);
    }
    col.last().copied().unwrap_or(1.0)
}

/// `ln(n! / nⁿ)`.
fn ln_factorial_over_power(n: u64) -> f64 {
    super::ln_gamma(n as f64 + 1.0) - n as f64 * (n as f64).ln()
}

/// `P(D_n > x)`, the survival function of the two-sided one-sample KS statistic
/// (`scipy.stats.kstwo.sf`).
pub fn kolmogorov_sf(n: u64, x: f64) -> f64 {
    if n == 0 || x.is_nan() {
        return f64::NAN;
    }
    if x >= 1.0 {
        return 0.0;
    }
    if x <= 0.0 {
        return 1.0;
    }
    let nf = n as f64;
    let t = nf * x;
    if t <= 1.0 {
        if t <= 0.5 {
            return 1.0;
        }
        let cdf = (ln_factorial_over_power(n) + nf * (2.0 * t - 1.0).ln()).exp();
        return 1.0 - cdf;
    }
    if t >= nf - 1.0 {
        return 2.0 * (1.0 - x).powf(nf);
    }
    if x >= 0.5 {
        return 2.0 * smirnov(n, x);
    }
    let nx2 = t * x;
    if n <= 140 {
        if nx2 <= 4.0 {
            return 1.0 - durbin_cdf(n, x);
        }
        return 2.0 * smirnov(n, x);
    }
    if nx2 >= 370.0 {
        return 0.0;
    }
    if nx2 >= 2.2 {
        return 2.0 * smirnov(n, x);
    }
    let cdf = if nx2 >= 18.0 {
        1.0
    } else if n <= 100_000 && nf * x.powf(1.5) <= 1.4 {
        durbin_cdf(n, x)
    } else {
        pelz_good_cdf(n, x)
    };
    1.0 - cdf
}

/// `P(D⁺_n ≥ x)`, the one-sided Smirnov tail, by the Birnbaum–Tingey sum
/// `x Σ_{j ≤ n(1−x)} C(n, j) (1 − x − j/n)^(n−j) (x + j/n)^(j−1)`, summed in logs (all terms are
/// positive, so nothing cancels).
pub fn smirnov(n: u64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    if x >= 1.0 {
        return 0.0;
    }
    let nf = n as f64;
    let jmax = (nf * (1.0 - x)).floor() as u64;
    // ln C(n, j) by the recurrence C(n, j+1) = C(n, j)·(n−j)/(j+1), re-anchored on ln Γ every
    // 64 steps so rounding cannot accumulate; the far tails, more than e⁻⁵⁰ below the largest
    // term so far and falling, add nothing a double can hold and end the sum.
    let ln_n_fact = super::ln_gamma(nf + 1.0);
    let anchored = |j: f64| ln_n_fact - super::ln_gamma(j + 1.0) - super::ln_gamma(nf - j + 1.0);
    let mut ln_c = 0.0;
    let (mut top, mut sum) = (f64::NEG_INFINITY, 0.0f64);
    let mut prev = f64::NEG_INFINITY;
    for j in 0..=jmax {
        let jf = j as f64;
        ln_c = if j % 64 == 0 {
            anchored(jf)
        } else {
            ln_c + ((nf - jf + 1.0) / jf).ln()
        };
        let a = 1.0 - x - jf / nf;
        if a <= 0.0 {
            continue;
        }
        let t = ln_c + (nf - jf) * a.ln() + (jf - 1.0) * (x + jf / nf).ln();
        if t > top {
            // Rescale the running sum to the new largest term.
            sum = sum * (top - t).exp() + 1.0;
            top = t;
        } else {
            sum += (t - top).exp();
            if t < top - 50.0 && t < prev {
                break;
            }
        }
        prev = t;
    }
    if !top.is_finite() {
        return 0.0;
    }
    x * top.exp() * sum
}

const E128: f64 = 3.402_823_669_209_385e38; // 2^128

/// `P(D_n ≤ d)` by the Durbin matrix: the `k`-th diagonal element of `Hⁿ · n!/nⁿ`.
fn durbin_cdf(n: u64, d: f64) -> f64 {
    let nd = n as f64 * d;
    if nd <= 0.5 {
        return 0.0;
    }
    let k = nd.ceil() as usize;
    let h = k as f64 - nd;
    let m = 2 * k - 1;
    let mut v: Vec<f64> = (1..=m).map(|i| 1.0 - h.powi(i as i32)).collect();
    let mut w = vec![0.0; m];
    let mut fac = 1.0;
    for j in 1..=m {
        w[j - 1] = fac;
        fac /= j as f64;
        v[j - 1] *= fac;
    }
    let tt = (2.0 * h - 1.0).max(0.0).powi(m as i32) - 2.0 * h.powi(m as i32);
    v[m - 1] = (1.0 + tt) * fac;
    let mut hm = vec![0.0; m * m];
    for i in 1..m {
        for r in (i - 1)..m {
            hm[r * m + i] = w[r - (i - 1)];
        }
    }
    for r in 0..m {
        hm[r * m] = v[r];
    }
    for c in 0..m {
        hm[(m - 1) * m + c] = v[m - 1 - c];
    }
    let matmul = |a: &[f64], b: &[f64]| -> Vec<f64> {
        let mut out = vec![0.0; m * m];
        for r in 0..m {
            for t in 0..m {
                let x = a[r * m + t];
                if x != 0.0 {
                    for c in 0..m {
                        out[r * m + c] += x * b[t * m + c];
                    }
                }
            }
        }
        out
    };
    let mut power: Vec<f64> = (0..m * m)
        .map(|i| if i / m == i % m { 1.0 } else { 0.0 })
        .collect();
    let (mut nn, mut expnt, mut hexpnt) = (n, 0i32, 0i32);
    while nn > 0 {
        if nn % 2 == 1 {
            power = matmul(&power, &hm);
            expnt += hexpnt;
        }
        hm = matmul(&hm, &hm);
        hexpnt *= 2;
        if hm[(k - 1) * m + k - 1].abs() > E128 {
            hm.iter_mut().for_each(|x| *x /= E128);
            hexpnt += 128;
        }
        nn /= 2;
    }
    let mut p = power[(k - 1) * m + k - 1];
    let nf = n as f64;
    for i in 1..=n {
        p = i as f64 * p / nf;
        if p.abs() < 1.0 / E128 {
            p *= E128;
            expnt -= 128;
        }
    }
    if expnt != 0 {
        p *= 2f64.powi(expnt);
    }
    p.clamp(0.0, 1.0)
}

/// The Pelz–Good expansion of `P(D_n ≤ x)`: `K₀(z) + K₁(z)/√n + K₂(z)/n + K₃(z)/n^1.5` with
/// `z = x√n`, each `Kᵢ` as a theta series that converges fast for small `z`.
fn pelz_good_cdf(n: u64, x: f64) -> f64 {
    use std::f64::consts::PI;
    let nf = n as f64;
    let z = nf.sqrt() * x;
    let (z2, z3, z4, z6) = (z * z, z.powi(3), z.powi(4), z.powi(6));
    let qlog = -PI * PI / 8.0 / z2;
    if qlog < -708.0 {
        return 0.0;
    }
    let q = qlog.exp();
    let (pi2, pi4, pi6) = (PI * PI, PI.powi(4), PI.powi(6));
    let (k1a, k1b) = (-z2, pi2 / 4.0);
    let k2a = 6.0 * z6 + 2.0 * z4;
    let k2b = (2.0 * z4 - 5.0 * z2) * pi2 / 4.0;
    let k2c = pi4 * (1.0 - 2.0 * z2) / 16.0;
    let k3d = pi6 * (5.0 - 30.0 * z2) / 64.0;
    let k3c = pi4 * (-60.0 * z2 + 212.0 * z4) / 16.0;
    let k3b = pi2 * (135.0 * z4 - 96.0 * z6) / 4.0;
    let k3a = -30.0 * z6 - 90.0 * z.powi(8);
    let mut k = [0.0f64; 4];
    let maxk = (16.0 * z / PI).ceil() as i64;
    for kk in (1..=maxk).rev() {
        let m = (2 * kk - 1) as f64;
        let (m2, m4, m6) = (m * m, m.powi(4), m.powi(6));
        let qp = q.powf(8.0 * kk as f64);
        let c = [
            1.0,
            k1a + k1b * m2,
            k2a + k2b * m2 + k2c * m4,
            k3a + k3b * m2 + k3c * m4 + k3d * m6,
        ];
        for i in 0..4 {
            k[i] = k[i] * qp + c[i];
        }
    }
    let sqrt2pi = (2.0 * PI).sqrt();
    let div = [z, 6.0 * z4, 72.0 * z.powi(7), 6480.0 * z.powi(10)];
    for i in 0..4 {
        k[i] = k[i] * q * sqrt2pi / div[i];
    }
    let q2 = (-pi2 / 2.0 / z2).exp();
    let sqrt3z = 3f64.sqrt() * z;
    let (mut k2extra, mut k3extra) = (0.0, 0.0);
    for kk in (1..=maxk).rev() {
        let ks = kk as f64;
        let qp = q2.powf(ks * ks);
        k2extra += ks * ks * qp;
        let kspi = PI * ks;
        k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ks * ks * qp;
    }
    k[2] += k2extra * pi2 * sqrt2pi / (-36.0 * z3);
    k[3] += k3extra * pi2 * sqrt2pi / (216.0 * z6);
    (0..4).map(|i| k[i] / nf.powf(i as f64 / 2.0)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_samples_have_p_one() {
        assert_eq!(p_value(0.0, 50, 70), 1.0);
        assert_eq!(p_value(0.0, 20_000, 30_000), 1.0);
    }

    #[test]
    fn far_apart_samples_have_p_near_zero() {
        assert!(p_value(1.0, 100, 100) < 1e-50);
        assert!(p_value(1.0, 100, 120) < 1e-50);
        assert!(p_value(0.5, 20_000, 20_000) < 1e-100);
    }

    #[test]
    fn the_p_value_falls_as_the_statistic_grows() {
        let ps: Vec<f64> = [0.02, 0.05, 0.1, 0.2]
            .iter()
            .map(|d| p_value(*d, 300, 200))
            .collect();
        assert!(ps.windows(2).all(|w| w[0] > w[1]), "{ps:?}");
    }
}
