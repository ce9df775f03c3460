-- top_ctr: (advertiser, product) pairs with clicks but no impression on the day. Their CTR is
-- undefined, so they are left out of the ranking; the run reports how many.
SELECT count(*) AS pairs, coalesce(sum(clicks), 0) AS clicks
FROM (
    SELECT advertiser_id, product_id,
           count(*) FILTER (WHERE type = 'click')      AS clicks,
           count(*) FILTER (WHERE type = 'impression') AS impressions
    FROM ads_views
    GROUP BY advertiser_id, product_id
) counts
WHERE impressions = 0 AND clicks > 0
