-- db_writing, step 0: the latest published date, which a new date is judged against.
SELECT max(date) AS latest FROM recommendations
