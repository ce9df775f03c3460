-- filter_data, ad views: the day's rows as a multiset, each group with its outcome.
--
-- Tables: ads_views(advertiser_id, product_id, type, date, part, n, advertiser_code), read by
--         the log scan (src/jobs/engine/scan), which has already skipped and counted the blank,
--         badly encoded, malformed (wrong field count, empty id) and badly dated lines, applies
--         `date = $day` as it reads, and looks advertiser_id up in the active list's codes
--         (advertiser_code: NULL for an id that has none). Reading `n`, the scan combines a
--         partition's identical rows into one counting them, not always fully: sum(n), not
--         count(*), counts the events;
--         active(code, advertiser_id) (queries/active_advertisers.sql).
-- Params: $day  the logical date.
-- Output: advertiser (the code), product_id, type, n (how many events), outcome, where outcome is
--         kept | inactive (not an active advertiser) | bad_type (a type other than impression
--         or click).
-- The rows are grouped where the scan read them (`part`: the scan is hash partitioned on it), so
-- no row moves between threads or executors: a group may appear once per scan partition, and
-- readers sum n.
WITH day AS (
    SELECT part, advertiser_code, product_id, type, sum(n) AS n
    FROM ads_views
    WHERE date = $day
    GROUP BY part, advertiser_code, product_id, type
)
SELECT a.code AS advertiser, d.product_id, d.type, d.n,
       CASE
           WHEN d.type NOT IN ('impression', 'click') THEN 'bad_type'
           WHEN a.code IS NULL THEN 'inactive'
           ELSE 'kept'
       END AS outcome
FROM active a
RIGHT JOIN day d ON a.code = d.advertiser_code
