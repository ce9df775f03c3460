-- db_writing, after step 4: dates past retention that the per-run bound left for later runs.
SELECT count(DISTINCT date) AS dates FROM recommendations WHERE date < $1::date - $2::int
