-- filter_data, ad views: classify every raw line of the day's input files.
--
-- Tables: raw_ads_views(line) (one row per non-header CSV line), active(advertiser_id)
--         (queries/active_advertisers.sql).
-- Params: $day       the logical date, 'YYYY-MM-DD'
--         $partition the hive partition's date when the files come from date=…/ (rows may then
--                    leave the date column out), else NULL
-- Output: advertiser_id, product_id, type, date, outcome, where outcome is
--         kept | inactive (not an active advertiser) | malformed (wrong field count, empty id) |
--         bad_date (unparseable date) | bad_type (a type other than impression or click).
--         Rows of other days are dropped uncounted.

-- Non-blank lines and their field count (commas + 1).
WITH lines AS (
    SELECT line, length(line) - length(replace(line, ',', '')) AS commas
    FROM raw_ads_views
    WHERE trim(line) <> ''
),
fields AS (
    SELECT commas,
           trim(split_part(line, ',', 1)) AS advertiser_id,
           trim(split_part(line, ',', 2)) AS product_id,
           trim(split_part(line, ',', 3)) AS type,
           CASE WHEN commas = 3 THEN trim(split_part(line, ',', 4)) ELSE $partition END AS day
    FROM lines
),
classified AS (
    SELECT f.advertiser_id, f.product_id, f.type, f.day,
           CASE
               WHEN NOT (f.commas = 3 OR (f.commas = 2 AND $partition IS NOT NULL))
                    OR f.advertiser_id = '' OR f.product_id = '' THEN 'malformed'
               WHEN f.day = $day THEN
                   CASE
                       WHEN f.type NOT IN ('impression', 'click') THEN 'bad_type'
                       WHEN a.advertiser_id IS NULL THEN 'inactive'
                       ELSE 'kept'
                   END
               WHEN length(f.day) <> 10 OR try_cast(f.day AS DATE) IS NULL THEN 'bad_date'
               ELSE 'other_day'
           END AS outcome
    FROM fields f
    LEFT JOIN active a ON a.advertiser_id = f.advertiser_id
)
SELECT advertiser_id, product_id, type, try_cast(day AS DATE) AS date, outcome
FROM classified
WHERE outcome <> 'other_day'
