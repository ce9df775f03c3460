-- DELETE /jobs/dates/{date}, step 3: the deletion is a finished run of task 'unpublish' for the date
-- ($1 id, $2 date, $3 rows deleted, $4 details), committed with it. Then publish_notify.sql.
INSERT INTO job_runs (id, task, date, status, trigger, started_at, finished_at,
                      rows_in, rows_out, bad_rows, details)
VALUES ($1, 'unpublish', $2, 'succeeded', 'http', now(), now(), $3, 0, 0, $4)
