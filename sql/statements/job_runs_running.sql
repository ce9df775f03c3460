-- The running run a new run of ($1 task, $2 date) conflicts with, to name it in a 409: the same
-- task, or pipeline and a single stage (job_runs_conflict, V4). The same task first.
SELECT id, task FROM job_runs
WHERE date = $2 AND status = 'running' AND job_runs_conflict(task, $1)
ORDER BY task = $1 DESC, started_at
LIMIT 1
