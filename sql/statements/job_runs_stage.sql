-- A pipeline's stage finished: the results of its stages so far ($2, jsonb), so that the run shows
-- them while it goes on. Only a running run: a finished one keeps what `finish` recorded.
UPDATE job_runs SET details = $2 WHERE id = $1 AND status = 'running'
