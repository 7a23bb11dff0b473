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
