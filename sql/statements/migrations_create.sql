-- adrec migrate, bootstrap: the record of applied migrations, with each one's checksum (sha256
-- of its file) so that an applied migration edited afterwards is refused.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    checksum   text
)
