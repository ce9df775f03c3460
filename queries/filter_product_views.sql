-- filter_data, product views: the day's rows as a multiset, each row with its outcome.
--
-- Tables: product_views(advertiser_id, product_id, date, part, n, advertiser_code), read by the
--         log scan (src/jobs/engine/scan), as in queries/filter_ads_views.sql: bad lines skipped
--         and counted, the day kept, advertisers coded, each partition's identical rows combined
--         (a group may appear in several rows: readers sum n);
--         active(code, advertiser_id) (queries/active_advertisers.sql).
-- Params: $day  the logical date.
-- Output: advertiser (the code), product_id, n (how many views), outcome, where outcome is
--         kept | inactive (not an active advertiser).
-- No GROUP BY, as in queries/filter_ads_views.sql: the scan has grouped the rows.
SELECT a.code AS advertiser, d.product_id, d.n,
       CASE WHEN a.code IS NULL THEN 'inactive' ELSE 'kept' END AS outcome
FROM active a
RIGHT JOIN product_views d ON a.code = d.advertiser_code
WHERE d.date = $day
