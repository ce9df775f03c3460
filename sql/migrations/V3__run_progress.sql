-- adrec schema v3: a running run's progress (stage, bytes scanned of total), stored with each
-- heartbeat so that any instance can show it.
ALTER TABLE job_runs ADD COLUMN progress jsonb;
