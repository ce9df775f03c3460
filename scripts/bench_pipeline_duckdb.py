"""The peer for `make bench-pipeline`: DuckDB computing adrec's answer for one day from the same
raw CSV files, then (in another process, not timed) the comparison with what adrec published.

    bench_pipeline_duckdb.py run RAW_DIR DATE OUT_CSV      # the timed process
    bench_pipeline_duckdb.py compare DUCK_CSV ADREC_CSV    # exit 1 if the answers differ

`run` is timed as a whole process, as adrec's `run pipeline` is: interpreter start-up, the
import, the query, and the answer written out (adrec's goes to Postgres). It also prints the
query's own time (connect to fetched rows). Rows DuckDB cannot parse (wrong field count) are
skipped with ignore_errors, as adrec skips them; bad dates and types fall out of the WHERE
clauses.
"""
import csv
import sys
import time


QUERY = """
WITH active AS (
    SELECT DISTINCT trim(advertiser_id) AS advertiser_id
    FROM read_csv('{raw}/advertiser_ids', header = true, columns = {{'advertiser_id': 'VARCHAR'}})
),
ads AS (
    SELECT v.advertiser_id, v.product_id, v.type
    FROM read_csv('{raw}/ads_views', header = true, ignore_errors = true,
                  columns = {{'advertiser_id': 'VARCHAR', 'product_id': 'VARCHAR', 'type': 'VARCHAR', 'date': 'VARCHAR'}}) v
    JOIN active USING (advertiser_id)
    WHERE v.date = '{day}' AND v.type IN ('impression', 'click')
),
views AS (
    SELECT v.advertiser_id, v.product_id
    FROM read_csv('{raw}/product_views', header = true, ignore_errors = true,
                  columns = {{'advertiser_id': 'VARCHAR', 'product_id': 'VARCHAR', 'date': 'VARCHAR'}}) v
    JOIN active USING (advertiser_id)
    WHERE v.date = '{day}'
),
ctr_counts AS (
    SELECT advertiser_id, product_id,
           count(*) FILTER (WHERE type = 'click') AS clicks,
           count(*) FILTER (WHERE type = 'impression') AS impressions
    FROM ads GROUP BY ALL
),
top_ctr AS (
    SELECT advertiser_id, 'top_ctr' AS model, product_id, clicks::DOUBLE / impressions AS score,
           clicks, impressions, NULL::BIGINT AS views,
           row_number() OVER (PARTITION BY advertiser_id ORDER BY clicks::DOUBLE / impressions DESC,
                                clicks DESC, impressions ASC, product_id ASC) AS rank
    FROM ctr_counts WHERE impressions > 0
    QUALIFY rank <= 20
),
top_product AS (
    SELECT advertiser_id, 'top_product' AS model, product_id, count(*)::DOUBLE AS score,
           NULL::BIGINT AS clicks, NULL::BIGINT AS impressions, count(*) AS views,
           row_number() OVER (PARTITION BY advertiser_id ORDER BY count(*) DESC, product_id ASC) AS rank
    FROM views GROUP BY advertiser_id, product_id
    QUALIFY rank <= 20
)
SELECT advertiser_id, model, rank, product_id, score, clicks, impressions, views FROM top_ctr
UNION ALL
SELECT advertiser_id, model, rank, product_id, score, clicks, impressions, views FROM top_product
"""


def norm(r):
    adv, model, rank, product, score, clicks, imps, views = r
    opt = lambda v: None if v in (None, "") else int(v)
    return (adv, model, int(rank), product, round(float(score), 12), opt(clicks), opt(imps), opt(views))


def run(raw, day, out):
    import duckdb

    start = time.perf_counter()
    con = duckdb.connect()
    rows = con.execute(QUERY.format(raw=raw, day=day)).fetchall()
    seconds = time.perf_counter() - start
    with open(out, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    print(f"duckdb {duckdb.__version__}: query {seconds:.2f} s, {len(rows)} rows")
    print(f"DUCKDB_QUERY_SECONDS={seconds:.3f}")


def compare(duck_csv, adrec_csv):
    read = lambda p: sorted(norm(r) for r in csv.reader(open(p, newline="")))
    duck, ours = read(duck_csv), read(adrec_csv)
    if duck != ours:
        diff = [a for a in duck if a not in set(ours)][:5]
        print(f"ANSWERS DIFFER: adrec {len(ours)} rows, duckdb {len(duck)}; e.g. only in duckdb: {diff}")
        sys.exit(1)
    print(f"answers identical: {len(ours)} rows")


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(*sys.argv[2:5])
    else:
        compare(*sys.argv[2:4])
