#!/usr/bin/env bash
# Scale benchmark: the bench day (scripts/bench-data.sh: 8M ad events + 4M views a day in
# two-day files, 1.1 GB) through `adrec run pipeline`, in-process and then on a local Ballista
# cluster (`adrec scheduler` + 1 and 2 `adrec executor`s, ENGINE_URL=df://…). Prints each run's
# time by stage, the cluster's overhead against in-process, the scan throughput per executor,
# and checks that every run published the same rows. On one machine executors share its cores
# (each gets cores/N task slots), so expect no speed-up: the point is the overhead and a
# per-executor throughput to size a real cluster from.
#   ADREC_BIN (a build with --features ballista)  BENCH_EXECUTORS="1 2"  BENCH_SCALE=1
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/scripts/lib.sh"
day=2026-11-20
executors="${BENCH_EXECUTORS:-1 2}"
cores=$(nproc)
raw=$("$here/scripts/bench-data.sh" "${BENCH_SCALE:-1}")
work=$(mktemp -d /tmp/adrec-bench-scale.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.1; done; echo "nothing on port $1" >&2; exit 1; }
bytes=$(cat "$raw/ads_views" "$raw/product_views" | wc -c)
echo "== input: $(du -sh "$raw" | cut -f1) in $raw, the day $day; $cores cores"

pipeline() { # NAME [ENGINE_URL]
  local db_url; db_url=$(fresh_db "adrec_bench_scale_$1")
  DATABASE_URL="$db_url" "$ADREC_BIN" migrate >/dev/null
  local t0 t1
  t0=$(date +%s.%N)
  DATABASE_URL="$db_url" RAW_URL="file://$raw/" WORK_URL="file://$work/work-$1/" RUST_LOG=warn \
    ENGINE_URL="${2:-}" "$ADREC_BIN" run pipeline --date "$day" > "$work/$1.run.json"
  t1=$(date +%s.%N)
  echo "$t0 $t1" > "$work/$1.time"
  psql "$db_url" -Atc "COPY (SELECT advertiser_id, model, rank, product_id, score, clicks, impressions, views
    FROM recommendations WHERE date = '$day' ORDER BY 1, 2, 3) TO STDOUT WITH (FORMAT csv)" > "$work/$1.csv"
}

echo "== in-process"
pipeline inproc
for n in $executors; do
  echo "== cluster: 1 scheduler + $n executor(s), $((cores / n > 0 ? cores / n : 1)) task slots each"
  sport=$(free_port)
  "$ADREC_BIN" scheduler --bind "127.0.0.1:$sport" >"$work/scheduler-$n.log" 2>&1 & pids+=($!)
  wait_port "$sport"
  for i in $(seq "$n"); do
    eport=$(free_port)
    RUST_LOG=warn "$ADREC_BIN" executor --scheduler "127.0.0.1:$sport" --bind "127.0.0.1:$eport" \
      --concurrency $((cores / n > 0 ? cores / n : 1)) --work-dir "$work/exec-$n-$i" >"$work/executor-$n-$i.log" 2>&1 & pids+=($!)
    wait_port "$eport"
  done
  sleep 1
  pipeline "cluster$n" "df://127.0.0.1:$sport"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
done

python3 - "$work" "$bytes" $executors <<'PY'
import json, os, sys, filecmp
work, nbytes, ns = sys.argv[1], int(sys.argv[2]), [int(n) for n in sys.argv[3:]]
stages = ["filter_data", "top_ctr", "top_product", "db_writing"]
def load(name):
    run = json.load(open(os.path.join(work, f"{name}.run.json")))
    t0, t1 = map(float, open(os.path.join(work, f"{name}.time")).read().split())
    if run["status"] != "succeeded":
        sys.exit(f"{name} failed: {run.get('error')}")
    return run, t1 - t0
base, base_t = load("inproc")
rows = [("in-process", 0, base, base_t)] + [(f"cluster, {n} executor(s)", n, *load(f"cluster{n}")) for n in ns]
print()
print(f"{'engine':<24} {'total s':>8} " + " ".join(f"{s:>12}" for s in stages) + f" {'vs in-proc':>10} {'scan MB/s/executor':>19}")
for name, n, run, t in rows:
    secs = [run["details"][s]["seconds"] for s in stages]
    over = f"{(t / base_t - 1) * 100:+.0f}%" if n else "—"
    per = f"{nbytes / secs[0] / 1e6 / n:,.0f}" if n else f"{nbytes / secs[0] / 1e6:,.0f} (1 proc)"
    print(f"{name:<24} {t:8.2f} " + " ".join(f"{x:12.2f}" for x in secs) + f" {over:>10} {per:>19}")
same = all(filecmp.cmp(os.path.join(work, "inproc.csv"), os.path.join(work, f"cluster{n}.csv"), shallow=False) for n in ns)
b = base["details"]["filter_data"]
print(f"\nanswers: {'identical' if same else 'DIFFERENT'} across engines ({sum(1 for _ in open(os.path.join(work, 'inproc.csv'))):,} rows); "
      f"filter_data rows in {b['rows_in']:,}, kept {b['rows_out']:,}, bad {b['bad_rows']:,}")
for name, n, run, _ in rows[1:]:
    f = run["details"]["filter_data"]
    if (f["rows_in"], f["rows_out"], f["bad_rows"]) != (b["rows_in"], b["rows_out"], b["bad_rows"]):
        sys.exit(f"{name}: counts differ: {f['rows_in']}, {f['rows_out']}, {f['bad_rows']}")
if not same:
    sys.exit(1)
PY
