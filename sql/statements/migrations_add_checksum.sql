-- adrec migrate, bootstrap: databases migrated by an adrec from before checksums lack the column.
ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text
