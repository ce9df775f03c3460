-- Every published date, newest first, with how many advertisers and rows it serves.
SELECT date, count(DISTINCT advertiser_id)::bigint AS advertisers, count(*)::bigint AS rows
FROM recommendations
GROUP BY date
ORDER BY date DESC
