//! Training at scale, measured in release mode (`make bench` runs this next to scikit-learn and
//! LightGBM, `bench/scale_peers.py`).
//!
//! Usage: `bench_scale OUT_DIR [ROWS]` (ROWS defaults to 100,000). Rows shaped like the heart
//! data (its rows resampled, the numeric features jittered so that they hold many distinct
//! values) are written to `OUT_DIR/search.csv` (ROWS rows) and `OUT_DIR/fit.csv` (1M rows), with
//! `split.json` and `candidates.json`, so that the peers search the same points on the same rows.
//! Prints a JSON report:
//!
//! - the 20-trial, 5-fold search on ROWS rows (seconds), the eval ROC AUC of the best trial of
//!   each family refitted on the training rows;
//! - one fit of 100 trees of depth 6 on 1M rows (seconds, binning included);
//! - the same for a regression of `chol` (jittered) on the other 13 columns: the search over
//!   ridge and trees (`regression_candidates.json`), the RMSE of its best trial's refit on the
//!   eval rows, and the 1M-row fit (squared error) with its RMSE on 100k other rows
//!   (`holdout.csv`);
//! - what a regression's interval adds to an answer, in nanoseconds per prediction: its
//!   bounds from the value, and writing them into the answer's JSON as `serve` builds it
//!   (a `serde_json::Value`), over the value alone.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use mlinfra_core::data::split::{split, split_values};
use mlinfra_core::data::{read_csv, take_label, take_target};
use mlinfra_core::model::{Binned, Family, Gbt, GbtParams, Loss, Model};
use mlinfra_core::rng::Rng;
use mlinfra_core::tune::{candidates, search, search_values};

/// `n` heart rows resampled with replacement, numeric features jittered by up to ±2.5, one label
/// in ten flipped (so that a copied row does not give its label away).
fn resample(csv: &str, n: usize, seed: u64) -> String {
    let mut lines = csv.lines();
    let header = lines.next().unwrap_or_default();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let mut rng = Rng::new(seed);
    let mut out = String::with_capacity(n * 50);
    out.push_str(header);
    out.push('\n');
    for _ in 0..n {
        let r = &rows[rng.below(rows.len())];
        for (j, cell) in r.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            match (j, cell.parse::<f64>()) {
                (0 | 3 | 4 | 7 | 9, Ok(v)) => out.push_str(&format!(
                    "{:.2}",
                    v + (rng.below(501) as f64 - 250.0) / 100.0
                )),
                (13, Ok(v)) if rng.below(10) == 0 => out.push_str(if v > 0.0 { "0" } else { "1" }),
                _ => out.push_str(cell),
            }
        }
        out.push('\n');
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = std::path::PathBuf::from(args.next().ok_or("usage: bench_scale OUT_DIR [ROWS]")?);
    let rows: usize = args.next().map_or(Ok(100_000), |r| r.parse())?;
    std::fs::create_dir_all(&out)?;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let heart =
        std::fs::read_to_string(root.join("examples/heart-disease/processed.cleveland.csv"))?;
    let opts = common::heart_options();
    let rule = common::binary();

    // The search.
    let text = resample(&heart, rows, 1);
    std::fs::write(out.join("search.csv"), &text)?;
    let mut frame = read_csv(text.as_bytes(), &opts)?;
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
    let t = Instant::now();
    let result = search(&frame, &labels, &s.train, &space, &cfg);
    let search_seconds = t.elapsed().as_secs_f64();
    let quality = common::best_of_each_family(&result, &frame, &labels, &s);

    // One fit on 1M rows.
    let text = resample(&heart, 1_000_000, 2);
    std::fs::write(out.join("fit.csv"), &text)?;
    let mut frame = read_csv(text.as_bytes(), &opts)?;
    let (labels, _) = take_label(&mut frame, "num", &rule)?;
    let all: Vec<usize> = (0..frame.rows).collect();
    let prep = mlinfra_core::transform::Preprocessor::fit(&frame, &all);
    let x = prep.values(&frame);
    let params = GbtParams {
        max_depth: 6,
        learning_rate: 0.1,
        rounds: 100,
        min_leaf: 20,
    };
    let threads = mlinfra_core::par::threads();
    let t = Instant::now();
    let binned = Binned::with_fills(&x, Some(&prep.fills()), threads);
    let bin_seconds = t.elapsed().as_secs_f64();
    let model = Gbt::fit_binned(&binned, &labels.y, 2, params, threads);
    let fit_seconds = t.elapsed().as_secs_f64();
    std::hint::black_box(&model);

    // The regression: `chol` from the other columns.
    let mut frame = read_csv(std::fs::File::open(out.join("search.csv"))?, &opts)?;
    let y = take_target(&mut frame, "chol")?.y;
    let s = split_values(&frame, &y, 0.2, 42);
    let (mut space, mut cfg) = common::heart_search();
    space.families = Family::REGRESSION.to_vec();
    space.l2 = vec![0.1, 1.0, 10.0, 100.0];
    cfg.metric = mlinfra_core::metrics::Metric::Rmse;
    std::fs::write(
        out.join("regression_split.json"),
        serde_json::to_vec(&serde_json::json!({"train": s.train, "eval": s.eval}))?,
    )?;
    std::fs::write(
        out.join("regression_candidates.json"),
        serde_json::to_vec(&candidates(&space, &cfg))?,
    )?;
    let t = Instant::now();
    let (result, _) = search_values(&frame, &y, Loss::Squared, &s.train, &space, &cfg);
    let regression_search_seconds = t.elapsed().as_secs_f64();
    let best = result.trials[result.best].params;
    let model = Model::fit_values(&frame, &y, &s.train, &best, Loss::Squared);
    let eval_rows = mlinfra_core::transform::Rows::new(&model.prep, &frame, s.eval.clone());
    let rmse = |predicted: &[f64], truth: &[f64]| {
        (predicted
            .iter()
            .zip(truth)
            .map(|(p, t)| (p - t).powi(2))
            .sum::<f64>()
            / truth.len() as f64)
            .sqrt()
    };
    let eval_y: Vec<f64> = s.eval.iter().map(|&i| y[i]).collect();
    let regression_eval_rmse = rmse(&model.predict_values(&eval_rows), &eval_y);

    let mut frame = read_csv(std::fs::File::open(out.join("fit.csv"))?, &opts)?;
    let y = take_target(&mut frame, "chol")?.y;
    let all: Vec<usize> = (0..frame.rows).collect();
    let prep = mlinfra_core::transform::Preprocessor::fit(&frame, &all);
    let x = prep.values(&frame);
    let t = Instant::now();
    let binned = Binned::with_fills(&x, Some(&prep.fills()), threads);
    let regression = Gbt::fit_regression(&binned, &y, Loss::Squared, params, threads);
    let regression_fit_seconds = t.elapsed().as_secs_f64();
    let text = resample(&heart, 100_000, 3);
    std::fs::write(out.join("holdout.csv"), &text)?;
    let mut frame = read_csv(text.as_bytes(), &opts)?;
    let y = take_target(&mut frame, "chol")?.y;
    let x = prep.values(&frame);
    let mut v = [0.0];
    let predicted: Vec<f64> = (0..x.rows)
        .map(|i| {
            regression.predict_row(x.row(i), &mut v);
            v[0]
        })
        .collect();
    let regression_fit_rmse = rmse(&predicted, &y);

    // What the interval adds to an answer: its bounds and their JSON, per prediction.
    let values: Vec<f64> = predicted.iter().take(100_000).copied().collect();
    let answer = |with: bool| {
        let t = Instant::now();
        let mut bytes = 0;
        for _ in 0..5 {
            for v in &values {
                let mut o = serde_json::json!({ "value": v });
                if with {
                    o["interval"] =
                        serde_json::json!({"level": 0.9, "low": v - 4.5, "high": v + 4.5});
                }
                bytes += serde_json::to_vec(&o).map_or(0, |b| b.len());
            }
        }
        std::hint::black_box(bytes);
        t.elapsed().as_secs_f64() * 1e9 / (5 * values.len()) as f64
    };
    let (without, with) = (answer(false), answer(true));
    // The interval itself: its two bounds from the value.
    let t = Instant::now();
    let mut sum = 0.0;
    for _ in 0..100 {
        for v in std::hint::black_box(&values) {
            let (low, high) = (v - 4.5, v + 4.5);
            sum += std::hint::black_box(low) + std::hint::black_box(high);
        }
    }
    std::hint::black_box(sum);
    let bounds = t.elapsed().as_secs_f64() * 1e9 / (100 * values.len()) as f64;
    println!(
        "{}",
        serde_json::json!({
            "rows": rows,
            "threads": threads,
            "search_seconds": search_seconds,
            "quality": quality,
            "fit_1m_seconds": fit_seconds,
            "fit_1m_bin_seconds": bin_seconds,
            "fit_params": params,
            "regression_search_seconds": regression_search_seconds,
            "regression_best": best,
            "regression_eval_rmse": regression_eval_rmse,
            "regression_fit_1m_seconds": regression_fit_seconds,
            "regression_fit_holdout_rmse": regression_fit_rmse,
            "interval_ns_per_prediction": bounds,
            "interval_json_ns_per_prediction": with - without,
            "answer_ns_per_prediction": without,
        })
    );
    Ok(())
}
