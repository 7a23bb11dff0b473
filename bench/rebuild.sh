#!/usr/bin/env bash
# Incremental rebuild of `mlinfra` (debug, `cargo build -p mlinfra`) after a one-line change in
# each layer: the console, the monitor use case, the numerics. Run in a checkout; the files of
# older layouts are found too (numerics in functions/core before the split). Each edit inserts a
# line near the top of the file (every span below it moves, as an edit does) and is reverted
# afterwards; times are wall seconds of the rebuild.
set -euo pipefail
cd "${1:-.}"
pick() { for f in "$@"; do [ -f "$f" ] && { echo "$f"; return; }; done; echo "none of $*" >&2; exit 1; }
console=$(pick provisioner/src/console/page.rs)
monitor=$(pick functions/core/src/jobs/monitor.rs)
numerics=$(pick crates/ml/src/stats.rs functions/core/src/stats.rs)
cargo build -q -p mlinfra
for f in "$console" "$monitor" "$numerics"; do
  cp "$f" "$f.orig"
  sed -i "1a // rebuild probe $(date +%s%N)" "$f"
  start=$(date +%s.%N)
  cargo build -q -p mlinfra
  end=$(date +%s.%N)
  mv "$f.orig" "$f"
  printf '%-40s %6.1f s\n' "$f" "$(echo "$end - $start" | bc)"
done
cargo build -q -p mlinfra
