import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** `sy_` + 32 random bytes (256 bits) in base64url. */
export function generateApiKey(): string {
  return `sy_${randomBytes(32).toString('base64url')}`;
}

/**
 * Keys are stored as SHA-256 hex. A fast hash is enough here, unlike for passwords: a key is 256
 * random bits, so there is no dictionary to try and a preimage search is hopeless however fast
 * the hash; a slow KDF (bcrypt, argon2) would only add milliseconds to every request.
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex digests of equal length. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The key a request presents: `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
export function presentedKey(headers: Record<string, string | string[] | undefined>): string | undefined {
  const authorization = headers['authorization'];
  if (typeof authorization === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match?.[1]) return match[1];
  }
  const header = headers['x-api-key'];
  return typeof header === 'string' && header.trim() !== '' ? header.trim() : undefined;
}
