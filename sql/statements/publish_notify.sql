-- db_writing, step 5: tell every adrec instance to drop its read cache. $1 is the channel
-- (db::cache::CHANNEL, its one definition), $2 the published date. Delivered only when the
-- transaction commits.
SELECT pg_notify($1, $2)
