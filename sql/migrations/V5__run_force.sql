-- adrec schema v5: whether a run was triggered with force (db_writing may then publish a date far
-- from the latest and prune past RETENTION_MAX_PRUNE_DATES). Numbered 5, not 4, so that it never
-- collides with a V4 from another branch; versions are applied in list order, gaps allowed.
ALTER TABLE job_runs ADD COLUMN force boolean NOT NULL DEFAULT false;
