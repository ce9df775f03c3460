-- One advertiser's ranked list for one model on one date: the given one ($3) or, when $3 is NULL,
-- the latest published date (a date is published once it has rows). COALESCE skips the max()
-- init-plan entirely when a date is given.
SELECT r.date, r.rank, r.product_id, r.score, r.clicks, r.impressions, r.views
FROM recommendations r
WHERE r.advertiser_id = $1
  AND r.model = $2
  AND r.date = COALESCE($3::date, (SELECT max(date) FROM recommendations))
ORDER BY r.rank
