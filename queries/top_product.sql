-- top_product: per advertiser, the 20 most viewed products on the day.
--
-- Tables: product_views(advertiser, product_id, n), the day's filtered page views as a multiset
--         (advertiser is a code; n views per row, a group possibly in several rows);
--         advertisers(code, advertiser_id), the codes of the filtered output read.
-- Output: advertiser_id, product_id, rank (1..20), views. Ties: product_id asc. The ranking is
-- by code; only the ranked rows are named.
WITH views AS (
    SELECT advertiser, product_id, sum(n) AS views
    FROM product_views
    GROUP BY advertiser, product_id
),
ranked AS (
    SELECT advertiser, product_id, views,
           row_number() OVER (PARTITION BY advertiser ORDER BY views DESC, product_id ASC) AS rank
    FROM views
),
top AS (
    SELECT * FROM ranked WHERE rank <= 20
)
SELECT a.advertiser_id, t.product_id, CAST(t.rank AS BIGINT) AS rank, t.views
FROM top t
JOIN advertisers a ON a.code = t.advertiser
ORDER BY a.advertiser_id, rank
