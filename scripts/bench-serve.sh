#!/usr/bin/env bash
# Read-path benchmark: 1,000 advertisers x 30 days x 2 models x 20 ranks in Postgres, then
# GET /recommendations for random advertisers from wrk (a separate process), with the read cache
# on and off, first alone and then while filter_data runs on the benchmark day (1.1 GB of logs,
# scripts/bench-data.sh) in the same process, back to back for the whole window. The peer:
# the same query straight to Postgres with pgbench, so the ratio shows what the HTTP layer costs.
#   BENCH_SECONDS (15), BENCH_CONNECTIONS (64)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/scripts/lib.sh"
duration="${BENCH_SECONDS:-15}"
conns="${BENCH_CONNECTIONS:-64}"
day=2026-11-20
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
pgbench=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench | tail -n1)

raw=$("$here/scripts/bench-data.sh" 1)
work=$(mktemp -d /tmp/adrec-bench.XXXXXX)
trap 'stop_adrec; rm -rf "$work"' EXIT
db_url=$(fresh_db adrec_bench_serve)
DATABASE_URL="$db_url" "$ADREC_BIN" migrate >/dev/null
echo "== filling: 1,000 advertisers x 30 days x 2 models x 20 ranks"
psql "$db_url" -q <<'SQL'
INSERT INTO recommendations
SELECT DATE '2026-11-20' - d, 'ADV' || lpad(a::text, 4, '0'), m::rec_model, r::smallint,
       'p' || lpad(((a * 7 + d * 3 + r) % 100)::text, 5, '0'),
       CASE WHEN m = 'top_ctr' THEN 1.0 / r ELSE 100 - r END,
       CASE WHEN m = 'top_ctr' THEN 21 - r END, CASE WHEN m = 'top_ctr' THEN 100 END,
       CASE WHEN m = 'top_product' THEN 100 - r END
FROM generate_series(0, 999) a, generate_series(0, 29) d,
     unnest(ARRAY['top_ctr', 'top_product']) m, generate_series(1, 20) r;
ANALYZE recommendations;
SQL
psql "$db_url" -Atc "SELECT count(*) || ' rows, ' || count(DISTINCT date) || ' dates' FROM recommendations"

wrk_run() { # OUT
  wrk -t2 -c"$conns" -d"${duration}s" --latency -s "$here/scripts/bench_serve.lua" "$ADREC_BASE" > "$1"
}
# filter_data back to back until the file $1 appears; one line per run: seconds, status.
jobs_until() {
  while [ ! -e "$1" ]; do
    t0=$(date +%s.%N)
    status=$(run_job filter_data "$day" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
    echo "$(python3 -c "print(f'{$(date +%s.%N) - $t0:.2f}')") $status"
  done
}

for cache in true false; do
  READ_CACHE=$cache start_adrec "$db_url" "$raw" "$work/work"
  t0=$(date +%s.%N); run_job filter_data "$day" >/dev/null
  echo "$(python3 -c "print(f'{$(date +%s.%N) - $t0:.2f}')")" > "$work/alone-$cache.txt"
  echo "== adrec (READ_CACHE=$cache): wrk, $conns connections, 2 threads, ${duration}s; alone, then while filter_data runs"
  wrk -t2 -c"$conns" -d2s -s "$here/scripts/bench_serve.lua" "$ADREC_BASE" >/dev/null   # warm-up
  wrk_run "$work/wrk-$cache.txt"
  rm -f "$work/done"
  jobs_until "$work/done" > "$work/jobs-$cache.txt" &
  jobs_pid=$!
  sleep 1   # the first run is under way
  wrk_run "$work/wrk-job-$cache.txt"
  touch "$work/done"; wait "$jobs_pid"
  stop_adrec
done

echo "== peer: pgbench, the same SELECT (prepared), 16 clients, ${duration}s"
"$pgbench" -n -M prepared -c 16 -j 2 -T "$duration" -f "$here/scripts/bench_serve.sql" "$db_url" > "$work/pgbench.txt"

python3 - "$work" <<'PY'
import os, re, sys
work = sys.argv[1]
def ms(v):
    n, unit = float(re.match(r"([\d.]+)", v).group(1)), re.search(r"[a-z]+$", v).group(0)
    return n * {"us": 0.001, "ms": 1, "s": 1000}[unit]
def wrk(name):
    t = open(os.path.join(work, name)).read()
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    return (float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1)), ms(re.search(r"50%\s+(\S+)", t).group(1)),
            ms(re.search(r"99%\s+(\S+)", t).group(1)), int(errors.group(1)) if errors else 0)
tps = float(re.search(r"tps = ([\d.]+)", open(os.path.join(work, "pgbench.txt")).read()).group(1))
print()
for cache in ("true", "false"):
    label = "cache on " if cache == "true" else "cache off"
    rps, p50, p99, errors = wrk(f"wrk-{cache}.txt")
    verdict = "met" if rps >= 20000 and p99 < 5 else "not met"
    print(f"GET /recommendations, {label}, no job:          {rps:>8,.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  "
          f"non-2xx {errors}  ratio to pgbench {rps / tps:.2f}  (>=20k req/s, p99<5 ms: {verdict})")
    rps, p50, p99, errors = wrk(f"wrk-job-{cache}.txt")
    runs = [l.split() for l in open(os.path.join(work, f"jobs-{cache}.txt")) if l.strip()]
    ok = sum(s == "succeeded" for _, s in runs)
    alone = float(open(os.path.join(work, f"alone-{cache}.txt")).read())
    durations = ", ".join(f"{float(t):.1f}" for t, _ in runs)
    print(f"GET /recommendations, {label}, filter_data runs: {rps:>8,.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  "
          f"non-2xx {errors}  (p99 < 20 ms: {'met' if p99 < 20 else 'NOT met'})")
    print(f"   filter_data during the window: {ok}/{len(runs)} succeeded, {durations} s each (alone: {alone:.1f} s)")
print(f"peer pgbench, the same SELECT: {tps:>8,.0f} queries/s")
PY
