#!/usr/bin/env bash
# Prints the directory of the benchmark logs, generating them on first use (deterministic, so
# they are generated once per scale and reused): one pair of log files spanning two days, each
# day with SCALE x (8M ad events + 4M product views) from 1,000 active and 250 inactive
# advertisers with 200 products each, and 1,000 bad rows a day. Scale 1 is 1.1 GB.
#   bench-data.sh [SCALE]      (needs ADREC_BIN)
set -euo pipefail
scale="${1:-1}"
cache="${ADREC_CACHE:-$HOME/.cache/adrec}"
raw="$cache/bench-data/two-days-x$scale"
if [ ! -s "$raw/ads_views" ]; then
  rm -rf "$raw"
  echo "bench-data: generating the x$scale logs in $raw (once)" >&2
  "${ADREC_BIN:?set ADREC_BIN}" gen-data "$raw" --advertisers 1000 --inactive 250 --products 200 \
    --days 2 --start 2026-11-19 --ads-per-day $((8000000 * scale)) --views-per-day $((4000000 * scale)) \
    --bad-rows-per-day 1000 --seed 7 >&2
fi
echo "$raw"
