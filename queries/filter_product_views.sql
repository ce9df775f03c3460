-- filter_data, product views: the day's rows as a multiset, each group with its outcome.
--
-- Tables: product_views(advertiser_id, product_id, date, part, advertiser_code), read by the log
--         scan (src/jobs/engine/scan), which has already skipped and counted the blank, badly
--         encoded, malformed (wrong field count, empty id) and badly dated lines, applies
--         `date = $day` as it reads, and looks advertiser_id up in the active list's codes
--         (advertiser_code: NULL for an id that has none);
--         active(code, advertiser_id) (queries/active_advertisers.sql).
-- Params: $day  the logical date.
-- Output: advertiser (the code), product_id, n (how many views), outcome, where outcome is
--         kept | inactive (not an active advertiser).
-- Grouped where the scan read them, as in queries/filter_ads_views.sql: readers sum n.
WITH day AS (
    SELECT part, advertiser_code, product_id, count(*) AS n
    FROM product_views
    WHERE date = $day
    GROUP BY part, advertiser_code, product_id
)
SELECT a.code AS advertiser, d.product_id, d.n,
       CASE WHEN a.code IS NULL THEN 'inactive' ELSE 'kept' END AS outcome
FROM active a
RIGHT JOIN day d ON a.code = d.advertiser_code
