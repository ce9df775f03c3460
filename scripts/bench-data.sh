#!/usr/bin/env bash
# Prints the directory of the benchmark logs, generating them on first use (deterministic, so
# they are generated once per scale and shape and reused): one pair of log files spanning two
# days, each day with SCALE x (8M ad events + 4M product views) from 1,000 active and 250
# inactive advertisers, and 1,000 bad rows a day. Scale 1 is 1.1 GB.
#   SHAPE uniform: 200 products per advertiser, picked uniformly (~250k (advertiser, product)
#                  pairs a day in the ads log: small group-bys);
#   SHAPE zipf:    2,000 products per advertiser, picked by a Zipf law of exponent 1.1 (~1.2M
#                  pairs a day in the ads log: large group-bys, a few products taking most
#                  events, as real catalogues do).
#   bench-data.sh [SCALE] [SHAPE]      (needs ADREC_BIN)
set -euo pipefail
scale="${1:-1}"
shape="${2:-uniform}"
cache="${ADREC_CACHE:-$HOME/.cache/adrec}"
case "$shape" in
  uniform) raw="$cache/bench-data/two-days-x$scale"; pick=(--products 200) ;;
  zipf) raw="$cache/bench-data/two-days-zipf-x$scale"; pick=(--products 2000 --zipf 1.1) ;;
  *) echo "bench-data: unknown shape $shape (uniform or zipf)" >&2; exit 2 ;;
esac
if [ ! -s "$raw/ads_views" ]; then
  rm -rf "$raw"
  echo "bench-data: generating the $shape x$scale logs in $raw (once)" >&2
  "${ADREC_BIN:?set ADREC_BIN}" gen-data "$raw" --advertisers 1000 --inactive 250 "${pick[@]}" \
    --days 2 --start 2026-11-19 --ads-per-day $((8000000 * scale)) --views-per-day $((4000000 * scale)) \
    --bad-rows-per-day 1000 --seed 7 >&2
fi
echo "$raw"
