-- top_ctr: per advertiser, the 20 products with the best click-through rate on the day.
--
-- Tables: ctr_counts(advertiser, product_id, clicks, impressions) (queries/top_ctr_counts.sql);
--         advertisers(code, advertiser_id), the codes of the filtered output read.
-- Output: advertiser_id, product_id, rank (1..20), ctr, clicks, impressions.
-- Only products with at least one impression are ranked (ctr = clicks / impressions); ties are
-- broken by clicks desc, then impressions asc, then product_id asc, so the order is total. The
-- ranking is by code; only the ranked rows are named.
WITH ranked AS (
    SELECT advertiser, product_id, clicks, impressions,
           CAST(clicks AS DOUBLE) / CAST(impressions AS DOUBLE) AS ctr,
           row_number() OVER (
               PARTITION BY advertiser
               ORDER BY CAST(clicks AS DOUBLE) / CAST(impressions AS DOUBLE) DESC,
                        clicks DESC, impressions ASC, product_id ASC
           ) AS rank
    FROM ctr_counts
    WHERE impressions > 0
),
top AS (
    SELECT * FROM ranked WHERE rank <= 20
)
SELECT a.advertiser_id, t.product_id, CAST(t.rank AS BIGINT) AS rank, t.ctr, t.clicks,
       t.impressions
FROM top t
JOIN advertisers a ON a.code = t.advertiser
ORDER BY a.advertiser_id, rank
