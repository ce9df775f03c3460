-- db_writing, step 1: drop the date's previous rows (same transaction as the COPY of the new
-- ones: readers see old or new).
DELETE FROM recommendations WHERE date = $1
