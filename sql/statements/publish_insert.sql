-- db_writing, step 3: the staged rows become the date's rows. In primary-key order, so the
-- index is filled front to back (measured: a third faster than in COPY order for 40k rows).
INSERT INTO recommendations
SELECT * FROM recommendations_staging
ORDER BY advertiser_id, model, date, rank
