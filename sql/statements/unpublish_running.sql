-- DELETE /jobs/dates/{date}, step 1: a run that would publish the date ($1) again when it commits;
-- the deletion is refused (409) while one runs.
SELECT id, task FROM job_runs
WHERE task IN ('db_writing', 'pipeline') AND date = $1 AND status = 'running'
LIMIT 1
