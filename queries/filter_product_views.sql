-- filter_data, product views: every row of the day, with its outcome.
--
-- Tables: product_views(advertiser_id, product_id, date), read by the log scan (src/jobs/scan),
--         which has already skipped and counted the blank, badly encoded, malformed (wrong
--         field count, empty id) and badly dated lines, and applies `date = $day` as it reads;
--         active(advertiser_id) (queries/active_advertisers.sql).
-- Params: $day  the logical date.
-- Output: advertiser_id, product_id, date, outcome, where outcome is
--         kept | inactive (not an active advertiser).
SELECT v.advertiser_id, v.product_id, v.date,
       CASE WHEN a.advertiser_id IS NULL THEN 'inactive' ELSE 'kept' END AS outcome
FROM product_views v
LEFT JOIN active a ON a.advertiser_id = v.advertiser_id
WHERE v.date = $day
