-- The last successful run of each task for each date from $1 on: the per-date stage durations
-- and bad rows of /dashboard.
SELECT DISTINCT ON (date, task)
       task, date, status, started_at, finished_at, rows_in, rows_out, bad_rows, details, error
FROM job_runs
WHERE status = 'succeeded' AND date >= $1
ORDER BY date, task, finished_at DESC
