-- Mamori rate limits: GCRA as a continuous-state leaky bucket. This is
-- step() of gcra.go in Lua; store_test.go runs one table against both.
--
-- KEYS[i]  bucket keys; the caller puts them in one hash slot (Cluster).
-- ARGV[1]  mode: "take", "peek" or "refund".
-- ARGV[3i-1], ARGV[3i], ARGV[3i+1]  burst, interval (microseconds per
--          unit), cost of key i.
-- A key holds "<level> <last>": units not yet drained, and when it was
-- written (microseconds since the epoch, from this server's clock, so that
-- every Mamori instance shares one clock).
-- Returns {all_allowed, then per key: allowed, remaining, retry_after_us,
-- reset_after_us}. Take writes nothing unless every key allowed.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local mode = ARGV[1]
local eps = 1e-9
local out = {1}
local nexts = {}
for i = 1, #KEYS do
  local burst = tonumber(ARGV[3 * i - 1])
  local interval = tonumber(ARGV[3 * i])
  local cost = tonumber(ARGV[3 * i + 1])
  local level = 0
  local v = redis.call('GET', KEYS[i])
  if v then
    local l, last = string.match(v, '^(%S+) (%S+)$')
    l, last = tonumber(l), tonumber(last)
    if l and last then
      local elapsed = now - last
      if elapsed < 0 then elapsed = 0 end
      level = math.max(0, l - elapsed / interval)
    end
  end
  local allowed, retry, nxt = 1, 0, level
  if mode == 'refund' then
    nxt = math.max(0, level - cost)
  elseif level + cost <= burst + eps then
    nxt = level + cost
  else
    allowed, retry = 0, math.ceil((level + cost - burst) * interval)
    out[1] = 0
  end
  local remaining = math.floor(burst - nxt + eps)
  if remaining < 0 then remaining = 0 end
  nexts[i] = nxt
  local n = #out
  out[n + 1], out[n + 2], out[n + 3], out[n + 4] = allowed, remaining, retry, math.ceil(nxt * interval)
end
if mode == 'peek' or (mode == 'take' and out[1] == 0) then
  return out
end
for i = 1, #KEYS do
  if nexts[i] <= 0 then
    redis.call('DEL', KEYS[i])
  else
    local ms = math.ceil(out[4 * i + 1] / 1000)
    if ms < 1 then ms = 1 end
    redis.call('SET', KEYS[i], string.format('%.17g %d', nexts[i], now), 'PX', ms)
  end
end
return out
