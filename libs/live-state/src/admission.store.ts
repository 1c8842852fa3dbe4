import type { ChainableCommander, Redis } from 'ioredis';
import { ADMIT_LUA, RELEASE_LUA } from './admission.script';
import { gatewayKeys, type GatewayKeys } from './gateway-keys';
import { execPipeline } from './pipeline';

export interface AdmissionRequest {
  tenant: string;
  /** The job id to reserve when the request is new. */
  newJobId: string;
  /** SHA-256 of the whole normalised request: equal fingerprints are the same request. */
  fingerprint: string;
  /** SHA-256 of type + canonical payload: the dedup and cache key. */
  requestHash: string;
  /** SHA-256 of the idempotency key, when the request has one. */
  idempotencyKeyHash?: string;
  useCache: boolean;
  useDedup: boolean;
}

export type AdmissionOutcome =
  | { kind: 'new'; reservations: Reservation[] }
  | { kind: 'idempotent'; jobId: string; fingerprint: string }
  | { kind: 'cached'; jobId: string }
  | { kind: 'deduplicated'; jobId: string };

/** A key this admission set, with the value it set, so that it can be released if creation fails. */
export interface Reservation {
  key: string;
  value: string;
}

export interface AdmissionStoreOptions {
  prefix: string;
  idempotencyTtlSeconds: number;
  dedupWindowMs: number;
}

const STATS_TTL_S = 30 * 24 * 3600;
const ADMIT = 'switchyardAdmit';
const RELEASE = 'switchyardRelease';
type Commands = {
  [ADMIT](k1: string, k2: string, k3: string, ...argv: string[]): Promise<[string, string]>;
  [RELEASE](...keysThenValues: (string | number)[]): Promise<number>;
};

/**
 * Idempotency keys, the dedup window and the first level of the result cache in Redis (SPEC §4).
 * One submission costs one round trip (admit), a batch too (admitMany, pipelined).
 */
export class AdmissionStore {
  readonly keys: GatewayKeys;

  constructor(
    private readonly redis: Redis,
    private readonly options: AdmissionStoreOptions,
  ) {
    this.keys = gatewayKeys(options.prefix);
    redis.defineCommand(ADMIT, { numberOfKeys: 3, lua: ADMIT_LUA });
    redis.defineCommand(RELEASE, { lua: RELEASE_LUA });
  }

  async admit(request: AdmissionRequest): Promise<AdmissionOutcome> {
    const [outcome] = await this.admitMany([request]);
    if (!outcome) throw new Error('admission pipeline returned nothing');
    return outcome;
  }

  async admitMany(requests: readonly AdmissionRequest[]): Promise<AdmissionOutcome[]> {
    if (!requests.length) return [];
    const pipeline = this.redis.pipeline() as ChainableCommander & Commands;
    const keys = requests.map((r) => this.keysOf(r));
    requests.forEach((r, i) => {
      const k = keys[i];
      void pipeline[ADMIT](
        k.idempotency,
        k.cache,
        k.dedup,
        r.newJobId,
        r.fingerprint,
        String(this.options.idempotencyTtlSeconds),
        String(this.options.dedupWindowMs),
        r.idempotencyKeyHash === undefined ? '0' : '1',
        r.useCache ? '1' : '0',
        r.useDedup && this.options.dedupWindowMs > 0 ? '1' : '0',
      );
    });
    const replies = await execPipeline(pipeline);
    return replies.map((reply, i): AdmissionOutcome => {
      const [kind, value] = reply as [string, string];
      const r = requests[i];
      const k = keys[i];
      switch (kind) {
        case 'idempotent': {
          const [jobId = '', fingerprint = ''] = value.split('|');
          return { kind, jobId, fingerprint };
        }
        case 'cached':
        case 'deduplicated':
          return { kind, jobId: value };
        default: {
          const reservations: Reservation[] = [];
          if (r.idempotencyKeyHash !== undefined) {
            reservations.push({ key: k.idempotency, value: `${r.newJobId}|${r.fingerprint}` });
          }
          if (r.useDedup && this.options.dedupWindowMs > 0) {
            reservations.push({ key: k.dedup, value: r.newJobId });
          }
          return { kind: 'new', reservations };
        }
      }
    });
  }

  /** Undoes reservations of a submission that was not created after all. */
  async release(reservations: readonly Reservation[]): Promise<void> {
    if (!reservations.length) return;
    await (this.redis as Redis & Commands)[RELEASE](
      reservations.length,
      ...reservations.map((r) => r.key),
      ...reservations.map((r) => r.value),
    );
  }

  /** Lets an idempotency key name an existing job (a cache hit found in the second level). */
  async rememberIdempotent(
    tenant: string,
    keyHash: string,
    jobId: string,
    fingerprint: string,
  ): Promise<void> {
    await this.redis.set(
      this.keys.idempotency(tenant, keyHash),
      `${jobId}|${fingerprint}`,
      'EX',
      this.options.idempotencyTtlSeconds,
    );
  }

  /** Fills the first level of the result cache until `expiresAt`. */
  async rememberCached(tenant: string, requestHash: string, jobId: string, expiresAt: Date): Promise<void> {
    const ttlMs = expiresAt.getTime() - Date.now();
    if (ttlMs > 0) await this.redis.set(this.keys.resultCache(tenant, requestHash), jobId, 'PX', ttlMs);
  }

  async forgetCached(tenant: string, requestHash: string): Promise<void> {
    await this.redis.del(this.keys.resultCache(tenant, requestHash));
  }

  /** Adds to the per-tenant counters behind /stats (cache hits and misses, dedup hits). */
  async count(tenant: string, counter: 'cache_hits' | 'cache_misses' | 'dedup_hits', by = 1): Promise<void> {
    // Kept while counted; a gateway idle for STATS_TTL_S starts from zero again.
    await this.redis
      .multi()
      .hincrby(this.keys.stats, `${tenant}|${counter}`, by)
      .expire(this.keys.stats, STATS_TTL_S)
      .exec();
  }

  /** Counters of one tenant, or summed over all tenants. */
  async counters(tenant?: string): Promise<Record<'cache_hits' | 'cache_misses' | 'dedup_hits', number>> {
    const all = await this.redis.hgetall(this.keys.stats);
    const totals = { cache_hits: 0, cache_misses: 0, dedup_hits: 0 };
    for (const [field, value] of Object.entries(all)) {
      const bar = field.lastIndexOf('|');
      const owner = field.slice(0, bar);
      const name = field.slice(bar + 1);
      if (tenant !== undefined && owner !== tenant) continue;
      if (name === 'cache_hits' || name === 'cache_misses' || name === 'dedup_hits')
        totals[name] += Number(value);
    }
    return totals;
  }

  private keysOf(r: AdmissionRequest) {
    return {
      idempotency: this.keys.idempotency(r.tenant, r.idempotencyKeyHash ?? '-'),
      cache: this.keys.resultCache(r.tenant, r.requestHash),
      dedup: this.keys.dedup(r.tenant, r.requestHash),
    };
  }
}
