import { timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { isUuid, type JobToken } from '@switchyard/contracts';
import type { Caller } from './caller';
import { LiveKeys, signWithKey } from './live-keys';

const PREFIX = 'syjt';
const DEFAULT_TTL_S = 900;

interface TokenClaims {
  /** job id */
  j: string;
  /** the job's tenant */
  t: string;
  /** id of the API key that minted it */
  k: string;
  /** expiry, Unix seconds */
  e: number;
}

export type TokenCheck =
  { ok: true; caller: Caller; jobId: string } | { ok: false; reason: 'invalid' | 'expired' };

/**
 * Job tokens for browsers: short-lived, read-only, for one job. A token is its claims (job, tenant,
 * key id, expiry) signed with HMAC-SHA256 under a key derived from the minting API key's stored
 * hash, so every gateway can check it without shared state, and revoking the API key revokes its
 * tokens. Accepted only as `?token=` on GET /jobs/{id}, /jobs/{id}/events and /jobs/{id}/result.
 */
@Injectable()
export class JobTokensService {
  constructor(private readonly keys: LiveKeys) {}

  async mint(
    caller: Caller,
    job: { id: string; tenant: string },
    ttlSeconds = DEFAULT_TTL_S,
  ): Promise<JobToken> {
    // Rounded up to the second: a token lives at least ttlSeconds.
    const expires = Math.ceil(Date.now() / 1000 + ttlSeconds);
    const claims: TokenClaims = { j: job.id, t: job.tenant, k: caller.keyId, e: expires };
    const keyHash = (await this.keys.find(caller.keyId))?.keyHash ?? null;
    if (keyHash === null) throw new Error('the calling API key vanished');
    const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return {
      token: `${PREFIX}.${body}.${sign(keyHash, body)}`,
      jobId: job.id,
      expiresAt: new Date(expires * 1000).toISOString(),
    };
  }

  async check(token: string): Promise<TokenCheck> {
    const [prefix, body, signature, ...rest] = token.split('.');
    if (prefix !== PREFIX || !body || !signature || rest.length || token.length > 1000) {
      return { ok: false, reason: 'invalid' };
    }
    let claims: TokenClaims;
    try {
      claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as TokenClaims;
    } catch {
      return { ok: false, reason: 'invalid' };
    }
    if (typeof claims.k !== 'string' || typeof claims.j !== 'string' || !isUuid(claims.j)) {
      return { ok: false, reason: 'invalid' };
    }
    const keyHash = (await this.keys.find(claims.k))?.keyHash ?? null;
    if (keyHash === null) return { ok: false, reason: 'invalid' };
    const expected = Buffer.from(sign(keyHash, body));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given))
      return { ok: false, reason: 'invalid' };
    if (typeof claims.e !== 'number' || claims.e * 1000 <= Date.now())
      return { ok: false, reason: 'expired' };
    return {
      ok: true,
      jobId: claims.j,
      caller: { tenant: String(claims.t), keyId: claims.k, scopes: ['jobs:read'], admin: false },
    };
  }
}

function sign(keyHash: string, body: string): string {
  return signWithKey(keyHash, 'switchyard job token', body);
}
