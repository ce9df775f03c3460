-- adrec migrate: whether migration $1 is applied, and the checksum recorded for it (NULL when an
-- adrec from before checksums applied it).
SELECT checksum FROM schema_migrations WHERE version = $1
