-- Start a run ($5: triggered with force). Fails on job_runs_one_running when the same (task, date) is already running.
INSERT INTO job_runs (id, task, date, status, trigger, force, started_at, heartbeat_at)
VALUES ($1, $2, $3, 'running', $4, $5, now(), now())
RETURNING id, task, date, status, trigger, created_at, started_at, finished_at,
          rows_in, rows_out, bad_rows, details, error, progress, force
