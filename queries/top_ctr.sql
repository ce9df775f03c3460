-- top_ctr: per advertiser, the 20 products with the best click-through rate on the day.
--
-- Table:  ctr_counts(advertiser_id, product_id, clicks, impressions) (queries/top_ctr_counts.sql).
-- Output: advertiser_id, product_id, rank (1..20), ctr, clicks, impressions.
-- Only products with at least one impression are ranked (ctr = clicks / impressions); ties are
-- broken by clicks desc, then impressions asc, then product_id asc, so the order is total.
WITH ranked AS (
    SELECT advertiser_id, product_id, clicks, impressions,
           CAST(clicks AS DOUBLE) / CAST(impressions AS DOUBLE) AS ctr,
           row_number() OVER (
               PARTITION BY advertiser_id
               ORDER BY CAST(clicks AS DOUBLE) / CAST(impressions AS DOUBLE) DESC,
                        clicks DESC, impressions ASC, product_id ASC
           ) AS rank
    FROM ctr_counts
    WHERE impressions > 0
)
SELECT advertiser_id, product_id, CAST(rank AS BIGINT) AS rank, ctr, clicks, impressions
FROM ranked
WHERE rank <= 20
ORDER BY advertiser_id, rank
