-- db_writing, step 1: a private staging table shaped (and constrained) like the served table.
CREATE TEMP TABLE recommendations_staging (LIKE recommendations INCLUDING ALL) ON COMMIT DROP
