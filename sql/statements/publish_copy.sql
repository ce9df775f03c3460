-- db_writing, after step 1: the day's rows into the staging table by binary COPY (column types
-- from publish_copy_types.sql).
COPY recommendations_staging
    (date, advertiser_id, model, rank, product_id, score, clicks, impressions, views)
FROM STDIN (FORMAT binary)
