-- A running run's process is alive.
UPDATE job_runs SET heartbeat_at = now() WHERE id = $1 AND status = 'running'
