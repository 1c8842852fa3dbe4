import type { Redis } from 'ioredis';

/**
 * Acquire: drop expired slots, refuse when `max` remain, else add this one. Scores are expiry
 * times from the Redis server's clock, so gateways with skewed clocks agree.
 * KEYS[1] the tenant's sorted set; ARGV: slot id, max, ttl ms. Returns [acquired, open].
 */
const ACQUIRE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local open = redis.call('ZCARD', KEYS[1])
if open >= tonumber(ARGV[2]) then return {0, open} end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
return {1, open + 1}
`;

/** Refresh: push the expiry of this gateway's live slots (only those still present). */
const REFRESH_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ttl)
return 0
`;

const ACQUIRE = 'switchyardAcquireSlot';
const REFRESH = 'switchyardRefreshSlots';
type SlotCommands = {
  [ACQUIRE](key: string, slot: string, max: string, ttlMs: string): Promise<[number, number]>;
  [REFRESH](key: string, ttlMs: string, ...slots: string[]): Promise<number>;
};

export interface StreamSlotsOptions {
  /** REDIS_PREFIX. */
  prefix: string;
  /** A slot not refreshed for this long is free again (its gateway died). */
  ttlMs: number;
}

/**
 * Slots of long-lived streams (SSE) per tenant, shared by every gateway: a sorted set per tenant
 * whose members are slot ids scored by expiry. Each gateway refreshes its own slots well within
 * `ttlMs`; the slots of a gateway that crashed expire on their own.
 */
export class StreamSlots {
  private readonly redis: Redis & SlotCommands;

  constructor(
    redis: Redis,
    private readonly options: StreamSlotsOptions,
  ) {
    redis.defineCommand(ACQUIRE, { numberOfKeys: 1, lua: ACQUIRE_LUA });
    redis.defineCommand(REFRESH, { numberOfKeys: 1, lua: REFRESH_LUA });
    this.redis = redis as Redis & SlotCommands;
  }

  key(tenant: string): string {
    return `${this.options.prefix}sse:${tenant}`;
  }

  /** Takes one of the tenant's `max` slots; false (nothing taken) when all are held. */
  async acquire(tenant: string, slot: string, max: number): Promise<boolean> {
    const [acquired] = await this.redis[ACQUIRE](
      this.key(tenant),
      slot,
      String(max),
      String(this.options.ttlMs),
    );
    return acquired === 1;
  }

  /** Keeps slots alive: call at most every ttlMs / 3 with every slot this process holds. */
  async refresh(slots: ReadonlyMap<string, readonly string[]>): Promise<void> {
    await Promise.all(
      [...slots]
        .filter(([, ids]) => ids.length)
        .map(([tenant, ids]) => this.redis[REFRESH](this.key(tenant), String(this.options.ttlMs), ...ids)),
    );
  }

  async release(tenant: string, slot: string): Promise<void> {
    await this.redis.zrem(this.key(tenant), slot);
  }

  /** Slots of the tenant held now (expired ones not counted). */
  async count(tenant: string): Promise<number> {
    const time = await this.redis.time();
    const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
    return this.redis.zcount(this.key(tenant), `(${now}`, '+inf');
  }
}
