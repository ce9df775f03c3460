-- pgbench script for scripts/bench-serve.sh: the same read adrec serves, straight to Postgres.
\set a random(0, 999)
\set m random(0, 1)
SELECT r.date, r.rank, r.product_id, r.score, r.clicks, r.impressions, r.views
FROM recommendations r
WHERE r.advertiser_id = 'ADV' || lpad(:a::text, 4, '0')
  AND r.model = (CASE WHEN :m = 0 THEN 'top_ctr' ELSE 'top_product' END)::rec_model
  AND r.date = (SELECT max(date) FROM recommendations)
ORDER BY r.rank;
