-- Which advertisers' recommendations changed most from date $2 (previous) to $1 (latest), over
-- both models: products added, products dropped, and the Jaccard index of the two days' sets.
WITH today AS (
    SELECT advertiser_id, model, product_id FROM recommendations WHERE date = $1
), before AS (
    SELECT advertiser_id, model, product_id FROM recommendations WHERE date = $2
), per_adv AS (
    SELECT advertiser_id,
           count(*) FILTER (WHERE b.product_id IS NULL)::bigint AS added,
           count(*) FILTER (WHERE t.product_id IS NULL)::bigint AS removed,
           count(*) FILTER (WHERE t.product_id IS NOT NULL AND b.product_id IS NOT NULL)::bigint AS kept,
           count(*)::bigint AS union_size
    FROM today t
    FULL JOIN before b USING (advertiser_id, model, product_id)
    GROUP BY advertiser_id
)
SELECT advertiser_id, added, removed, kept, union_size
FROM per_adv
ORDER BY added + removed DESC, advertiser_id
LIMIT $3
