/**
 * Admission of one submission, as one atomic step so that concurrent requests (on any gateway
 * process) cannot both create a job for one idempotency key or one dedup window:
 *
 *   1. idempotency key known → answer with the job it names ('idempotent', 'jobId|fingerprint');
 *   2. result cache hit      → answer with the completed job ('cached', jobId), and let the
 *                              idempotency key name it too;
 *   3. dedup window taken    → answer with the job accepted first ('deduplicated', jobId);
 *   4. otherwise             → reserve the idempotency key and the dedup window for the new job
 *                              id the caller chose ('new').
 *
 * KEYS[1] idempotency key, KEYS[2] result-cache key, KEYS[3] dedup key
 * ARGV[1] new job id, ARGV[2] request fingerprint, ARGV[3] idempotency TTL s, ARGV[4] dedup
 * window ms, ARGV[5..7] '1' to use the idempotency key, the cache, the dedup window.
 */
export const ADMIT_LUA = `
local useIdem = ARGV[5] == '1'
local useCache = ARGV[6] == '1'
local useDedup = ARGV[7] == '1'
if useIdem then
  local existing = redis.call('GET', KEYS[1])
  if existing then return {'idempotent', existing} end
end
if useCache then
  local cached = redis.call('GET', KEYS[2])
  if cached then
    if useIdem then redis.call('SET', KEYS[1], cached .. '|' .. ARGV[2], 'EX', ARGV[3]) end
    return {'cached', cached}
  end
end
if useDedup then
  local first = redis.call('GET', KEYS[3])
  if first then return {'deduplicated', first} end
  redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[4])
end
if useIdem then redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3]) end
return {'new', ''}
`;

/** Deletes each KEYS[i] only while it still holds ARGV[i]: undoes a reservation, never another's. */
export const RELEASE_LUA = `
local released = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i] then
    redis.call('DEL', key)
    released = released + 1
  end
end
return released
`;
