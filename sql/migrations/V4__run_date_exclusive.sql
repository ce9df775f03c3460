-- adrec schema v4: `pipeline` and a single stage must not run for the same date at once (each
-- deletes and rewrites that date's outputs, so they would delete each other's files). Two
-- different stages of one date may (top_ctr and top_product run side by side), and the same
-- task twice may not (job_runs_one_running, V1).

-- Whether two tasks exclude each other when they run for the same date: the one definition of
-- the rule, used here and by sql/queries/job_runs_running.sql to name the run a 409 points at.
CREATE FUNCTION job_runs_conflict(a text, b text) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT a = b OR (a = 'pipeline') <> (b = 'pipeline') $$;

-- A unique index cannot say this (pipeline excludes every stage, the stages do not exclude one
-- another), and an exclusion constraint would need the btree_gist extension, so a trigger does:
-- it takes a lock per date (held to the end of the inserting transaction), then looks for a
-- conflicting running run. PL/pgSQL takes a fresh snapshot for each query, so an insert that
-- waited for the lock sees the run whose insert it waited for. Fails with exclusion_violation,
-- which runs::insert answers like the unique index's violation: 409 naming the running run.
CREATE FUNCTION job_runs_date_exclusive() RETURNS trigger
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
            USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'job_runs_date_exclusive';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER job_runs_date_exclusive
    BEFORE INSERT ON job_runs
    FOR EACH ROW WHEN (NEW.status = 'running')
    EXECUTE FUNCTION job_runs_date_exclusive();
