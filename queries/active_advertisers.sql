-- filter_data: the active advertisers. The log scan has already dropped blank lines, trimmed
-- spaces and counted malformed lines.
-- Table: advertiser_ids(advertiser_id). Collected once and registered as `active` for the filter
-- queries.
SELECT DISTINCT advertiser_id
FROM advertiser_ids
