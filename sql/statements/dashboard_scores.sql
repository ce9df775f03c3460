-- The scores served on date $1, per model: each distinct score and how many rows carry it, for
-- the score histograms of /dashboard and /metrics (distinct scores are far fewer than rows).
SELECT model, score, count(*)::bigint AS n
FROM recommendations
WHERE date = $1
GROUP BY model, score
ORDER BY model, score
