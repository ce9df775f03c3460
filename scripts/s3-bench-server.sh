#!/usr/bin/env bash
# Prints the path of s3-bench-server (tools/s3-bench-server: s3s-fs reading GetObject bodies
# 1 MiB at a time, `make bench-pipeline`'s S3 server), building it on first use (about 2 minutes).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
target="${ADREC_CACHE:-$HOME/.cache/adrec}/target-tools"
CARGO_TARGET_DIR="$target" cargo build --release --locked --quiet \
  --manifest-path "$here/tools/s3-bench-server/Cargo.toml" >&2
echo "$target/release/s3-bench-server"
