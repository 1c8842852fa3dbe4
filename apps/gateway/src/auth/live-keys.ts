import { createHmac } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { isUuid } from '@switchyard/contracts';
import { ApiKeysRepository, type ApiKeyRecord } from '@switchyard/persistence';
import { ADMIN_KEY_HASH } from '../gateway.tokens';
import { isScope, type Caller } from './caller';

/** The bootstrap admin key's caller: tenant `default`, every scope. */
export const BOOTSTRAP_CALLER: Caller = {
  tenant: 'default',
  keyId: 'bootstrap',
  scopes: ['jobs:read', 'jobs:write', 'admin'],
  admin: true,
};

/**
 * Key lookups by id are cached this long: a revoked key's job tokens and console sessions stop
 * within it on every gateway (and at once where the revocation broadcast arrives).
 */
const KEY_CACHE_TTL_MS = 5000;

export interface LiveKey {
  /** The stored SHA-256 of the key: what job tokens and sessions are signed under. */
  keyHash: string;
  caller: Caller;
}

/**
 * Live API keys by id, for credentials derived from a key (job tokens, console sessions): each is
 * signed under a key derived from the key's stored hash, so every gateway checks it without shared
 * state, and revoking the key revokes what it minted.
 */
@Injectable()
export class LiveKeys {
  private readonly keys = new LRUCache<string, { live: LiveKey | null }>({
    max: 10000,
    ttl: KEY_CACHE_TTL_MS,
  });

  constructor(
    @Inject(ADMIN_KEY_HASH) private readonly adminKeyHash: string,
    private readonly apiKeys: ApiKeysRepository,
  ) {}

  /** The live key with this id; null for an unknown or revoked one. */
  async find(keyId: string): Promise<LiveKey | null> {
    if (keyId === BOOTSTRAP_CALLER.keyId) return { keyHash: this.adminKeyHash, caller: BOOTSTRAP_CALLER };
    if (!isUuid(keyId)) return null;
    const cached = this.keys.get(keyId);
    if (cached) return cached.live;
    const found = await this.apiKeys.findWithHash(keyId);
    const live =
      found && !found.record.revokedAt ? { keyHash: found.keyHash, caller: toCaller(found.record) } : null;
    this.keys.set(keyId, { live });
    return live;
  }

  /** A key was revoked (here or, through Redis, on another gateway): forget it now. */
  forgetHash(keyHash: string): void {
    for (const [keyId, entry] of this.keys.entries()) {
      if (entry.live?.keyHash === keyHash) this.keys.delete(keyId);
    }
  }
}

export function toCaller(record: ApiKeyRecord): Caller {
  const scopes = record.scopes.filter(isScope);
  return { tenant: record.tenant, keyId: record.id, scopes, admin: scopes.includes('admin') };
}

/** HMAC-SHA256 of `body` under a key derived from an API key's stored hash and a purpose. */
export function signWithKey(keyHash: string, purpose: string, body: string): string {
  const key = createHmac('sha256', keyHash).update(purpose).digest();
  return createHmac('sha256', key).update(body).digest('base64url');
}
