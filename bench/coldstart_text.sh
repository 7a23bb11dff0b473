#!/usr/bin/env bash
# Cold start of the packaged predict bootstrap serving an imported text model: a new instance
# (exec) to its first answer, the model read from S3 on the moto server, the median of 10; beside
# a Python process that imports onnxruntime and tokenizers, loads the same model and tokenizer
# from local files and answers one text, timed the same way. MODEL defaults to the committed
# BERT (0.4 MB); `python/fixtures/make_text.py --large BIG.onnx` makes a ~23 MB one (torch, not
# committed) for `bench/coldstart_text.sh BIG.onnx`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${MLINFRA_PYTHON:-.venv/bin/python}"
MODEL="${1:-tests/fixtures/imported/text_classifier.onnx}"
TOKENIZER=tests/fixtures/imported/tokenizer.json
MLINFRA_TEXT_MODEL="$(realpath "$MODEL")" MLINFRA_COLDSTART_RUNS=10 \
  cargo test -q -p mlinfra-e2e --test lambda_bootstrap a_text_model_is_served -- --nocapture 2>/dev/null \
  | grep "cold start"
times=()
for _ in $(seq 10); do
  start=$(date +%s%N)
  "$PYTHON" python/coldstart_text.py "$MODEL" "$TOKENIZER"
  times+=($(( ($(date +%s%N) - start) / 1000000 )))
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
echo "python + onnxruntime + tokenizers, exec to first answer: median $(echo "$sorted" | sed -n 6p) ms of 10 (min $(echo "$sorted" | head -1) ms, max $(echo "$sorted" | tail -1) ms)"
