#!/usr/bin/env bash
# End to end on the embedded default: local Postgres, file:// logs, the service on a free port,
# the pipeline driven over HTTP for three days, then real answers from the API.
# `demo.sh --keep` leaves the service running (Ctrl-C stops it). Run through scripts/with-pg.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bin="${ADREC_BIN:?set ADREC_BIN to the adrec binary}"
keep="${1:-}"
work=$(mktemp -d /tmp/adrec-demo.XXXXXX)
raw="$here/data/sample"; days=(2024-11-23 2024-11-24 2024-11-25)
echo "== logs: the course sample data shipped in the repository ($raw, see its README.md)"

source "$here/scripts/lib.sh"
trap 'stop_adrec; rm -rf "$work"' EXIT
start_adrec "$(fresh_db adrec_demo)" "$raw" "$work/work"
base=$ADREC_BASE
echo "== adrec serving at $base (dashboard: $base/dashboard)"

show() { python3 "$here/scripts/demo_show.py" "$1"; }
for d in "${days[@]}"; do
  run=$(run_job pipeline "$d")
  echo "$run" | show run
  echo "$run" | grep -q '"status":"succeeded"' || exit 1
done

adv=$(sed -n 2p "$raw/advertiser_ids" | tr -d '\r')
echo "== GET /recommendations/$adv/TopCTR"
curl -fsS "$base/recommendations/$adv/TopCTR" | show top_ctr
echo "== GET /recommendations/$adv/TopProduct"
curl -fsS "$base/recommendations/$adv/TopProduct" | show top_product
echo "== GET /history/$adv?days=3"
curl -fsS "$base/history/$adv?days=3" | show history
echo "== GET /stats"
curl -fsS "$base/stats" | show stats
echo "== unknown model: GET /recommendations/$adv/TopViews"
curl -sS "$base/recommendations/$adv/TopViews"; echo

if [ "$keep" = "--keep" ]; then
  echo
  echo "adrec keeps running at $base  (API reference: $base/docs, dashboard: $base/dashboard)"
  echo "  export TOKEN=$ADREC_TOKEN"
  echo "  curl -X POST -H \"Authorization: Bearer \$TOKEN\" \"$base/jobs/top_ctr?date=${days[0]}&wait=100\""
  echo "Ctrl-C stops it."
  wait "$ADREC_PID"
fi
stop_adrec
echo "== done; adrec stopped"
