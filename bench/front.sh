#!/usr/bin/env bash
# The API Gateway front of `mlinfra serve --env localstack` (HTTPS, self-signed) into a warm
# packaged predict bootstrap run by the executor, on the moto server, next to `mlinfra serve` on
# `local` (plain HTTP, in-process) and FastAPI + onnxruntime (one uvicorn worker) on the same
# model: wrk, single-row POST /predict, 4 and 16 connections; and the cold start as a client
# sees it (the first request after `serve` listens, which starts the instance) and the warm p50.
# The cloud stack's usage plan is raised to 10000 requests/s (burst 5000), so that wrk measures
# the front and not its throttle (which answers 429 past the plan, as API Gateway does).
# Usage: bench/front.sh [MLINFRA]  (a release build of mlinfra, built when not given; the
# packages from `make lambda`, built when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; }
.venv/bin/pip install -q --disable-pip-version-check -r python/bench-requirements.txt
target=${CARGO_TARGET_DIR:-target}
bin=${1:-}
if [ -z "$bin" ]; then
  cargo build -q --release -p mlinfra --bin mlinfra
  bin=$target/release/mlinfra
fi
bin=$(realpath "$bin")
[ -f target/lambda/predict/bootstrap.zip ] || "$bin" build --artifacts target/lambda
artifacts=$(realpath target/lambda)
out=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done; sleep 1; rm -rf "$out"; }
trap cleanup EXIT
wait_port() { for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 did not open" >&2; return 1; }
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
.venv/bin/moto_server -p 18190 > "$out/moto.log" 2>&1 & pids+=($!)
wait_port 18190

# The same data trained and approved on both environments.
for env in local cloud; do mkdir -p "$out/$env" && cp -r stacks examples "$out/$env/"; done
sed -i -e 's/rate_per_second: 50$/rate_per_second: 10000/' -e 's/burst: 100$/burst: 5000/' "$out/cloud/stacks/heart-disease.yaml"
grep -q "rate_per_second: 10000" "$out/cloud/stacks/heart-disease.yaml"
local_() { (cd "$out/local" && "$bin" -q "$@"); }
cloud() { (cd "$out/cloud" && "$bin" -q --env localstack --endpoint http://127.0.0.1:18190 --artifacts "$artifacts" "$@"); }
for m in local_ cloud; do
  $m up --yes > /dev/null
  $m pipeline run --as alice > /dev/null
  id=$($m models request 1 --to production --as alice --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  $m models approve "$id" --as bob > /dev/null
done
key_local=$(cat "$out/local/.mlinfra/heart-disease/secrets/api-key")
key_cloud=$(AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test .venv/bin/python - <<'PY'
import boto3
c = boto3.client("apigateway", endpoint_url="http://127.0.0.1:18190", region_name="us-east-1")
print(next(k["value"] for k in c.get_api_keys(includeValues=True)["items"] if k["name"] == "heart-disease-key"))
PY
)
cp "$(find "$out/local/.mlinfra/heart-disease/lake/models" -name model.onnx | head -1)" "$out/model.onnx"
python3 -c 'import json; print(json.dumps({"instances": [{"age": 63, "sex": 1, "cp": 1, "trestbps": 145, "chol": 233, "fbs": 1, "restecg": 2, "thalach": 150, "exang": 0, "oldpeak": 2.3, "slope": 3, "ca": 0, "thal": 6}]}))' > "$out/request.json"

(cd "$out/local" && exec "$bin" serve --port 18181 -q) & pids+=($!)
MODEL=onnx OUT="$out" .venv/bin/uvicorn --app-dir bench fastapi_app:app --port 18183 --workers 1 --log-level warning & pids+=($!)
(cd "$out/cloud" && exec "$bin" --env localstack --endpoint http://127.0.0.1:18190 --artifacts "$artifacts" serve --port 18182 2> "$out/front.log") & pids+=($!)
wait_port 18181 && wait_port 18183
for _ in $(seq 1 300); do grep -q "listening on https" "$out/front.log" 2>/dev/null && break; sleep 0.1; done
cert="$out/cloud/.mlinfra/heart-disease/serve/cert.pem"
post() { curl -sS -o /dev/null -w '%{time_total} %{http_code}\n' --cacert "$cert" -X POST -H 'Content-Type: application/json' -H "x-api-key: $key_cloud" -d @"$out/request.json" https://localhost:18182/v1/predict; }
post > "$out/cold.txt"
for _ in $(seq 1 50); do post; done > "$out/warm.txt"

load() { BODY_FILE="$out/request.json" API_KEY="$3" wrk -t2 -c"$2" -d8s --latency -s bench/post.lua "$1" > "$out/wrk-$(printf %s "$1" | tr -c 'a-z0-9' _)-c$2.txt"; }
for c in 16 4; do
  load https://localhost:18182/v1/predict "$c" "$key_cloud"
  load http://127.0.0.1:18181/v1/predict "$c" "$key_local"
  load http://127.0.0.1:18183/v1/predict "$c" ""
done

python3 - "$out" <<'PY'
import glob, re, statistics, sys
out = sys.argv[1]
def wrk(url, c):
    t = open(f"{out}/wrk-{re.sub('[^a-z0-9]', '_', url)}-c{c}.txt").read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", t)
    ms = float(p99.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[p99.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    return rps, ms, int(bad.group(1)) if bad else 0
front, local, fastapi = "https://localhost:18182/v1/predict", "http://127.0.0.1:18181/v1/predict", "http://127.0.0.1:18183/v1/predict"
cold = open(f"{out}/cold.txt").read().split()
warm = [float(l.split()[0]) for l in open(f"{out}/warm.txt") if l.endswith(" 200\n")]
print("| figure | front (HTTPS -> executor -> predict bootstrap) | serve --env local | FastAPI + onnxruntime |")
print("|---|---:|---:|---:|")
for c in (4, 16):
    f, l, p = wrk(front, c), wrk(local, c), wrk(fastapi, c)
    print(f"| POST /predict, 1 row, {c} connections: req/s | {f[0]:.0f} | {l[0]:.0f} | {p[0]:.0f} |")
    print(f"| p99 latency, {c} connections | {f[1]:.2f} ms | {l[1]:.2f} ms | {p[1]:.2f} ms |")
    print(f"| non-2xx responses, {c} connections | {f[2]} | {l[2]} | {p[2]} |")
print(f"| cold start as a client sees it (first request after serve listens; status {cold[1]}) | {float(cold[0])*1e3:.0f} ms | | |")
print(f"| warm request, p50 over {len(warm)} curl calls (new TLS connection each) | {statistics.median(warm)*1e3:.1f} ms | | |")
PY
