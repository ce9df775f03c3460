#!/usr/bin/env bash
# Read-path benchmark: 1,000 advertisers x 30 days x 2 models x 20 ranks in Postgres, then
# GET /recommendations for random advertisers from wrk (a separate process), and — the peer —
# the same query straight to Postgres with pgbench, so the ratio shows what the HTTP layer costs.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/scripts/lib.sh"
duration="${BENCH_SECONDS:-15}"
conns="${BENCH_CONNECTIONS:-64}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
pgbench=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench | tail -n1)

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

for cache in true false; do
  READ_CACHE=$cache start_adrec "$db_url" "$work" "$work/work"
  echo "== adrec (READ_CACHE=$cache): wrk, $conns connections, 2 threads, ${duration}s"
  wrk -t2 -c"$conns" -d2s -s "$here/scripts/bench_serve.lua" "$ADREC_BASE" >/dev/null   # warm-up
  wrk -t2 -c"$conns" -d"${duration}s" --latency -s "$here/scripts/bench_serve.lua" "$ADREC_BASE" | tee "$work/wrk-$cache.txt"
  stop_adrec
done

echo "== peer: pgbench, the same SELECT (prepared), 16 clients, ${duration}s"
"$pgbench" -n -M prepared -c 16 -j 2 -T "$duration" -f "$here/scripts/bench_serve.sql" "$db_url" | tee "$work/pgbench.txt"

python3 - "$work/wrk-true.txt" "$work/wrk-false.txt" "$work/pgbench.txt" <<'PY'
import re, sys
def ms(v):
    n, unit = float(re.match(r"([\d.]+)", v).group(1)), re.search(r"[a-z]+$", v).group(0)
    return n * {"us": 0.001, "ms": 1, "s": 1000}[unit]
def wrk(path):
    t = open(path).read()
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    return (float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1)), ms(re.search(r"50%\s+(\S+)", t).group(1)),
            ms(re.search(r"99%\s+(\S+)", t).group(1)), errors.group(1) if errors else "0")
tps = float(re.search(r"tps = ([\d.]+)", open(sys.argv[3]).read()).group(1))
print()
for label, path in (("cache on ", sys.argv[1]), ("cache off", sys.argv[2])):
    rps, p50, p99, errors = wrk(path)
    verdict = "met" if rps >= 20000 and p99 < 5 else "not met"
    print(f"adrec GET /recommendations, {label}: {rps:>8,.0f} req/s  p50 {p50:.2f} ms  p99 {p99:.2f} ms  "
          f"non-2xx {errors}  ratio to pgbench {rps / tps:.2f}  target (>=20k req/s, p99<5 ms) {verdict}")
print(f"peer pgbench, the same SELECT:       {tps:>8,.0f} queries/s")
PY
