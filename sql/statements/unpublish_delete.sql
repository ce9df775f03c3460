-- DELETE /jobs/dates/{date}, step 2: the date's served rows go ($1). Returns how many, of how many
-- advertisers, per model (no rows: the date was not published, and the transaction is rolled back).
WITH gone AS (
    DELETE FROM recommendations WHERE date = $1 RETURNING advertiser_id, model
)
SELECT count(*) AS rows, count(DISTINCT advertiser_id) AS advertisers,
       count(*) FILTER (WHERE model = 'top_ctr') AS top_ctr,
       count(*) FILTER (WHERE model = 'top_product') AS top_product
FROM gone
