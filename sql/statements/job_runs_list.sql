-- Runs, newest first, optionally for one task and/or one date.
SELECT id, task, date, status, trigger, created_at, started_at, finished_at,
       rows_in, rows_out, bad_rows, details, error, progress, force
FROM job_runs
WHERE ($1::text IS NULL OR task = $1)
  AND ($2::date IS NULL OR date = $2)
ORDER BY created_at DESC
LIMIT $3
