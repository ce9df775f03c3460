-- wrk script for scripts/bench-serve.sh: random advertiser (of 1,000) and model per request.
math.randomseed(42)
local models = { "TopCTR", "TopProduct" }
request = function()
  local path = string.format("/recommendations/ADV%04d/%s", math.random(0, 999), models[math.random(1, 2)])
  return wrk.format("GET", path)
end
