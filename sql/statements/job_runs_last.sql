-- The most recent run of each task.
SELECT DISTINCT ON (task) id, task, date, status, trigger, created_at, started_at, finished_at,
       rows_in, rows_out, bad_rows, details, error, progress, force
FROM job_runs
ORDER BY task, created_at DESC
