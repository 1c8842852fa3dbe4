import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { ApiKeyCreated } from '@switchyard/contracts';
import { ChannelSubscriber, gatewayKeys } from '@switchyard/live-state';
import { ApiKeysRepository, type ApiKeyRecord } from '@switchyard/persistence';
import {
  ADMIN_KEY_HASH,
  GATEWAY_CONFIG,
  LOGGER,
  REDIS,
  type GatewayConfig,
  type Logger,
} from '../gateway.tokens';
import { generateApiKey, hashApiKey, sameHash } from './api-key';
import type { Caller, Scope } from './caller';
import { BOOTSTRAP_CALLER, LiveKeys, toCaller } from './live-keys';

// Looked-up keys are cached briefly so that a request costs no database round trip; a revocation
// drops the entry at once in this process and, through Redis pub/sub, in every other gateway.
const CACHE_TTL_MS = 5000;
const NEGATIVE_TTL_MS = 1000;
const CACHE_MAX = 10000;
/**
 * A known key's entry is looked up again in the background once it is this old, so a key in
 * steady use never makes a request wait on PostgreSQL; the entry still ends at CACHE_TTL_MS after
 * it was read, which bounds how long a revocation whose broadcast was lost goes unnoticed.
 * (lru-cache's own stale-while-revalidate would serve a stale entry with no bound on its age.)
 */
const REFRESH_AHEAD_MS = 3000;
/**
 * The keys that came due for a refresh within this window are read together, in one statement:
 * with many keys in use, one statement per key was tens of lookups a second.
 */
export const REFRESH_BATCH_MS = 100;
/** At most this many keys per refresh statement. */
const REFRESH_BATCH_MAX = 500;

interface CachedKey {
  caller: Caller | null;
  fetchedAt: number;
  refreshing?: boolean;
}

@Injectable()
export class ApiKeysService implements OnModuleInit {
  // lru-cache holds no null, so a negative answer is cached as `{ caller: null }`.
  private readonly cache = new LRUCache<string, CachedKey>({
    max: CACHE_MAX,
    ttl: CACHE_TTL_MS,
    // The same clock as `fetchedAt`, so the refresh-ahead age and the expiry agree.
    perf: { now: () => Date.now() },
    ttlResolution: 0,
  });
  private readonly channel: string;
  /** Revocations heard so far; a lookup that overlapped one does not cache its answer. */
  private revocations = 0;
  /** Cached keys due for a refresh, by hash, until the next refresh statement reads them. */
  private readonly due = new Map<string, CachedKey>();
  private refreshTimer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(ADMIN_KEY_HASH) private readonly adminKeyHash: string,
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly keys: ApiKeysRepository,
    private readonly subscriber: ChannelSubscriber,
    private readonly liveKeys: LiveKeys,
  ) {
    this.channel = gatewayKeys(config.REDIS_PREFIX).revokedKeysChannel;
  }

  onModuleInit(): void {
    // Not awaited: a gateway starts (and serves) while Redis is down; ioredis subscribes later.
    this.subscriber
      .subscribe(this.channel, (keyHash) => this.forget(keyHash))
      .catch((error: unknown) => this.logger.warn({ err: error }, 'could not subscribe to key revocations'));
  }

  /** The caller a presented key stands for, or null (unknown or revoked). */
  async authenticate(key: string): Promise<Caller | null> {
    const keyHash = hashApiKey(key);
    if (sameHash(keyHash, this.adminKeyHash)) return BOOTSTRAP_CALLER;
    const cached = this.cache.get(keyHash);
    if (cached) {
      if (cached.caller && !cached.refreshing && Date.now() - cached.fetchedAt >= REFRESH_AHEAD_MS) {
        // One refresh at a time per key, in the next refresh statement; the request does not wait.
        cached.refreshing = true;
        this.due.set(keyHash, cached);
        this.refreshTimer ??= setTimeout(() => this.refreshDue(), REFRESH_BATCH_MS).unref();
      }
      return cached.caller;
    }
    return this.lookUp(keyHash);
  }

  private async lookUp(keyHash: string): Promise<Caller | null> {
    const fetchedAt = Date.now();
    const revocations = this.revocations;
    const record = await this.keys.findByHash(keyHash);
    const caller = callerOf(record);
    // A revocation heard while the row was being read may postdate what it read: not cached then.
    if (revocations === this.revocations) this.store(keyHash, caller, fetchedAt);
    return caller;
  }

  /**
   * Reads the keys due for a refresh in one statement per REFRESH_BATCH_MAX keys; each answer
   * replaces its entry. If it could not be cached (the statement overlapped a revocation) or the
   * statement failed, the entry may refresh again on its next use.
   */
  private refreshDue(): void {
    this.refreshTimer = undefined;
    const batch = [...this.due].slice(0, REFRESH_BATCH_MAX);
    for (const [keyHash] of batch) this.due.delete(keyHash);
    if (this.due.size) this.refreshTimer = setTimeout(() => this.refreshDue(), 0).unref();
    const fetchedAt = Date.now();
    const revocations = this.revocations;
    this.keys.findByHashes(batch.map(([keyHash]) => keyHash)).then(
      (records) => {
        for (const [keyHash, entry] of batch) {
          entry.refreshing = false;
          if (revocations === this.revocations)
            this.store(keyHash, callerOf(records.get(keyHash)), fetchedAt);
        }
      },
      (error: unknown) => {
        for (const [, entry] of batch) entry.refreshing = false;
        this.logger.warn({ err: error, keys: batch.length }, 'could not refresh cached api keys');
      },
    );
  }

  /** Caches an answer read at `fetchedAt` until CACHE_TTL_MS (NEGATIVE_TTL_MS for none) after that. */
  private store(keyHash: string, caller: Caller | null, fetchedAt: number): void {
    const ttl = (caller ? CACHE_TTL_MS : NEGATIVE_TTL_MS) - (Date.now() - fetchedAt);
    if (ttl > 0) this.cache.set(keyHash, { caller, fetchedAt }, { ttl });
  }

  private forget(keyHash: string): void {
    this.revocations++;
    this.cache.delete(keyHash);
    this.due.delete(keyHash);
    this.liveKeys.forgetHash(keyHash);
  }

  /** Creates a key; the key itself is in the result only, never stored or logged. */
  async create(tenant: string, name: string, scopes: Scope[]): Promise<ApiKeyCreated> {
    const key = generateApiKey();
    const unique = [...new Set(scopes)];
    const record = await this.keys.create({
      id: randomUUID(),
      tenant,
      name,
      scopes: unique,
      keyHash: hashApiKey(key),
    });
    this.logger.info({ keyId: record.id, tenant, scopes: unique }, 'api key created');
    return {
      id: record.id,
      key,
      tenant: record.tenant,
      name: record.name,
      scopes: unique,
      createdAt: record.createdAt.toISOString(),
    };
  }

  /** Revokes a key everywhere; false when no such key exists. */
  async revoke(id: string): Promise<boolean> {
    const keyHash = await this.keys.revoke(id);
    if (keyHash === null) return false;
    this.forget(keyHash);
    try {
      await this.redis.publish(this.channel, keyHash);
    } catch (error) {
      // Other gateways then drop it when their cache entry expires (CACHE_TTL_MS).
      this.logger.warn({ err: error, keyId: id }, 'could not broadcast a key revocation');
    }
    this.logger.info({ keyId: id }, 'api key revoked');
    return true;
  }

  list(tenant?: string): Promise<ApiKeyRecord[]> {
    return this.keys.list(tenant);
  }
}

function callerOf(record: ApiKeyRecord | null | undefined): Caller | null {
  return record && !record.revokedAt ? toCaller(record) : null;
}
