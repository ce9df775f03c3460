-- The last successful run of each task for each date from $1 on: the per-date stage durations
-- and bad rows of /dashboard.
SELECT DISTINCT ON (date, task)
       id, task, date, status, trigger, created_at, started_at, finished_at,
       rows_in, rows_out, bad_rows, details, error, progress, force
FROM job_runs
WHERE status = 'succeeded' AND date >= $1
ORDER BY date, task, finished_at DESC
