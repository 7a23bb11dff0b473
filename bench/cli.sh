#!/usr/bin/env bash
# CLI latency figures (issue: `validate` and a no-change `diff` on local, ≤ 50 ms median).
# Usage: bench/cli.sh path/to/mlinfra stacks/heart-disease.yaml
set -euo pipefail
bin=$(realpath "$1")
stack=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$bin" up -f "$stack" --yes -q > /dev/null
hyperfine --warmup 5 --runs 50 -N --export-markdown "$work/cli.md" \
  -n "validate" "$bin validate -f $stack" \
  -n "diff (no changes)" "$bin diff -f $stack" \
  -n "up (no changes)" "$bin up -f $stack --yes" \
  -n "status" "$bin status -f $stack"
cat "$work/cli.md"
"$bin" down -f "$stack" --yes --delete-data -q > /dev/null
