#!/usr/bin/env bash
# Pipeline figures next to scikit-learn, in the same run. Usage: bench/pipeline.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cargo run -q --release -p mlinfra-core --example bench_pipeline -- "$out" > "$out/report.json"
.venv/bin/python bench/pipeline_peers.py "$out" "$out/report.json"
