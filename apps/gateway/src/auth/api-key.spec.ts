import { generateApiKey, hashApiKey, presentedKey, sameHash } from './api-key';

describe('API keys', () => {
  it('are 256 random bits behind a recognisable prefix, and differ every time', () => {
    const a = generateApiKey();
    const b = generateApiKey();
    expect(a).toMatch(/^sy_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a.slice(3), 'base64url')).toHaveLength(32);
    expect(a).not.toBe(b);
  });

  it('are stored as a SHA-256 hex digest and compared in constant time', () => {
    const key = generateApiKey();
    const hash = hashApiKey(key);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).not.toContain(key);
    expect(sameHash(hash, hashApiKey(key))).toBe(true);
    expect(sameHash(hash, hashApiKey(`${key}x`))).toBe(false);
    expect(sameHash(hash, 'abcd')).toBe(false);
  });

  it('are read from Authorization: Bearer or X-API-Key', () => {
    expect(presentedKey({ authorization: 'Bearer sy_abc' })).toBe('sy_abc');
    expect(presentedKey({ authorization: 'bearer   sy_abc ' })).toBe('sy_abc');
    expect(presentedKey({ 'x-api-key': ' sy_def ' })).toBe('sy_def');
    expect(presentedKey({ authorization: 'Basic dXNlcjpwYXNz', 'x-api-key': 'sy_ghi' })).toBe('sy_ghi');
    expect(presentedKey({ authorization: 'Bearer ' })).toBeUndefined();
    expect(presentedKey({})).toBeUndefined();
  });
});
