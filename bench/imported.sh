#!/usr/bin/env bash
# Imported models (tests/fixtures/imported/) scored one row at a time: tract (mlinfra's
# import path, release build) beside onnxruntime on one thread (Python), the same rows, in one
# run; the ratio is tract's time over onnxruntime's (below 1: tract is faster).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${MLINFRA_PYTHON:-.venv/bin/python}"
cargo build --release --quiet -p mlinfra-onnx --example bench_imported
BIN="${CARGO_TARGET_DIR:-target}/release/examples/bench_imported"
DATA=tests/fixtures/imported/heart.csv
NUMERIC=age,trestbps,chol,thalach,oldpeak
printf '%-34s %12s %12s %8s\n' model "tract µs/row" "ort µs/row" ratio
for spec in "sklearn_pipeline.onnx:" "random_forest.onnx:$NUMERIC" "lightgbm.onnx:$NUMERIC" \
  "xgboost.onnx:$NUMERIC" "gradient_boosting_regressor.onnx:age,trestbps,thalach,oldpeak"; do
  model="tests/fixtures/imported/${spec%%:*}"
  cols="${spec#*:}"
  ours=$("$BIN" "$model" "$DATA" $cols)
  theirs=$("$PYTHON" python/bench_ort.py "$model" "$DATA" $cols)
  printf '%-34s %12s %12s %8.2f\n' "${spec%%:*}" "$ours" "$theirs" "$(echo "$ours / $theirs" | bc -l)"
done
