-- filter_data, product views: the day's rows as a multiset, each group with its outcome.
--
-- Tables: product_views(advertiser_id, product_id, date, part, n, advertiser_code), read by the
--         log scan (src/jobs/engine/scan), as in queries/filter_ads_views.sql: bad lines skipped
--         and counted, the day kept, advertisers coded, a partition's identical rows combined
--         (sum(n) counts the views);
--         active(code, advertiser_id) (queries/active_advertisers.sql).
-- Params: $day  the logical date.
-- Output: advertiser (the code), product_id, n (how many views), outcome, where outcome is
--         kept | inactive (not an active advertiser).
-- Grouped where the scan read them, as in queries/filter_ads_views.sql: readers sum n.
WITH day AS (
    SELECT part, advertiser_code, product_id, sum(n) AS n
    FROM product_views
    WHERE date = $day
    GROUP BY part, advertiser_code, product_id
)
SELECT a.code AS advertiser, d.product_id, d.n,
       CASE WHEN a.code IS NULL THEN 'inactive' ELSE 'kept' END AS outcome
FROM active a
RIGHT JOIN day d ON a.code = d.advertiser_code
