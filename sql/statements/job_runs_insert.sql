-- Start a run ($5: triggered with force). Fails when a conflicting run is under way: the same
-- (task, date) on the unique index job_runs_one_running (V1), or pipeline and a single stage of
-- the same date on the trigger job_runs_date_exclusive (V4).
INSERT INTO job_runs (id, task, date, status, trigger, force, started_at, heartbeat_at)
VALUES ($1, $2, $3, 'running', $4, $5, now(), now())
RETURNING id, task, date, status, trigger, created_at, started_at, finished_at,
          rows_in, rows_out, bad_rows, details, error, progress, force
