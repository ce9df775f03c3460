-- top_ctr: (advertiser, product) pairs with clicks but no impression on the day. Their CTR is
-- undefined, so they are left out of the ranking; the run reports how many.
--
-- Table:  ctr_counts(advertiser_id, product_id, clicks, impressions) (queries/top_ctr_counts.sql).
SELECT count(*) AS pairs, coalesce(sum(clicks), 0) AS clicks
FROM ctr_counts
WHERE impressions = 0 AND clicks > 0
