-- Record a run's outcome. Only a running run can finish: a run already failed by a restart stays so.
UPDATE job_runs
SET status = $2, finished_at = now(), rows_in = $3, rows_out = $4, bad_rows = $5, details = $6, error = $7
WHERE id = $1 AND status = 'running'
