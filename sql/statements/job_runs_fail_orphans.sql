-- Runs that can never finish, marked failed: the given ones (this process is shutting down), or,
-- with $1 NULL, every running run whose process stopped beating (it died) for $2 seconds. Returns
-- each run, so that the files it wrote can be swept.
UPDATE job_runs
SET status = 'failed', finished_at = now(),
    error = 'interrupted: the service stopped while this run was in progress; trigger it again'
WHERE status = 'running'
  AND CASE WHEN $1::uuid[] IS NULL
           THEN heartbeat_at IS NULL OR heartbeat_at < now() - make_interval(secs => $2::int)
           ELSE id = ANY($1)
      END
RETURNING id, task, date
