#!/usr/bin/env bash
# HTTP text predictions, one text per POST /v1/predict: `mlinfra serve` with the imported BERT
# (tests/fixtures/imported/) vs FastAPI + Hugging Face's tokenizers + onnxruntime (uvicorn, one
# worker), wrk at 4 and 16 connections, in one run: requests per second and p99, and the ratio.
# MLINFRA=path/to/mlinfra overrides the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; }
.venv/bin/pip install -q --disable-pip-version-check -r python/bench-requirements.txt
target=${CARGO_TARGET_DIR:-target}
if [ -z "${MLINFRA:-}" ]; then cargo build -q --release -p mlinfra --bin mlinfra; MLINFRA="$target/release/mlinfra"; fi
bin=$(realpath "$MLINFRA")
F=$(realpath tests/fixtures/imported)
out=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$out"; }
trap cleanup EXIT

proj="$out/project"
mkdir -p "$proj" && cp -r stacks "$proj/" && cp "$F"/{text_classifier.onnx,tokenizer.json,tweets.csv} "$proj/"
(cd "$proj" && "$bin" up --yes -q >/dev/null && { "$bin" models import text_classifier.onnx -q 2>/dev/null || true; } \
  && sed -i 's/max_length: 128/max_length: 16/; s/\["0", "1", "2"\]/[fire, flood, other]/' text_classifier.card.yaml \
  && "$bin" models import text_classifier.onnx --data tweets.csv --label label --as alice -q >/dev/null \
  && "$bin" models request 1 --to production --as alice -q >/dev/null && "$bin" models approve r1 --as bob -q >/dev/null)
key=$(cat "$proj/.mlinfra/heart-disease/secrets/api-key")
wait_port() { for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 did not open" >&2; return 1; }
(cd "$proj" && exec "$bin" serve --port 18191 -q) & pids+=($!)
MODEL="$F/text_classifier.onnx" TOKENIZER="$F/tokenizer.json" .venv/bin/uvicorn --app-dir bench fastapi_text:app --port 18192 --workers 1 --log-level warning & pids+=($!)
wait_port 18191 && wait_port 18192
echo '{"instances": [{"text": "Fire near the café in São Paulo, smoke everywhere 🔥"}]}' > "$out/request.json"
# The server is ready once it answers (it loads the model after the port opens).
for _ in $(seq 1 100); do curl -sf -o /dev/null -H "x-api-key: $key" -H 'content-type: application/json' -d @"$out/request.json" http://127.0.0.1:18191/v1/predict && break; sleep 0.1; done
load() { BODY_FILE="$out/request.json" API_KEY="$key" wrk -t2 -c"$2" -d8s --latency -s bench/post.lua "http://127.0.0.1:$1/v1/predict" > "$out/wrk-$1-c$2.txt"; }
for c in 4 16; do for p in 18191 18192; do load "$p" "$c"; done; done
python3 - "$out" <<'PY'
import re, sys
out = sys.argv[1]
def wrk(port, c):
    t = open(f"{out}/wrk-{port}-c{c}.txt").read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", t)
    ms = float(p99.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    return rps, ms, int(errors.group(1)) if errors else 0
print(f"{'text, one per request':<28} {'conns':>5} {'req/s':>9} {'p99 ms':>8} {'non-2xx':>8}")
for c in (4, 16):
    ours, theirs = wrk(18191, c), wrk(18192, c)
    print(f"{'mlinfra serve':<28} {c:>5} {ours[0]:>9.0f} {ours[1]:>8.2f} {ours[2]:>8}")
    print(f"{'FastAPI + tokenizers + ort':<28} {c:>5} {theirs[0]:>9.0f} {theirs[1]:>8.2f} {theirs[2]:>8}")
    print(f"{'throughput ratio':<28} {c:>5} {ours[0] / theirs[0]:>9.2f}")
PY
