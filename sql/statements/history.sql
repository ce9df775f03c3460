-- One advertiser's recommendations over the $2 days ending at the latest published date,
-- inclusive. The latest date comes back on every row (and alone, with NULLs, when the advertiser
-- has nothing in the window) so the caller can name the window either way.
WITH latest AS (SELECT max(date) AS d FROM recommendations)
SELECT latest.d AS latest, r.date, r.model, r.rank, r.product_id, r.score, r.clicks, r.impressions, r.views
FROM latest
LEFT JOIN recommendations r
       ON r.advertiser_id = $1
      AND r.date > latest.d - $2::int
      AND r.date <= latest.d
ORDER BY r.date DESC, r.model, r.rank
