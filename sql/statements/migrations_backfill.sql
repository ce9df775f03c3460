-- adrec migrate: a migration applied before checksums were kept gets the checksum of its file
-- as it is now (taken as what was applied).
UPDATE schema_migrations SET checksum = $2 WHERE version = $1 AND checksum IS NULL
