/**
 * Applies one lifecycle event to a job's live state. Lua because several tracker instances consume
 * the same events in parallel: the compare-and-set on `seq` (apply only if newer), the log append,
 * the TTLs and the PUBLISH must happen as one atomic step, with no "read, then write" race.
 *
 * KEYS[1] live hash, KEYS[2] event log (zset scored by seq)
 * ARGV[1] seq, ARGV[2] StoredJobEvent JSON, ARGV[3] TTL seconds, ARGV[4] max events kept,
 * ARGV[5] channel, ARGV[6] n = number of hash fields to set, ARGV[7 .. 6+2n] field/value pairs,
 * ARGV[7+2n ..] hash fields to remove (optional fields the event does not carry).
 * Returns 1 when the live state advanced, 0 when the event was stale or repeated.
 */
export const APPLY_EVENT_LUA = `
local seq = tonumber(ARGV[1])
local maxEvents = tonumber(ARGV[4])
local firstUnset = 7 + 2 * tonumber(ARGV[6])

-- seq strings are passed through as given: Lua's number formatting would round large values.
if redis.call('ZCOUNT', KEYS[2], ARGV[1], ARGV[1]) == 0 then
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(maxEvents + 1))
end

local current = redis.call('HGET', KEYS[1], 'seq')
local advanced = 0
if (not current) or (tonumber(current) == nil) or seq > tonumber(current) then
  if #ARGV >= firstUnset then
    redis.call('HDEL', KEYS[1], unpack(ARGV, firstUnset))
  end
  redis.call('HSET', KEYS[1], unpack(ARGV, 7, firstUnset - 1))
  redis.call('PUBLISH', ARGV[5], ARGV[2])
  advanced = 1
end

redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return advanced
`;
