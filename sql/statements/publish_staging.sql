-- db_writing, step 1: a private staging table shaped like the served table, with its defaults and
-- CHECK constraints but no indexes (the COPY into it stays cheap; the served table's primary
-- key still refuses duplicates in step 3).
CREATE TEMP TABLE recommendations_staging
    (LIKE recommendations INCLUDING DEFAULTS INCLUDING CONSTRAINTS) ON COMMIT DROP
