import { timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { isUuid, type FlowToken, type JobToken } from '@switchyard/contracts';
import type { Caller } from './caller';
import { LiveKeys, signWithKey } from './live-keys';

const PREFIX = 'syjt';
const DEFAULT_TTL_S = 900;

/** What a token opens: one job, or one flow. */
export type TokenTarget = { kind: 'job' | 'flow'; id: string };

interface TokenClaims {
  /** job id (a job token) */
  j?: string;
  /** flow id (a flow token) */
  f?: string;
  /** the job's or flow's tenant */
  t: string;
  /** id of the API key that minted it */
  k: string;
  /** expiry, Unix seconds */
  e: number;
}

export type TokenCheck =
  { ok: true; caller: Caller; target: TokenTarget } | { ok: false; reason: 'invalid' | 'expired' };

/**
 * Job and flow tokens for browsers: short-lived, read-only, for one job or one flow. A token is its
 * claims (job or flow, tenant, key id, expiry) signed with HMAC-SHA256 under a key derived from the
 * minting API key's stored hash, so every gateway can check it without shared state, and revoking
 * the API key revokes its tokens. Accepted only as `?token=` on GET /jobs/{id}, /jobs/{id}/events
 * and /jobs/{id}/result (a job token) or GET /flows/{id} and /flows/{id}/events (a flow token).
 */
@Injectable()
export class JobTokensService {
  constructor(private readonly keys: LiveKeys) {}

  async mint(caller: Caller, job: { id: string; tenant: string }, ttlSeconds?: number): Promise<JobToken> {
    const { token, expiresAt } = await this.sign(caller, { j: job.id, t: job.tenant }, ttlSeconds);
    return { token, jobId: job.id, expiresAt };
  }

  async mintForFlow(
    caller: Caller,
    flow: { id: string; tenant: string },
    ttlSeconds?: number,
  ): Promise<FlowToken> {
    const { token, expiresAt } = await this.sign(caller, { f: flow.id, t: flow.tenant }, ttlSeconds);
    return { token, flowId: flow.id, expiresAt };
  }

  private async sign(
    caller: Caller,
    target: Pick<TokenClaims, 'j' | 'f' | 't'>,
    ttlSeconds = DEFAULT_TTL_S,
  ): Promise<{ token: string; expiresAt: string }> {
    // Rounded up to the second: a token lives at least ttlSeconds.
    const expires = Math.ceil(Date.now() / 1000 + ttlSeconds);
    const claims: TokenClaims = { ...target, k: caller.keyId, e: expires };
    const keyHash = (await this.keys.find(caller.keyId))?.keyHash ?? null;
    if (keyHash === null) throw new Error('the calling API key vanished');
    const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return {
      token: `${PREFIX}.${body}.${sign(keyHash, body)}`,
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
    const target = targetOf(claims);
    if (typeof claims.k !== 'string' || target === undefined) return { ok: false, reason: 'invalid' };
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
      target,
      caller: { tenant: String(claims.t), keyId: claims.k, scopes: ['jobs:read'], admin: false },
    };
  }
}

/** The one job or flow the claims name (a token names exactly one). */
function targetOf(claims: TokenClaims): TokenTarget | undefined {
  const { j, f } = claims;
  if (typeof j === 'string' && f === undefined && isUuid(j)) return { kind: 'job', id: j };
  if (typeof f === 'string' && j === undefined && isUuid(f)) return { kind: 'flow', id: f };
  return undefined;
}

function sign(keyHash: string, body: string): string {
  return signWithKey(keyHash, 'switchyard job token', body);
}
