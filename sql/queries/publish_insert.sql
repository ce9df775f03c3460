-- db_writing, step 3: the staged rows become the date's rows.
INSERT INTO recommendations SELECT * FROM recommendations_staging
