-- adrec migrate: one migrator at a time, across instances (held to the end of the transaction).
SELECT pg_advisory_xact_lock($1)
