-- The running run of a (task, date), to name it in a 409.
SELECT id FROM job_runs WHERE task = $1 AND date = $2 AND status = 'running'
