-- top_ctr: clicks and impressions per (advertiser, product) on the day. Computed once and
-- registered as `ctr_counts` for queries/top_ctr.sql and queries/top_ctr_excluded.sql.
--
-- Table:  ads_views(advertiser_id, product_id, type, date), the day's filtered ad events.
SELECT advertiser_id, product_id,
       count(*) FILTER (WHERE type = 'click')      AS clicks,
       count(*) FILTER (WHERE type = 'impression') AS impressions
FROM ads_views
GROUP BY advertiser_id, product_id
