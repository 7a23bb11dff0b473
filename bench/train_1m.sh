#!/usr/bin/env bash
# The whole train job (read, statistics, validation, search, fit, evaluate, export, register) on
# 1M heart-shaped rows with the example stack's search, with its time and peak memory.
# Usage: bench/train_1m.sh [MLINFRA]  (a release build of mlinfra; built when not given)
set -euo pipefail
cd "$(dirname "$0")/.."
mlinfra=${1:-}
if [ -z "$mlinfra" ]; then
  cargo build -q --release -p mlinfra --bin mlinfra
  mlinfra=${CARGO_TARGET_DIR:-target}/release/mlinfra
fi
mlinfra=$(realpath "$mlinfra")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# 1M rows: heart rows resampled, numeric features jittered, one label in ten flipped.
cargo run -q --release -p mlinfra-core --example bench_scale -- "$out" 1000 > /dev/null
sed -e "s|source: ../examples/heart-disease/processed.cleveland.csv|source: $out/fit.csv|" \
    -e "s|dir: ../.mlinfra/heart-disease|dir: $out/env|" stacks/heart-disease.yaml > "$out/stack.yaml"
"$mlinfra" -f "$out/stack.yaml" up --yes -q > /dev/null
echo "train job on $(($(wc -l < "$out/fit.csv") - 1)) rows x 13 features ($(du -h "$out/fit.csv" | cut -f1) CSV), $(nproc) cores:"
/usr/bin/time -f "wall %e s, peak RSS %M KiB" "$mlinfra" -f "$out/stack.yaml" pipeline run --as bench -q --output json \
  | python3 -c 'import json,sys; r=json.load(sys.stdin)["run"]; print("eval roc_auc", round(r["metrics"]["roc_auc"], 4))'
