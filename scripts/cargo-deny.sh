#!/usr/bin/env bash
# Prints the path of cargo-deny, installing it on first use into the shared tools cache (as
# s3s-fs.sh does): 0.20.2 is pinned so the install is reproducible (it needs rustc 1.88+).
set -euo pipefail
version=0.20.2
root="${ADREC_CACHE:-$HOME/.cache/adrec}/tools"
bin="$root/bin/cargo-deny"
if [ ! -x "$bin" ] || [ "$("$bin" --version 2>/dev/null)" != "cargo-deny $version" ]; then
  echo "cargo-deny: installing cargo-deny $version into $root (a few minutes, once)" >&2
  # In a temporary target dir of its own, not the project's shared one (whose lock it would hold).
  env -u CARGO_TARGET_DIR cargo install "cargo-deny@$version" --locked --root "$root" --quiet >&2
fi
echo "$bin"
