#!/usr/bin/env bash
# The console's server-side render time (issue: the console), per page, for 100 runs and 50
# registered versions, and for 1,000 runs and 500 versions to show how it grows.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
cargo build -q --release -p mlinfra --bin mlinfra --example bench_console
bin=$(realpath "$target/release/mlinfra")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for size in "100 50" "1000 500"; do
  set -- $size
  proj="$out/p$1"
  mkdir -p "$proj" && cp -r stacks examples "$proj/"
  (cd "$proj" && "$bin" up --yes -q >/dev/null && "$bin" pipeline run --as alice -q >/dev/null)
  "$target/release/examples/bench_console" "$proj/.mlinfra/heart-disease" "$proj/stacks/heart-disease.yaml" "$1" "$2" > "$out/$1.json"
done
python3 - "$out/100.json" "$out/1000.json" <<'PY'
import json, sys
small, large = (json.load(open(p)) for p in sys.argv[1:3])
print(f"console pages, server side (median of 30 renders, ms): {small['runs']} runs / {small['versions']} versions vs {large['runs']} runs / {large['versions']} versions")
print(f"{'page':<18}{'small':>10}{'p90':>9}{'large':>10}{'p90':>9}{'ratio':>8}{'KB large':>10}")
for name, s in small["pages"].items():
    l = large["pages"][name]
    print(f"{name:<18}{s['median_ms']:>10.2f}{s['p90_ms']:>9.2f}{l['median_ms']:>10.2f}{l['p90_ms']:>9.2f}{l['median_ms']/s['median_ms']:>8.1f}{l['bytes']/1024:>10.0f}")
PY
