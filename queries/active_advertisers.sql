-- filter_data: the active advertisers, from the raw list (blank lines and stray spaces ignored).
-- Table: raw_advertiser_ids(line). Registered as the view `active` for the filter queries.
SELECT DISTINCT trim(line) AS advertiser_id
FROM raw_advertiser_ids
WHERE trim(line) <> ''
