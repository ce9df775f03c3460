-- Per task: its last finished run, and when a run of it last succeeded. /metrics reads this
-- (not the process's own counters) for the gauges people alert on, so they survive restarts
-- and agree across instances.
SELECT DISTINCT ON (task)
       id, task, date, status, trigger, created_at, started_at, finished_at,
       rows_in, rows_out, bad_rows, details, error, progress, force,
       max(finished_at) FILTER (WHERE status = 'succeeded') OVER (PARTITION BY task) AS last_success
FROM job_runs
WHERE status <> 'running'
ORDER BY task, finished_at DESC
