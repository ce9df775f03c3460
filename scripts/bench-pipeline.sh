#!/usr/bin/env bash
# Pipeline benchmark: a large day (10M ad events, 5M product views) inside files that also hold
# two other days, run through the service stage by stage over HTTP (filter_data, top_ctr,
# top_product, db_writing), then DuckDB — the peer — computing the same answer from the same
# files in the same run. Prints both times, the ratio, and checks the answers are identical.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/scripts/lib.sh"
cache="${ADREC_CACHE:-$HOME/.cache/adrec}"
day=2026-11-20
ads_per_day="${BENCH_ADS_PER_DAY:-1000000}"     # the big day gets 10x: 10M ad events
views_per_day="${BENCH_VIEWS_PER_DAY:-500000}"  # and 5M product views

venv="$cache/venv-bench"
[ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import duckdb' 2>/dev/null || {
  python3 -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check duckdb==1.5.6; }

# The logs are generated once per size and reused (generation is deterministic).
raw="$cache/bench-data/raw-$ads_per_day-$views_per_day"
if [ ! -s "$raw/ads_views" ]; then
  rm -rf "$raw"
  "$ADREC_BIN" gen-data "$raw" --advertisers 1000 --inactive 250 --products 200 --days 3 \
    --start 2026-11-19 --big-day "$day" --big-day-factor 10 \
    --ads-per-day "$ads_per_day" --views-per-day "$views_per_day" --seed 7
fi
ls -l "$raw"

work=$(mktemp -d /tmp/adrec-bench.XXXXXX)
trap 'stop_adrec; rm -rf "$work"' EXIT
db_url=$(fresh_db adrec_bench_pipeline)
start_adrec "$db_url" "$raw" "$work/work"

total=0
for task in filter_data top_ctr top_product db_writing; do
  t0=$(date +%s.%N)
  run=$(run_job "$task" "$day")
  t1=$(date +%s.%N)
  secs=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
  total=$(python3 -c "print($total + $t1 - $t0)")
  echo "$run" | python3 -c "import json,sys; r=json.load(sys.stdin); print(f'adrec {r[\"task\"]:<12} {r[\"status\"]:<9} $secs s  rows in {r[\"rows_in\"]:>10,}  out {r[\"rows_out\"]:>10,}'); sys.exit(r['status'] != 'succeeded')"
done
stop_adrec

psql "$db_url" -Atc "COPY (SELECT advertiser_id, model, rank, product_id, score, clicks, impressions, views
  FROM recommendations WHERE date = '$day') TO STDOUT WITH (FORMAT csv)" > "$work/adrec.csv"
duck_out=$("$venv/bin/python" "$here/scripts/bench_pipeline_duckdb.py" "$raw" "$day" "$work/adrec.csv") || { echo "$duck_out"; exit 1; }
echo "$duck_out" | grep -v DUCKDB_SECONDS
duck=$(echo "$duck_out" | sed -n 's/^DUCKDB_SECONDS=//p')
python3 - "$total" "$duck" <<'PY'
import sys
adrec, duck = float(sys.argv[1]), float(sys.argv[2])
print()
print(f"adrec end to end (4 stages over HTTP, Parquet + Postgres): {adrec:.2f} s")
print(f"duckdb same answer from the same files:                   {duck:.2f} s")
print(f"ratio adrec / duckdb: {adrec / duck:.2f}  ({'faster' if adrec < duck else 'slower'} than DuckDB)")
PY
