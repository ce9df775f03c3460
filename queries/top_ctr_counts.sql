-- top_ctr: clicks and impressions per (advertiser, product) on the day. Computed once and
-- registered as `ctr_counts` for queries/top_ctr.sql and queries/top_ctr_excluded.sql.
--
-- Table:  ads_views(advertiser, product_id, type, n), the day's filtered ad events as a
--         multiset (advertiser is a code; n events per row, a group possibly in several rows).
SELECT advertiser, product_id,
       coalesce(sum(n) FILTER (WHERE type = 'click'), 0)      AS clicks,
       coalesce(sum(n) FILTER (WHERE type = 'impression'), 0) AS impressions
FROM ads_views
GROUP BY advertiser, product_id
