-- db_writing, step 4: retention. Dates more than $1 days before the latest published date go.
DELETE FROM recommendations
WHERE date < (SELECT max(date) FROM recommendations) - $1::int
