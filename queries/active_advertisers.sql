-- filter_data: the active advertisers, each with a dense code (0, 1, 2, … in id order). The log
-- scans look the codes up as they parse, so the filter and the models group, join and rank on
-- 4-byte integers, not 20-byte ids; the codes are kept with the filtered output (its
-- `advertisers` table), where the models name their ranked rows from them.
--
-- Table: advertiser_ids(advertiser_id, part), read by the log scan, which has already dropped
--        blank lines, trimmed spaces and counted malformed lines.
-- Output: code, advertiser_id.
SELECT CAST(row_number() OVER (ORDER BY advertiser_id) - 1 AS INT) AS code, advertiser_id
FROM (SELECT DISTINCT advertiser_id FROM advertiser_ids)
