-- db_writing, step 2: drop the date's previous rows (same transaction: readers see old or new).
DELETE FROM recommendations WHERE date = $1
