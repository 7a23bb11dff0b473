#!/usr/bin/env bash
# Drift of ROWS reference x ROWS current rows x FEATURES features (PSI + KS + Wasserstein):
# mlinfra (mlinfra_core::drift::numeric) vs scipy, the same samples, the same run (issue 7).
#   bash bench/drift.sh [ROWS] [FEATURES] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-100000}; features=${2:-13}; runs=${3:-7}
target=${CARGO_TARGET_DIR:-target}
cargo build -q --release -p mlinfra-core --example bench_drift
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
.venv/bin/python bench/drift_peers.py "$out" "$rows" "$features" "$runs" > "$out/scipy.json"
"$target/release/examples/bench_drift" "$out" "$rows" "$features" "$runs" > "$out/mlinfra.json"
.venv/bin/python - "$out" "$rows" "$features" <<'PY'
import json, sys
d, rows, features = sys.argv[1], sys.argv[2], sys.argv[3]
s = json.load(open(f"{d}/scipy.json")); m = json.load(open(f"{d}/mlinfra.json"))
for k in ["ks_statistic", "ks_p_value", "wasserstein", "psi"]:
    a, b = s["feature0"][k], m["feature0"][k]
    assert abs(a - b) <= 1e-9 * max(abs(a), 1e-300) or abs(a - b) < 1e-12, (k, a, b)
print(f"drift of {rows} x {rows} rows x {features} features (KS + p-value, Wasserstein, PSI), median of {s['runs']}:")
print(f"  scipy   {s['median_ms']:9.1f} ms")
print(f"  mlinfra {m['median_ms']:9.1f} ms   {s['median_ms'] / m['median_ms']:.1f}x faster, one thread (same values for feature 0)")
print(f"  mlinfra {m['parallel_median_ms']:9.1f} ms   {s['median_ms'] / m['parallel_median_ms']:.1f}x faster, {m['threads']} threads (numeric_many)")
PY
