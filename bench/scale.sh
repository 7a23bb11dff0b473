#!/usr/bin/env bash
# Training at scale next to scikit-learn and LightGBM, in the same run. Usage: bench/scale.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cargo run -q --release -p mlinfra-core --example bench_scale -- "$out" "${1:-100000}" > "$out/report.json"
.venv/bin/python bench/scale_peers.py "$out" "$out/report.json"
