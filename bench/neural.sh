#!/usr/bin/env bash
# The imported text and image models (tests/fixtures/imported/) scored one input at a time,
# preprocessing included: tract with mlinfra's tokenizer and picture code (release build)
# beside Hugging Face's tokenizers, Pillow and onnxruntime on one thread (Python), the same
# inputs, in one run; the ratio is tract's time over onnxruntime's (below 1: tract is faster).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${MLINFRA_PYTHON:-.venv/bin/python}"
cargo build --release --quiet -p mlinfra-onnx --example bench_neural
BIN="${CARGO_TARGET_DIR:-target}/release/examples/bench_neural"
F=tests/fixtures/imported
# Each side prints its µs per input, then the preprocessing's alone.
printf '%-36s %10s %10s %8s %14s %14s\n' model "tract µs" "ort µs" ratio "mlinfra pre µs" "python pre µs"
row() {
  read -r ours ours_pre <<<"$1"
  read -r theirs theirs_pre <<<"$2"
  printf '%-36s %10s %10s %8.2f %14s %14s\n' "$3" "$ours" "$theirs" "$(echo "$ours / $theirs" | bc -l)" "$ours_pre" "$theirs_pre"
}
row "$("$BIN" text $F/text_classifier.onnx $F/tokenizer.json $F/tweets.csv)" \
  "$("$PYTHON" python/bench_ort_neural.py text $F/text_classifier.onnx $F/tokenizer.json $F/tweets.csv)" \
  "text (BERT, 2 layers, ≤16 tokens)"
row "$("$BIN" image $F/image_classifier.onnx $F/images/*.png $F/images/*.jpg)" \
  "$("$PYTHON" python/bench_ort_neural.py image $F/image_classifier.onnx $F/images/*.png $F/images/*.jpg)" \
  "image (SqueezeNet 1.1, 64×64)"
