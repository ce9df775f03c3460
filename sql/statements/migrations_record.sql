-- adrec migrate: migration ($1 version, $2 name) was applied, from SQL whose checksum is $3.
INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)
