-- Runs interrupted by a shutdown or a crash whose files have not been swept yet, failed at least
-- $1 seconds ago (by then the process that ran them has exited and writes nothing more).
SELECT id, task, date FROM job_runs
WHERE status = 'failed' AND error LIKE 'interrupted:%' AND NOT details ? 'swept_files'
  AND finished_at < now() - make_interval(secs => $1::int)
ORDER BY finished_at
LIMIT 100
