#!/usr/bin/env bash
# The MLflow API's figures (issue: the MLflow tracking and registry API): `log_metric` round trip
# and `log_batch` of 1,000 metrics against `mlinfra serve` and against `mlflow server` (SQLite
# backend, one worker), in the same run, with the ratios. `mlflow server` (the full `mlflow`
# package, at the version of the pinned `mlflow-skinny`) is installed into .venv-mlflow, apart
# from the tests' venv.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s venv
[ -x .venv-mlflow/bin/mlflow ] || { python3 -m venv .venv-mlflow && .venv-mlflow/bin/pip install -q --disable-pip-version-check mlflow==3.17.2; }
target=${CARGO_TARGET_DIR:-target}
cargo build -q --release -p mlinfra --bin mlinfra
bin=$(realpath "$target/release/mlinfra")
out=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$out"; }
trap cleanup EXIT

proj="$out/project"
mkdir -p "$proj" && cp -r stacks examples "$proj/"
(cd "$proj" && "$bin" up --yes -q >/dev/null && printf 'bench-password-123\n' | "$bin" users add bench -q >/dev/null)
token=$(cd "$proj" && "$bin" users token create bench --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
wait_port() { for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 did not open" >&2; return 1; }
(cd "$proj" && exec "$bin" serve --port 18191 -q) & pids+=($!)
.venv-mlflow/bin/mlflow server --backend-store-uri "sqlite:///$out/mlflow.db" --default-artifact-root "$out/artifacts" \
  --host 127.0.0.1 --port 18192 --workers 1 >"$out/mlflow.log" 2>&1 & pids+=($!)
wait_port 18191 && wait_port 18192
MLFLOW_DISABLE_TELEMETRY=true .venv/bin/python bench/mlflow_peers.py \
  "mlinfra=http://127.0.0.1:18191,$token" "mlflow=http://127.0.0.1:18192" > "$out/figures.json"
python3 - "$out/figures.json" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))
ours, peer = f["mlinfra"], f["mlflow"]
print(f"{'':34} {'mlinfra serve':>14} {'mlflow server':>14} {'ratio':>7}")
for k in ours:
    print(f"{k:34} {ours[k]:>14} {peer[k]:>14} {peer[k] / ours[k]:>6.1f}x")
PY
