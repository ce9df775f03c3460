-- The unmanifested files of an interrupted run were deleted: how many ($2), in its details.
UPDATE job_runs
SET details = CASE WHEN jsonb_typeof(details) = 'object' THEN details ELSE '{}' END
              || jsonb_build_object('swept_files', $2::int)
WHERE id = $1
