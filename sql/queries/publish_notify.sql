-- db_writing, step 5: tell every adrec instance (LISTEN adrec_published) to drop its read cache.
-- Delivered only when the transaction commits.
SELECT pg_notify('adrec_published', $1)
