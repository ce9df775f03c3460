-- db_writing, step 2: the day's rows straight into the served table by binary COPY (column types
-- from publish_copy_types.sql), after step 1 deleted the date's previous ones in the same
-- transaction (readers see the old rows or the new, never a mix). A duplicate key or a rank out
-- of range fails the COPY and the transaction.
COPY recommendations
    (date, advertiser_id, model, rank, product_id, score, clicks, impressions, views)
FROM STDIN (FORMAT binary)
