//! The drift statistics equal scipy's on fixed vectors, to 1e-9. Reference values:
//! `.venv/bin/python python/drift_reference.py > functions/core/tests/data/drift_reference.json`
//! (scipy 1.17.1).

#![allow(clippy::unwrap_used)]

use mlinfra_core::drift;
use serde_json::Value;

fn reference() -> Value {
    let p =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/drift_reference.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn vec(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn close(name: &str, got: f64, want: &Value) {
    let want = want.as_f64().unwrap();
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1.0),
        "{name}: mlinfra {got:.17} scipy {want:.17}"
    );
}

#[test]
fn drift_statistics_equal_scipy() {
    let r = reference();
    let (a, b) = (vec(&r["ref"]), vec(&r["cur"]));
    let (ta, tb) = (vec(&r["ties_a"]), vec(&r["ties_b"]));
    close("ks", drift::ks_statistic(&a, &b), &r["ks_statistic"]);
    close(
        "ks ties",
        drift::ks_statistic(&ta, &tb),
        &r["ks_statistic_ties"],
    );
    close("wasserstein", drift::wasserstein(&a, &b), &r["wasserstein"]);
    close(
        "wasserstein ties",
        drift::wasserstein(&ta, &tb),
        &r["wasserstein_ties"],
    );
    close("psi", drift::psi(&a, &b, 10), &r["psi_10"]);
    close("psi ties", drift::psi(&ta, &tb, 10), &r["psi_ties_10"]);
    let c = &r["chisquare"];
    let (stat, p) = drift::chi_square(&vec(&c["observed"]), &vec(&c["expected"]));
    close("chisquare statistic", stat, &c["statistic"]);
    close("chisquare p-value", p, &c["pvalue"]);
    for case in r["chi2_sf"].as_array().unwrap() {
        let (x, df) = (case["x"].as_f64().unwrap(), case["df"].as_f64().unwrap());
        close(
            &format!("chi2.sf({x}, {df})"),
            drift::chi2_sf(x, df),
            &case["sf"],
        );
    }
    let js = &r["jensenshannon"];
    close(
        "jensenshannon",
        drift::jensen_shannon(&vec(&js["p"]), &vec(&js["q"])),
        &js["distance"],
    );
}

/// `((i * mult) % modulus) / modulus * 100 + shift`, as `python/drift_reference.py` builds it.
fn grid(n: u64, mult: u64, modulus: u64, shift: f64) -> Vec<f64> {
    (0..n)
        .map(|i| ((i * mult) % modulus) as f64 / modulus as f64 * 100.0 + shift)
        .collect()
}

fn close_p(name: &str, got: f64, want: &Value) {
    // p-values span hundreds of orders of magnitude: compare them relative to themselves.
    let w = want.as_f64().unwrap();
    assert!(
        (got - w).abs() <= 1e-9 * w.abs().max(f64::MIN_POSITIVE) || (got - w).abs() <= 1e-15,
        "{name}: mlinfra {got:e} scipy {w:e}"
    );
}

#[test]
fn ks_test_equals_scipy_exact_and_asymptotic() {
    let r = reference();
    let k = &r["ks_test"];
    let (a, b) = (vec(&r["ref"]), vec(&r["cur"]));
    let (ta, tb) = (vec(&r["ties_a"]), vec(&r["ties_b"]));
    let cases: [(&str, &[f64], &[f64]); 4] = [
        ("unequal", &a, &b),
        ("ties", &ta, &tb),
        ("equal", &a[..200], &b),
        ("equal_close", &a[..200], &a[100..]),
    ];
    for (name, x, y) in cases {
        let (d, p) = drift::ks_test(x, y);
        close(&format!("{name} statistic"), d, &k[name]["statistic"]);
        close_p(&format!("{name} p-value"), p, &k[name]["pvalue"]);
    }
    let reference = grid(12_000, 7919, 10_007, 0.0);
    for case in k["large"].as_array().unwrap() {
        let shift = case["shift"].as_f64().unwrap();
        let current = grid(11_000, 104_729, 10_009, shift);
        let (d, p) = drift::ks_test(&reference, &current);
        close(&format!("large +{shift} statistic"), d, &case["statistic"]);
        close_p(&format!("large +{shift} p-value"), p, &case["pvalue"]);
        let all = drift::numeric(&reference, &current, 10);
        assert_eq!(all.ks_statistic, d);
        assert_eq!(all.ks_p_value, p);
    }
}

#[test]
fn kolmogorov_distribution_equals_scipy_kstwo() {
    let r = reference();
    for case in r["kstwo_sf"].as_array().unwrap() {
        let (n, x) = (case["n"].as_u64().unwrap(), case["x"].as_f64().unwrap());
        close_p(
            &format!("kstwo.sf({x}, {n})"),
            drift::ks::kolmogorov_sf(n, x),
            &case["sf"],
        );
    }
}

#[test]
fn numeric_equals_the_separate_statistics() {
    let r = reference();
    let (a, b) = (vec(&r["ref"]), vec(&r["cur"]));
    let all = drift::numeric(&a, &b, 10);
    close("numeric ks", all.ks_statistic, &r["ks_statistic"]);
    close("numeric wasserstein", all.wasserstein, &r["wasserstein"]);
    close("numeric psi", all.psi, &r["psi_10"]);
    let normed = drift::wasserstein_normed(&a, &b);
    assert!((all.wasserstein_normed - normed).abs() < 1e-12);
}

#[test]
fn radix_sort_orders_like_a_comparison_sort() {
    let mut x: Vec<f64> = grid(5000, 7919, 10_007, -50.0)
        .into_iter()
        .chain([-0.0, 0.0, 1e300, -1e300, f64::MIN_POSITIVE, -2.5])
        .collect();
    let mut want = x.clone();
    want.sort_by(f64::total_cmp);
    drift::sort_values(&mut x);
    assert_eq!(x, want);
}
