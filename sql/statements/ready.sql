-- GET /readyz: the database answers.
SELECT 1
