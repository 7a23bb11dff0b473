#!/usr/bin/env python3
"""The declared `rust-version` is true: no package of the build needs a newer Rust.

Reads `cargo metadata` (every package of the locked resolve) and fails, naming them, when any
package declares a `rust-version` newer than the workspace's. Clippy's `incompatible_msrv` lint
checks the project's own code against the same declaration.
"""
import json
import subprocess
import sys
import tomllib


def version(s):
    parts = [int(p) for p in s.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


with open("Cargo.toml", "rb") as f:
    declared = tomllib.load(f)["workspace"]["package"]["rust-version"]
meta = json.loads(
    subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
)
newer = sorted(
    (p["name"], p["version"], p["rust_version"])
    for p in meta["packages"]
    if p.get("rust_version") and version(p["rust_version"]) > version(declared)
)
if newer:
    print(f"rust-version {declared} is not enough for:", file=sys.stderr)
    for name, v, rv in newer:
        print(f"  {name} {v} needs Rust {rv}", file=sys.stderr)
    need = max(rv for _, _, rv in newer)
    print(f"hint: set `rust-version = \"{need}\"` in Cargo.toml", file=sys.stderr)
    sys.exit(1)
print(f"rust-version {declared}: every one of {len(meta['packages'])} packages builds with it")
