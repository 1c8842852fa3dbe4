import { timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { SESSION_COOKIE } from '@switchyard/contracts';
import type { Caller } from './caller';
import { LiveKeys, signWithKey } from './live-keys';

const PREFIX = 'sys1';
/** A console session lives this long (then the console asks for the key again). */
export const SESSION_TTL_S = 8 * 3600;
const PURPOSE = 'switchyard console session';

interface SessionClaims {
  /** id of the API key signed in with */
  k: string;
  /** expiry, Unix seconds */
  e: number;
}

/**
 * Console sessions: the cookie value is its claims (key id, expiry) signed with HMAC-SHA256 under
 * a key derived from the API key's stored hash (as job tokens are), so any gateway checks it
 * without shared state and revoking the key ends its sessions (LiveKeys: at once where the
 * revocation broadcast arrives, within 5 s everywhere). The session carries the key's scopes.
 */
@Injectable()
export class SessionsService {
  constructor(private readonly keys: LiveKeys) {}

  async mint(caller: Caller): Promise<{ value: string; expiresAt: Date }> {
    const expires = Math.ceil(Date.now() / 1000 + SESSION_TTL_S);
    const live = await this.keys.find(caller.keyId);
    if (!live) throw new Error('the API key vanished while signing in');
    const body = Buffer.from(
      JSON.stringify({ k: caller.keyId, e: expires } satisfies SessionClaims),
    ).toString('base64url');
    return {
      value: `${PREFIX}.${body}.${signWithKey(live.keyHash, PURPOSE, body)}`,
      expiresAt: new Date(expires * 1000),
    };
  }

  /** The caller of a session cookie value, with its expiry; null when invalid, expired or revoked. */
  async check(value: string): Promise<{ caller: Caller; expiresAt: Date } | null> {
    const [prefix, body, signature, ...rest] = value.split('.');
    if (prefix !== PREFIX || !body || !signature || rest.length || value.length > 1000) return null;
    let claims: SessionClaims;
    try {
      claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as SessionClaims;
    } catch {
      return null;
    }
    if (typeof claims.k !== 'string' || typeof claims.e !== 'number') return null;
    const live = await this.keys.find(claims.k);
    if (!live) return null;
    const expected = Buffer.from(signWithKey(live.keyHash, PURPOSE, body));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
    if (claims.e * 1000 <= Date.now()) return null;
    return { caller: live.caller, expiresAt: new Date(claims.e * 1000) };
  }
}

/** The session cookie's value in a Cookie header, when there is one. */
export function sessionCookie(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index > 0 && part.slice(0, index).trim() === SESSION_COOKIE) {
      const value = part.slice(index + 1).trim();
      return value === '' ? undefined : value;
    }
  }
  return undefined;
}

/** Set-Cookie for a session (or, with `value` empty, one that clears it). */
export function sessionSetCookie(value: string, maxAgeSeconds: number, secure: boolean): string {
  return [
    `${SESSION_COOKIE}=${value}`,
    'Path=/api/v1',
    `Max-Age=${maxAgeSeconds}`,
    'HttpOnly',
    'SameSite=Strict',
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}
