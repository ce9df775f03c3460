-- adrec schema v2: runs prove they are alive, so a dead process's runs are found by any instance
-- (not by failing every running run at startup, which would also fail other instances' runs).
ALTER TABLE job_runs ADD COLUMN heartbeat_at timestamptz;
CREATE INDEX job_runs_running ON job_runs (heartbeat_at) WHERE status = 'running';
