-- How much the two models agree, per advertiser, on date $1: the products both recommend
-- (overlap) and the Jaccard index |ctr ∩ product| / |ctr ∪ product|.
WITH ctr AS (
    SELECT advertiser_id, product_id FROM recommendations WHERE date = $1 AND model = 'top_ctr'
), product AS (
    SELECT advertiser_id, product_id FROM recommendations WHERE date = $1 AND model = 'top_product'
)
SELECT advertiser_id,
       count(*) FILTER (WHERE c.product_id IS NOT NULL AND p.product_id IS NOT NULL)::bigint AS overlap,
       count(*)::bigint AS union_size
FROM ctr c
FULL JOIN product p USING (advertiser_id, product_id)
GROUP BY advertiser_id
ORDER BY advertiser_id
