#!/usr/bin/env bash
# Pipeline benchmark: one day out of a pair of two-day log files (1.1 GB: 8M ad events + 4M
# product views a day), through `adrec run pipeline` (filter, both models, Parquet outputs,
# Postgres publish) inside a 2 GiB memory cgroup — the deployed shape — then DuckDB, the peer,
# computing the same answer from the same files in the same run; both timed as a whole process
# (start to answer written). Two data shapes: `uniform` (200 products per advertiser, small
# group-bys) and `zipf` (2,000 per advertiser picked by a Zipf law, ~1.2M (advertiser, product)
# pairs a day: large group-bys). Prints times, peak memory, the split by stage, the scan against
# `cat` of the same bytes, the answers' comparison, and peak memory on a 4x larger input.
# Then the same pipeline over a real S3 server (raw logs and outputs in a bucket): s3-bench-server
# (tools/, s3s-fs reading GetObject bodies 1 MiB at a time, not 4 KiB) and s3s-fs as released,
# with each server's CPU seconds, since both share this machine's cores with adrec.
#   BENCH_REPEAT=N (default 3; medians are reported)  BENCH_SKIP_4X=1 to leave the 4x run out
#   BENCH_SKIP_S3=1 to leave the S3 run out  BENCH_SKIP_ZIPF=1 to leave the zipf shape out
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/scripts/lib.sh"
cache="${ADREC_CACHE:-$HOME/.cache/adrec}"
day=2026-11-20
repeat="${BENCH_REPEAT:-3}"
limit=$((2 << 30))

venv="$cache/venv-bench"
[ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import duckdb' 2>/dev/null || {
  python3 -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check duckdb==1.5.6; }

raw=$("$here/scripts/bench-data.sh" 1)
work=$(mktemp -d /tmp/adrec-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
db_url=$(fresh_db adrec_bench_pipeline)
DATABASE_URL="$db_url" "$ADREC_BIN" migrate >/dev/null
# The served table as a nightly publish finds it: the 30 days before the bench day (the active
# advertisers, both models, 20 ranks: 40,000 rows a day, 1.2M in all), and not the bench day
# itself. Each timed run publishes the day as a new date, as a night does: the rows the run
# before published are deleted first and the table vacuumed (not timed; autovacuum does it
# between two nights). Replacing the day's rows instead, six times in a row with no vacuum, had
# each COPY wade through every earlier run's dead versions (db_writing 0.23 s on the first
# replacement, 0.35 s on the sixth, 0.46 s after twenty).
psql "$db_url" -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE TEMP TABLE active (advertiser_id text);
\copy active FROM '$raw/advertiser_ids' WITH (FORMAT csv, HEADER true)
INSERT INTO recommendations (date, advertiser_id, model, rank, product_id, score, clicks, impressions, views)
SELECT DATE '$day' - d, a.id, m, r, 'p' || r, 1.0 / r,
       CASE WHEN m = 'top_ctr' THEN 10 END, CASE WHEN m = 'top_ctr' THEN 100 END,
       CASE WHEN m = 'top_product' THEN 100 END
FROM (SELECT DISTINCT trim(advertiser_id) AS id FROM active WHERE trim(advertiser_id) <> '') a,
     unnest(enum_range(NULL::rec_model)) m, generate_series(1, 20) r, generate_series(1, 30) d;
VACUUM ANALYZE recommendations;
SQL
new_night() { psql "$db_url" -q -c "DELETE FROM recommendations WHERE date = '$day'" -c "VACUUM recommendations"; }
files=("$raw/ads_views" "$raw/product_views")
bytes=$(cat "${files[@]}" | wc -c)
echo "== input: $(du -sh "$raw" | cut -f1) in $raw; the day $day is one of two"
run() { python3 "$here/scripts/bench_run.py" "$@"; }

# The bytes themselves: cat from the page cache (the second read is warm).
cat "${files[@]}" >/dev/null
run --out "$work/cat.json" -- bash -c "cat ${files[*]} >/dev/null"

# adrec: `run pipeline` in a fresh process each time, inside the 2 GiB cgroup.
pipeline() { # RAW OUT_PREFIX
  new_night
  DATABASE_URL="$db_url" RAW_URL="file://$1/" WORK_URL="file://$work/work/" RUST_LOG=warn \
    run --out "$2.json" --cgroup-limit "$limit" -- "$ADREC_BIN" run pipeline --date "$day" > "$2.run.json"
}
# DuckDB: the same answer from the same files, as a whole process too; then compared row by row
# with what adrec published (not timed).
peer() { # RAW OUT_PREFIX
  run --out "$2.json" -- "$venv/bin/python" "$here/scripts/bench_pipeline_duckdb.py" run "$1" "$day" \
    "$2.csv" > "$2.out" || { cat "$2.out"; exit 1; }
}
published() { # OUT_CSV
  psql "$db_url" -Atc "COPY (SELECT advertiser_id, model, rank, product_id, score, clicks, impressions, views
    FROM recommendations WHERE date = '$day') TO STDOUT WITH (FORMAT csv)" > "$1"
}
# One data shape: adrec and DuckDB alternating, REPEAT times each, answers compared.
shape_runs() { # RAW SHAPE
  for i in $(seq "$repeat"); do
    pipeline "$1" "$work/$2-adrec-$i"
    peer "$1" "$work/$2-duck-$i"
  done
  published "$work/$2-adrec.csv"
  "$venv/bin/python" "$here/scripts/bench_pipeline_duckdb.py" compare "$work/$2-duck-1.csv" \
    "$work/$2-adrec.csv" | tee "$work/$2-compare.out"
}
shape_runs "$raw" uniform
if [ -z "${BENCH_SKIP_ZIPF:-}" ]; then
  zipf=$("$here/scripts/bench-data.sh" 1 zipf)
  shape_runs "$zipf" zipf
fi

# Over S3: s3s-fs serves a folder whose subfolders are buckets; the logs are hard-linked in
# (same file system) or copied once, so the bytes are the same and nothing is re-generated.
if [ -z "${BENCH_SKIP_S3:-}" ]; then
  s3s=$("$here/scripts/s3s-fs.sh")
  s3root="$cache/bench-s3"
  s3pid=
  trap 'kill $s3pid 2>/dev/null || true; rm -rf "$work"' EXIT
  # CPU seconds a process has used so far (user + system).
  proc_cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
  mkdir -p "$s3root/bench/raw"
  for f in advertiser_ids product_views ads_views; do
    [ "$s3root/bench/raw/$f" -ef "$raw/$f" ] || ln -f "$raw/$f" "$s3root/bench/raw/$f" 2>/dev/null \
      || cp "$raw/$f" "$s3root/bench/raw/$f"
  done
  # What a PUT would have stored beside each object: its ETag (the MD5). Without it s3s-fs
  # hashes the whole object on every GET, ranged or not (1 s for the 800 MB log, per 8 MiB range).
  python3 - "$s3root" bench raw advertiser_ids product_views ads_views <<'PY3'
import base64, hashlib, json, os, sys
root, bucket, prefix, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
b64 = lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")
for name in names:
    key = f"{prefix}/{name}"
    info = os.path.join(root, f".bucket-{b64(bucket)}.object-{b64(key)}.internal.json")
    if os.path.exists(info) and os.path.getmtime(info) >= os.path.getmtime(os.path.join(root, bucket, key)):
        continue
    md5 = hashlib.md5()
    with open(os.path.join(root, bucket, key), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            md5.update(chunk)
    with open(info, "w") as f:
        json.dump({"e_tag": md5.hexdigest()}, f)
PY3
  # One server's runs: SERVER_BIN LABEL RUNS. Also records the server's CPU seconds, since on
  # this machine it shares the cores with adrec.
  s3_runs() {
    rm -rf "$s3root/bench/work"
    local port; port=$(free_port)
    "$1" --host 127.0.0.1 --port "$port" --access-key bench --secret-key bench-secret "$s3root" \
      >/dev/null 2>&1 &
    s3pid=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
    for i in $(seq "$3"); do
      new_night
      local before; before=$(proc_cpu "$s3pid")
      AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=bench \
        AWS_SECRET_ACCESS_KEY=bench-secret AWS_EC2_METADATA_DISABLED=true \
        DATABASE_URL="$db_url" RAW_URL="s3://bench/raw/" WORK_URL="s3://bench/work/" RUST_LOG=warn \
        run --out "$work/$2-$i.json" --cgroup-limit "$limit" -- "$ADREC_BIN" run pipeline --date "$day" \
        > "$work/$2-$i.run.json"
      echo "$before $(proc_cpu "$s3pid")" | awk '{print $2 - $1}' > "$work/$2-$i.server-cpu"
    done
    kill "$s3pid"; wait "$s3pid" 2>/dev/null || true
    s3pid=
  }
  s3_runs "$("$here/scripts/s3-bench-server.sh")" s3-bench-server "$repeat"
  # The test suite's server as released, once, for reference.
  s3_runs "$s3s" s3s-fs 1
fi

if [ -z "${BENCH_SKIP_4X:-}" ]; then
  raw4=$("$here/scripts/bench-data.sh" 4)
  pipeline "$raw4" "$work/uniform-adrec-4x"
fi

python3 - "$work" "$repeat" "$bytes" <<'PY'
import json, statistics, sys, os
work, n, nbytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
load = lambda p: json.load(open(os.path.join(work, p)))
med = statistics.median
mib = lambda b: b / 2**20
stages = ["filter_data", "top_ctr", "top_product", "db_writing"]
cat = load("cat.json")["seconds"]

def shape(name):
    if not os.path.exists(os.path.join(work, f"{name}-adrec-1.json")):
        return None
    runs = [load(f"{name}-adrec-{i}.json") for i in range(1, n + 1)]
    for i, r in enumerate(runs, 1):
        if r["exit"] != 0 or r.get("oom_killed"):
            sys.exit(f"adrec run {i} ({name}) failed: {r} (see {work}/{name}-adrec-{i}.run.json)")
    recs = [load(f"{name}-adrec-{i}.run.json") for i in range(1, n + 1)]
    ducks = [load(f"{name}-duck-{i}.json") for i in range(1, n + 1)]
    query = [float(open(os.path.join(work, f"{name}-duck-{i}.out")).read().split("DUCKDB_QUERY_SECONDS=")[1]) for i in range(1, n + 1)]
    adrec, duck = med(r["seconds"] for r in runs), med(d["seconds"] for d in ducks)
    secs = {s: med(r["details"][s]["seconds"] for r in recs) for s in stages}
    f = recs[0]["details"]["filter_data"]
    print(f"== {name}: {open(os.path.join(work, f'{name}-compare.out')).read().strip()}")
    print(f"adrec run pipeline (whole process, {n} runs, median): {adrec:6.2f} s   peak RSS {mib(max(r['max_rss_bytes'] for r in runs)):6.0f} MiB"
          f"   (in a {mib(runs[0]['cgroup_limit_bytes'] or 0):.0f} MiB cgroup: peak {mib(max(r.get('cgroup_peak_bytes') or 0 for r in runs)):.0f} MiB incl. page cache, OOM kills: {sum(bool(r.get('oom_killed')) for r in runs)})")
    print(f"duckdb (whole process, {n} runs, median):             {duck:6.2f} s   peak RSS {mib(max(d['max_rss_bytes'] for d in ducks)):6.0f} MiB   (its query alone: {med(query):.2f} s)")
    verdict = "met" if adrec <= 0.5 * duck else "NOT met"
    print(f"ratio adrec / duckdb: {adrec / duck:.2f}   (target <= 0.50: {verdict})")
    print("by stage (median s): " + "  ".join(f"{s} {secs[s]:.2f}" for s in stages)
          + "  (top_ctr and top_product run side by side; process start, connect, records: "
          + f"{adrec - secs['filter_data'] - max(secs['top_ctr'], secs['top_product']) - secs['db_writing']:.2f})")
    print(f"rows: in {f['rows_in']:,}, kept {f['rows_out']:,}, bad {f['bad_rows']:,}; published {recs[0]['rows_out']:,}")
    print()
    return adrec, runs, recs, secs

uniform = shape("uniform")
adrec, runs, recs, secs = uniform
shape("zipf")
scan = nbytes / secs["filter_data"] / 1e6
print(f"scan (uniform): filter_data reads {nbytes / 1e6:,.0f} MB at {scan:,.0f} MB/s; cat of the same files {cat:.2f} s = {nbytes / cat / 1e6:,.0f} MB/s "
      f"(filter_data takes {secs['filter_data'] / cat:.1f}x cat's time)")
def s3_summary(label, runs_n, target):
    s3 = [load(f"{label}-{i}.json") for i in range(1, runs_n + 1)]
    for i, r in enumerate(s3, 1):
        if r["exit"] != 0 or r.get("oom_killed"):
            sys.exit(f"adrec run {i} over S3 ({label}) failed: {r} (see {work}/{label}-{i}.run.json)")
    s3_recs = [load(f"{label}-{i}.run.json") for i in range(1, runs_n + 1)]
    if [r["rows_out"] for r in s3_recs] != [recs[0]["rows_out"]] * runs_n:
        sys.exit(f"the S3 runs ({label}) published other row counts than the file:// runs")
    t = med(r["seconds"] for r in s3)
    s3f = med(r["details"]["filter_data"]["seconds"] for r in s3_recs)
    cpu = med(r["cpu_seconds"] for r in s3)
    server = med(float(open(os.path.join(work, f"{label}-{i}.server-cpu")).read()) for i in range(1, runs_n + 1))
    verdict = f" (target <= 2x: {'met' if t <= 2 * adrec else 'NOT met'})" if target else ""
    print(f"  {label:<15} {t:6.2f} s (filter_data {s3f:.2f} s), {t / adrec:.2f}x file://{verdict}; "
          f"CPU s: adrec {cpu:.2f}, server {server:.2f}; peak RSS {mib(max(r['max_rss_bytes'] for r in s3)):.0f} MiB")
if os.path.exists(os.path.join(work, "s3-bench-server-1.json")):
    print(f"over S3 (uniform; raw and work in a bucket on loopback, median; file:// used {med(r['cpu_seconds'] for r in runs):.2f} CPU s):")
    s3_summary("s3-bench-server", n, True)
    s3_summary("s3s-fs", 1, False)
    print("  (s3-bench-server, tools/: s3s-fs reading GetObject bodies 1 MiB at a time, the target's run;"
          " s3s-fs 0.14.1 as released, 1 run, for reference)")
if os.path.exists(os.path.join(work, "uniform-adrec-4x.json")):
    big = load("uniform-adrec-4x.json")
    if big["exit"] != 0 or big.get("oom_killed"):
        sys.exit(f"the 4x run failed: {big}")
    one = med(r["max_rss_bytes"] for r in runs)
    print(f"4x larger input (uniform): {big['seconds']:.2f} s, peak RSS {mib(big['max_rss_bytes']):.0f} MiB vs {mib(one):.0f} MiB "
          f"(+{(big['max_rss_bytes'] / one - 1) * 100:.0f}%, target <= +25%: {'met' if big['max_rss_bytes'] <= 1.25 * one else 'NOT met'})")
PY
