import { LIVE_OPTIONAL_FIELDS, LIVE_REQUIRED_FIELDS, LIVE_VALUES } from './live-progress';

const luaList = (names: readonly string[]) => `{ ${names.map((n) => `'${n}'`).join(', ')} }`;

/**
 * Applies a chunk of lifecycle events (any jobs, any order, repeats allowed) to the jobs' live
 * state in one script call. Lua because several tracker instances consume the same events in
 * parallel: per event the compare-and-set on `seq` (apply only if newer), the log append and the
 * PUBLISH must happen as one atomic step, with no "read, then write" race. One call per chunk
 * instead of one per event saves the per-command encoding, replies and script setup.
 *
 * KEYS: per job of the chunk its live hash, then its event log (zset scored by seq), i.e.
 * KEYS[2j-1] and KEYS[2j] for job number j = 1, 2, …
 * ARGV[1] TTL seconds, ARGV[2] max events kept per job, ARGV[3] channel, then per event: its job
 * number j, its seq, its StoredJobEvent JSON, and '1' followed by the live hash values in
 * appendLiveValues' layout (required values, optional values, presence flags), or '0' alone. The
 * caller sends the values only with each job's newest event of the chunk: when any event of a job
 * advances its state, that one does too and its state is the final one, so one HSET per job.
 * Returns per event 1 when it advanced the job's live state, 0 when it was stale or repeated.
 */
export const APPLY_EVENTS_LUA = `
local ttl = ARGV[1]
local maxEvents = tonumber(ARGV[2])
local channel = ARGV[3]
local liveValues = ${LIVE_VALUES}
local required = ${luaList(LIVE_REQUIRED_FIELDS)}
local optional = ${luaList(LIVE_OPTIONAL_FIELDS)}
local results = {}
local currentSeq = {}
local logged = {}
local pos = 4

while pos <= #ARGV do
  local j = tonumber(ARGV[pos])
  local liveKey = KEYS[2 * j - 1]
  local eventsKey = KEYS[2 * j]
  -- seq strings are passed through as given: Lua's number formatting would round large values.
  local seqText = ARGV[pos + 1]
  local seq = tonumber(seqText)
  local stored = ARGV[pos + 2]
  local v = nil
  if ARGV[pos + 3] == '1' then
    v = pos + 3
    pos = pos + 4 + liveValues
  else
    pos = pos + 4
  end

  if redis.call('ZCOUNT', eventsKey, seqText, seqText) == 0 then
    redis.call('ZADD', eventsKey, seqText, stored)
    logged[j] = true
  end

  local current = currentSeq[j]
  if current == nil then
    current = tonumber(redis.call('HGET', liveKey, 'seq') or '') or false
  end
  local advanced = 0
  if (not current) or seq > current then
    if v then
      local set = {}
      for k = 1, #required do
        set[2 * k - 1] = required[k]
        set[2 * k] = ARGV[v + k]
      end
      local unset = {}
      local present = ARGV[v + #required + #optional + 1]
      for k = 1, #optional do
        if string.byte(present, k) == 49 then
          set[#set + 1] = optional[k]
          set[#set + 1] = ARGV[v + #required + k]
        else
          unset[#unset + 1] = optional[k]
        end
      end
      if #unset > 0 then
        redis.call('HDEL', liveKey, unpack(unset))
      end
      redis.call('HSET', liveKey, unpack(set))
    end
    redis.call('PUBLISH', channel, stored)
    current = seq
    advanced = 1
  end
  currentSeq[j] = current
  results[#results + 1] = advanced
end

-- Trimming once per job after its appends keeps the same newest maxEvents as trimming after each.
for j = 1, #KEYS / 2 do
  if logged[j] then
    redis.call('ZREMRANGEBYRANK', KEYS[2 * j], 0, -(maxEvents + 1))
  end
  redis.call('EXPIRE', KEYS[2 * j - 1], ttl)
  redis.call('EXPIRE', KEYS[2 * j], ttl)
end
return results
`;
