-- adrec schema v6: the pipeline/stage exclusion (V4's trigger) fails with unique_violation, as the
-- one-running-run index (job_runs_one_running, V1) does, instead of exclusion_violation. Every
-- adrec version answers a unique_violation on a run's insert with 409 (a run is under way); one
-- from before V4, still serving during a rolling deploy, knew nothing of exclusion_violation and
-- answered 500. The rule itself is unchanged (job_runs_conflict, V4).
CREATE OR REPLACE FUNCTION job_runs_date_exclusive() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    other uuid;
BEGIN
    -- 0x00AD_0004: adrec's key space for these locks; the second key is the date.
    PERFORM pg_advisory_xact_lock(11337732, NEW.date - DATE '2000-01-01');
    SELECT id INTO other FROM job_runs
     WHERE date = NEW.date AND status = 'running' AND id <> NEW.id
       AND job_runs_conflict(task, NEW.task)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'job run % for % conflicts with running run %', NEW.task, NEW.date, other
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'job_runs_date_exclusive';
    END IF;
    RETURN NEW;
END
$$;
