#!/usr/bin/env bash
# Prints the path of s3s-fs (the S3-compatible test server), installing it on first use:
# 0.14.1 is the last release that builds with this project's rustc (a newer one needs 1.96).
set -euo pipefail
root="${ADREC_CACHE:-$HOME/.cache/adrec}/tools"
bin="$root/bin/s3s-fs"
if [ ! -x "$bin" ]; then
  echo "s3s-fs: installing s3s-fs 0.14.1 into $root (about 2 minutes, once)" >&2
  cargo install s3s-fs@0.14.1 --features binary --locked --root "$root" --quiet >&2
fi
echo "$bin"
