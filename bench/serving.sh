#!/usr/bin/env bash
# Serving figures next to the peers, same machine, same run (issue: serving).
# - in-process, one row: mlinfra (tract) vs scikit-learn vs onnxruntime;
# - HTTP, single-row POST /predict: `mlinfra serve` vs FastAPI + scikit-learn vs FastAPI +
#   onnxruntime (uvicorn, one worker), wrk at the same concurrency;
# - batch: `mlinfra predict` over 1M rows.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; }
.venv/bin/pip install -q --disable-pip-version-check -r python/bench-requirements.txt
target=${CARGO_TARGET_DIR:-target}
cargo build -q --release -p mlinfra --bin mlinfra
cargo build -q --release -p mlinfra-core --example bench_serving
bin=$(realpath "$target/release/mlinfra")
out=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$out"; }
trap cleanup EXIT

"$target/release/examples/bench_serving" "$out" > "$out/inproc.json"
.venv/bin/python bench/serving_peers.py "$out" > "$out/peers.json"

# A deployed project: the pipeline's model approved to Production.
proj="$out/project"
mkdir -p "$proj" && cp -r stacks examples "$proj/"
(cd "$proj" && "$bin" up --yes -q >/dev/null && "$bin" pipeline run --as alice -q >/dev/null \
  && "$bin" models request 1 --to production --as alice -q >/dev/null && "$bin" models approve r1 --as bob -q >/dev/null)
key=$(cat "$proj/.mlinfra/heart-disease/secrets/api-key")
wait_port() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 did not open" >&2; return 1; }
(cd "$proj" && exec "$bin" serve --port 18181 -q) & pids+=($!)
MODEL=sklearn OUT="$out" .venv/bin/uvicorn --app-dir bench fastapi_app:app --port 18182 --workers 1 --log-level warning & pids+=($!)
MODEL=onnx OUT="$out" .venv/bin/uvicorn --app-dir bench fastapi_app:app --port 18183 --workers 1 --log-level warning & pids+=($!)
wait_port 18181 && wait_port 18182 && wait_port 18183
load() { BODY_FILE="$out/request.json" API_KEY="$key" wrk -t2 -c"$2" -d8s --latency -s bench/post.lua "http://127.0.0.1:$1/v1/predict" > "$out/wrk-$1-c$2.txt"; }
for c in 16 4; do for p in 18181 18182 18183; do load "$p" "$c"; done; done

# Batch: 1M rows.
python3 - "$out/big.csv" <<'PY'
import random, sys
random.seed(1)
rows = open("examples/heart-disease/processed.cleveland.csv").read().splitlines()
with open(sys.argv[1], "w") as f:
    f.write(rows[0] + "\n")
    body = rows[1:]
    for i in range(1_000_000):
        f.write(body[i % len(body)] + "\n")
PY
(cd "$proj" && "$bin" predict --input "$out/big.csv" --out "$out/big.out.csv") 2> "$out/batch.txt"

python3 - "$out" <<'PY'
import json, re, sys
out = sys.argv[1]
ours, peers = json.load(open(f"{out}/inproc.json")), json.load(open(f"{out}/peers.json"))
def wrk(port, c=16):
    t = open(f"{out}/wrk-{port}-c{c}.txt").read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", t)
    ms = float(p99.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    return rps, ms, int(errors.group(1)) if errors else 0
m, sk, ox = wrk(18181), wrk(18182), wrk(18183)
m4, sk4, ox4 = wrk(18181, 4), wrk(18182, 4), wrk(18183, 4)
batch = re.search(r"\(([\d.]+) rows/s\)", open(f"{out}/batch.txt").read())
print("| figure | mlinfra | peer | ratio | target |")
print("|---|---:|---:|---:|---|")
print(f"| in-process predict, 1 row (native, verified against tract) | {ours['score_one_row_ns']/1000:.2f} µs | scikit-learn {peers['sklearn_one_row_ns']/1000:.1f} µs | {peers['sklearn_one_row_ns']/ours['score_one_row_ns']:.0f}x | <= 3 µs |")
print(f"| in-process predict, 1 row (tract) | {ours['tract_one_row_ns']/1000:.2f} µs | | | |")
print(f"| | | onnxruntime {peers['onnxruntime_one_row_ns']/1000:.1f} µs | {peers['onnxruntime_one_row_ns']/ours['score_one_row_ns']:.1f}x | |")
print(f"| explanation, 1 row (exact linear SHAP, logistic regression) | {ours['explain_one_row_ns']/1000:.2f} µs | shap LinearExplainer {peers['shap_explain_one_row_ns']/1000:.1f} µs | {peers['shap_explain_one_row_ns']/ours['explain_one_row_ns']:.0f}x | |")
print(f"| explanation, 1 row (exact TreeSHAP, 100 trees of depth 4) | {ours['tree_explain_one_row_ns']/1000:.2f} µs | | | |")
print(f"| in-process handler, 1 row (JSON in, JSON out) | {ours['handler_one_row_ns']/1000:.2f} µs | | | |")
print(f"| HTTP POST /predict, 1 row, 16 connections: req/s | {m[0]:.0f} | FastAPI+scikit-learn {sk[0]:.0f} | {m[0]/sk[0]:.1f}x | >= 20x |")
print(f"| | | FastAPI+onnxruntime {ox[0]:.0f} | {m[0]/ox[0]:.1f}x | |")
print(f"| HTTP p99 latency, 16 connections | {m[1]:.3f} ms | {sk[1]:.1f} ms / {ox[1]:.1f} ms | | <= 1 ms |")
print(f"| HTTP POST /predict, 4 connections: req/s | {m4[0]:.0f} | {sk4[0]:.0f} / {ox4[0]:.0f} | {m4[0]/sk4[0]:.1f}x / {m4[0]/ox4[0]:.1f}x | >= 20x |")
print(f"| HTTP p99 latency, 4 connections | {m4[1]:.3f} ms | {sk4[1]:.1f} ms / {ox4[1]:.1f} ms | | <= 1 ms |")
print(f"| non-2xx responses | {m[2]} | {sk[2]} / {ox[2]} | | 0 |")
print(f"| batch prediction, 1M rows to CSV | {float(batch.group(1)):.0f} rows/s | | | >= 500k rows/s |")
print(f"| batch scoring only (tract, chunks of 8192) | {ours['batch_rows_per_s']:.0f} rows/s | | | |")
PY
