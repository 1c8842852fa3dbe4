/**
 * One token bucket, in Lua so that every gateway process shares it without races: refill by the
 * time elapsed (Redis's own clock, so the processes' clocks do not matter), then take `cost`
 * tokens if there are enough. The key expires once the bucket would be full again.
 *
 * KEYS[1] bucket hash {tokens, ts}
 * ARGV[1] capacity (burst), ARGV[2] refill rate in tokens per second, ARGV[3] cost
 * Returns {allowed (1|0), remaining tokens (floored), ms until `cost` tokens are available
 * (0 when allowed), ms until the bucket is full}.
 */
export const TOKEN_BUCKET_LUA = `
local capacity = tonumber(ARGV[1])
local perMs = tonumber(ARGV[2]) / 1000
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * perMs)
  ts = now
end
local allowed = 0
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait = math.ceil((cost - tokens) / perMs)
end
local full = math.ceil((capacity - tokens) / perMs)
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[1], full + 1000)
return {allowed, math.floor(tokens), wait, full}
`;
