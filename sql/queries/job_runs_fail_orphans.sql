-- At startup: runs left 'running' by a process that died can never finish; say so.
UPDATE job_runs
SET status = 'failed', finished_at = now(),
    error = 'interrupted: the service stopped while this run was in progress; trigger it again'
WHERE status = 'running' AND ($1::uuid[] IS NULL OR id = ANY($1))
RETURNING id
