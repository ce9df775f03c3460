-- filter_data, ad views: the day's rows as a multiset, each row with its outcome.
--
-- Tables: ads_views(advertiser_id, product_id, type, date, part, n, advertiser_code), read by
--         the log scan (src/jobs/engine/scan), which has already skipped and counted the blank,
--         badly encoded, malformed (wrong field count, empty id) and badly dated lines, applies
--         `date = $day` as it reads, and looks advertiser_id up in the active list's codes
--         (advertiser_code: NULL for an id that has none). Reading `n`, the scan combines each
--         partition's identical rows into one counting them (n events), in a bounded table
--         that emits when full: a group may appear in several rows, and readers sum n;
--         active(code, advertiser_id) (queries/active_advertisers.sql).
-- Params: $day  the logical date.
-- Output: advertiser (the code), product_id, type, n (how many events), outcome, where outcome is
--         kept | inactive (not an active advertiser) | bad_type (a type other than impression
--         or click).
-- No GROUP BY: the scan has grouped the rows where it read them, and a second aggregate here
-- measured slower and larger (it only merged the few groups a full table had emitted twice).
SELECT a.code AS advertiser, d.product_id, d.type, d.n,
       CASE
           WHEN d.type NOT IN ('impression', 'click') THEN 'bad_type'
           WHEN a.code IS NULL THEN 'inactive'
           ELSE 'kept'
       END AS outcome
FROM active a
RIGHT JOIN ads_views d ON a.code = d.advertiser_code
WHERE d.date = $day
