#!/usr/bin/env bash
# The whole train job (read, statistics, validation, search, fit, evaluate, export, register) on
# 1M heart-shaped rows with the example stack's search, with its time and peak memory.
# Usage: bench/train_1m.sh [MLINFRA]  (a release build of mlinfra; built when not given)
# TEXT=1: with `sex`, `cp` and `thal` as words (text categories), as most real tables have them.
# ROWS=N: N million rows (the 1M repeated) instead of 1; TRIALS=N: N search trials instead of
# the stack's 20. `ROWS=15 TRIALS=1` is a file just under the 1 GiB limit.
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
if [ "${ROWS:-1}" -gt 1 ]; then
  { head -1 "$out/fit.csv"; for _ in $(seq "$ROWS"); do tail -n +2 "$out/fit.csv"; done; } > "$out/many.csv"
  mv "$out/many.csv" "$out/fit.csv"
fi
kind="13 numeric features"
if [ "${TEXT:-0}" = 1 ]; then
  awk -F, -v OFS=, 'NR > 1 {
      $2 = ($2 == "1.0" ? "male" : "female")
      $3 = ($3 == "1.0" ? "typical" : $3 == "2.0" ? "atypical" : $3 == "3.0" ? "non-anginal" : "asymptomatic")
      $13 = ($13 == "3.0" ? "normal" : $13 == "6.0" ? "fixed-defect" : $13 == "7.0" ? "reversible" : "")
    } { print }' "$out/fit.csv" > "$out/text.csv"
  mv "$out/text.csv" "$out/fit.csv"
  kind="13 features, 3 of them text"
fi
sed -e "s|source: ../examples/heart-disease/processed.cleveland.csv|source: $out/fit.csv|" \
    -e "s|dir: ../.mlinfra/heart-disease|dir: $out/env|" \
    -e "s|trials: 20|trials: ${TRIALS:-20}|" stacks/heart-disease.yaml > "$out/stack.yaml"
"$mlinfra" -f "$out/stack.yaml" up --yes -q > /dev/null
echo "train job on $(($(wc -l < "$out/fit.csv") - 1)) rows x $kind ($(du -h "$out/fit.csv" | cut -f1) CSV), $(nproc) cores:"
/usr/bin/time -f "wall %e s, peak RSS %M KiB" "$mlinfra" -f "$out/stack.yaml" pipeline run --as bench -q --output json \
  | python3 -c 'import json,sys; r=json.load(sys.stdin)["run"]; print("eval roc_auc", round(r["metrics"]["roc_auc"], 4))'
