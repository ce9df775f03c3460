-- A running run's process is alive; $2 is how far the run has got (jsonb, may be NULL).
UPDATE job_runs SET heartbeat_at = now(), progress = $2 WHERE id = $1 AND status = 'running'
