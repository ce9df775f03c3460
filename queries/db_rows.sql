-- db_writing: both models' outputs in the shape of the served `recommendations` table
-- (the date is added on load).
--
-- Tables: top_ctr(advertiser_id, product_id, rank, ctr, clicks, impressions),
--         top_product(advertiser_id, product_id, rank, views).
SELECT advertiser_id, 'top_ctr' AS model, rank, product_id,
       ctr AS score, clicks, impressions, CAST(NULL AS BIGINT) AS views
FROM top_ctr
UNION ALL
SELECT advertiser_id, 'top_product' AS model, rank, product_id,
       CAST(views AS DOUBLE) AS score, CAST(NULL AS BIGINT) AS clicks, CAST(NULL AS BIGINT) AS impressions, views
FROM top_product
