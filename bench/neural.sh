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
printf '%-40s %12s %12s %8s\n' model "tract µs" "ort µs" ratio
ours=$("$BIN" text $F/text_classifier.onnx $F/tokenizer.json $F/tweets.csv)
theirs=$("$PYTHON" python/bench_ort_neural.py text $F/text_classifier.onnx $F/tokenizer.json $F/tweets.csv)
printf '%-40s %12s %12s %8.2f\n' "text (BERT, 2 layers, ≤16 tokens)" "$ours" "$theirs" "$(echo "$ours / $theirs" | bc -l)"
ours=$("$BIN" image $F/image_classifier.onnx $F/images/*.png $F/images/*.jpg)
theirs=$("$PYTHON" python/bench_ort_neural.py image $F/image_classifier.onnx $F/images/*.png $F/images/*.jpg)
printf '%-40s %12s %12s %8.2f\n' "image (SqueezeNet 1.1, 64×64)" "$ours" "$theirs" "$(echo "$ours / $theirs" | bc -l)"
