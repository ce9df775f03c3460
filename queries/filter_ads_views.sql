-- filter_data, ad views: every row of the day, with its outcome.
--
-- Tables: ads_views(advertiser_id, product_id, type, date), read by the log scan (src/jobs/scan),
--         which has already skipped and counted the blank, badly encoded, malformed (wrong
--         field count, empty id) and badly dated lines, and applies `date = $day` as it reads;
--         active(advertiser_id) (queries/active_advertisers.sql).
-- Params: $day  the logical date.
-- Output: advertiser_id, product_id, type, date, outcome, where outcome is
--         kept | inactive (not an active advertiser) | bad_type (a type other than impression
--         or click).
SELECT v.advertiser_id, v.product_id, v.type, v.date,
       CASE
           WHEN v.type NOT IN ('impression', 'click') THEN 'bad_type'
           WHEN a.advertiser_id IS NULL THEN 'inactive'
           ELSE 'kept'
       END AS outcome
FROM ads_views v
LEFT JOIN active a ON a.advertiser_id = v.advertiser_id
WHERE v.date = $day
