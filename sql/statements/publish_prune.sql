-- db_writing, step 4: retention, relative to the date being published ($1): the dates more than
-- $2 days before it go, oldest first and at most $3 of them per run (NULL: no bound, on force).
-- Returns the number of rows and the dates deleted.
WITH old AS (
    SELECT DISTINCT date FROM recommendations
    WHERE date < $1::date - $2::int
    ORDER BY date
    LIMIT $3::bigint
), gone AS (
    DELETE FROM recommendations r USING old WHERE r.date = old.date RETURNING r.date
)
SELECT count(*) AS rows, coalesce(array_agg(DISTINCT date ORDER BY date), '{}') AS dates FROM gone
