-- The latest published date (NULL when nothing is published): one probe of recommendations_date_idx.
SELECT max(date) AS latest FROM recommendations
