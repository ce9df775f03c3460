-- db_writing: the type of rec_model in this database (an enum's oid differs per database), for
-- the binary COPY's column types.
SELECT NULL::rec_model
