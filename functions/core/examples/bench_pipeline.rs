//! Pipeline figures, measured in release mode (`make bench` runs this next to scikit-learn).
//!
//! Usage: `bench_pipeline OUT_DIR` — writes `split.json` and `candidates.json` (for the peers,
//! so they search the same points on the same rows) and prints a JSON report:
//! - the 20-trial, 5-fold search on heart (median of 5 runs);
//! - eval ROC AUC of the best logistic regression and the best trees, refitted on train;
//! - statistics + schema + validation of 1M rows × 13 columns (generated), median of 3.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use mlinfra_core::data::split::split;
use mlinfra_core::data::{read_csv, take_label};
use mlinfra_core::rng::Rng;
use mlinfra_core::schema::Schema;
use mlinfra_core::tune::{candidates, search};
use mlinfra_core::{stats, validate};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: bench_pipeline OUT_DIR")?,
    );
    std::fs::create_dir_all(&out)?;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let csv = std::fs::read(root.join("examples/heart-disease/processed.cleveland.csv"))?;
    let opts = common::heart_options();
    let mut frame = read_csv(csv.as_slice(), &opts)?;
    let rule = common::binary();
    let (labels, _) = take_label(&mut frame, "num", &rule)?;
    let s = split(&frame, &labels, 0.2, 42);
    let (space, cfg) = common::heart_search();
    std::fs::write(
        out.join("split.json"),
        serde_json::to_vec(&serde_json::json!({"train": s.train, "eval": s.eval}))?,
    )?;
    std::fs::write(
        out.join("candidates.json"),
        serde_json::to_vec(&candidates(&space, &cfg))?,
    )?;

    let mut times = Vec::new();
    let mut result = None;
    for _ in 0..5 {
        let t = Instant::now();
        result = Some(search(&frame, &labels, &s.train, &space, &cfg));
        times.push(t.elapsed().as_secs_f64());
    }
    let result = result.ok_or("no search")?;
    let quality = common::best_of_each_family(&result, &frame, &labels, &s);

    // 1M rows × 13 features (+ label): heart rows resampled, numeric features jittered.
    let text = String::from_utf8(csv.clone())?;
    let mut lines = text.lines();
    let header = lines.next().ok_or("empty")?;
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    let mut rng = Rng::new(1);
    let mut big = String::with_capacity(60_000_000);
    big.push_str(header);
    big.push('\n');
    for _ in 0..1_000_000 {
        let r = &rows[rng.below(rows.len())];
        for (j, cell) in r.iter().enumerate() {
            if j > 0 {
                big.push(',');
            }
            match (j, cell.parse::<f64>()) {
                (0 | 3 | 4 | 7 | 9, Ok(v)) => {
                    big.push_str(&format!("{:.1}", v + (rng.below(11) as f64 - 5.0) / 10.0))
                }
                _ => big.push_str(cell),
            }
        }
        big.push('\n');
    }
    let mut parse = Vec::new();
    let mut compute = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let mut f = read_csv(big.as_bytes(), &opts)?;
        let (l, _) = take_label(&mut f, "num", &rule)?;
        let parsed = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let st = stats::compute(&f, Some(&l));
        let schema = Schema::infer(&st);
        let anomalies = validate::validate(&f, &schema);
        std::hint::black_box(anomalies);
        compute.push(t.elapsed().as_secs_f64());
        parse.push(parsed);
    }
    println!(
        "{}",
        serde_json::json!({
            "search_seconds": median(times),
            "trials": result.trials.len(),
            "best": result.trials[result.best].params,
            "quality": quality,
            "stats_rows": 1_000_000,
            "stats_parse_seconds": median(parse),
            "stats_schema_validate_seconds": median(compute),
        })
    );
    Ok(())
}
