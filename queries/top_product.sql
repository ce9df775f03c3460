-- top_product: per advertiser, the 20 most viewed products on the day.
--
-- Table:  product_views(advertiser_id, product_id, date), the day's filtered page views.
-- Output: advertiser_id, product_id, rank (1..20), views. Ties: product_id asc.
WITH views AS (
    SELECT advertiser_id, product_id, count(*) AS views
    FROM product_views
    GROUP BY advertiser_id, product_id
),
ranked AS (
    SELECT advertiser_id, product_id, views,
           row_number() OVER (PARTITION BY advertiser_id ORDER BY views DESC, product_id ASC) AS rank
    FROM views
)
SELECT advertiser_id, product_id, CAST(rank AS BIGINT) AS rank, views
FROM ranked
WHERE rank <= 20
ORDER BY advertiser_id, rank
