//! Drift of 13 features, reference × current rows each, as the monitor computes it (KS
//! statistic and p-value, Wasserstein and its normed form, PSI): the `mlinfra` side of
//! `bench/drift.sh`. Reads the samples `bench/drift_peers.py` wrote (little-endian f64,
//! feature-major: reference then current), prints the median of `runs` timings as JSON.
//!
//! `cargo run --release -p mlinfra-core --example bench_drift -- DIR ROWS FEATURES RUNS`

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).map_or(".", String::as_str));
    let arg = |i: usize, d: usize| args.get(i).and_then(|v| v.parse().ok()).unwrap_or(d);
    let (rows, features, runs) = (arg(2, 100_000), arg(3, 13), arg(4, 5));
    let bytes = std::fs::read(dir.join("samples.f64")).unwrap_or_else(|e| {
        eprintln!("cannot read {}/samples.f64: {e}", dir.display());
        std::process::exit(1)
    });
    let all: Vec<f64> = bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect();
    assert_eq!(
        all.len(),
        2 * rows * features,
        "samples.f64 has the wrong size"
    );
    let sample = |f: usize, side: usize| {
        let start = (f * 2 + side) * rows;
        &all[start..start + rows]
    };
    let mut times = vec![];
    let mut checksum = 0.0;
    for _ in 0..runs {
        let t = Instant::now();
        let mut results = Vec::with_capacity(features);
        for f in 0..features {
            results.push(mlinfra_core::drift::numeric(sample(f, 0), sample(f, 1), 10));
        }
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        checksum = results.iter().map(|r| r.ks_statistic + r.wasserstein).sum();
    }
    times.sort_by(f64::total_cmp);
    // The same on every core (`numeric_many`, as a monitor with more than one vCPU runs it).
    let pairs: Vec<(&[f64], &[f64])> = (0..features)
        .map(|f| (sample(f, 0), sample(f, 1)))
        .collect();
    let mut par = vec![];
    for _ in 0..runs {
        let t = Instant::now();
        let r = mlinfra_core::drift::numeric_many(&pairs, 10);
        par.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(r.len(), features);
    }
    par.sort_by(f64::total_cmp);
    let first = mlinfra_core::drift::numeric(sample(0, 0), sample(0, 1), 10);
    println!(
        "{}",
        serde_json::json!({
            "median_ms": times[times.len() / 2],
            "parallel_median_ms": par[par.len() / 2],
            "threads": std::thread::available_parallelism().map_or(1, usize::from),
            "min_ms": times[0],
            "runs": runs,
            "checksum": checksum,
            "feature0": first,
        })
    );
}
