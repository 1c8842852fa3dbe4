import type { Caller } from './caller';
import type { LiveKeys, LiveKey } from './live-keys';
import { sessionCookie, sessionSetCookie, SessionsService, SESSION_TTL_S } from './sessions.service';

const caller: Caller = {
  tenant: 't1',
  keyId: '6f1c7a52-8a1e-4c3e-9f55-2a8f4e1d2b3c',
  scopes: ['jobs:read'],
  admin: false,
};

function setup() {
  const live = new Map<string, LiveKey>([[caller.keyId, { keyHash: 'a'.repeat(64), caller }]]);
  const keys = { find: (id: string) => Promise.resolve(live.get(id) ?? null) } as unknown as LiveKeys;
  return { sessions: new SessionsService(keys), live };
}

describe('SessionsService', () => {
  it('checks what it minted, with the key’s caller and expiry', async () => {
    const { sessions } = setup();
    const minted = await sessions.mint(caller);
    const checked = await sessions.check(minted.value);
    expect(checked?.caller).toBe(caller);
    expect(checked?.expiresAt.getTime()).toBe(minted.expiresAt.getTime());
    expect(minted.expiresAt.getTime() - Date.now()).toBeGreaterThanOrEqual(SESSION_TTL_S * 1000 - 1000);
  });

  it('refuses a tampered, foreign, expired or revoked session', async () => {
    const { sessions, live } = setup();
    const { value } = await sessions.mint(caller);
    const [prefix, body, signature] = value.split('.');
    const claims = JSON.parse(Buffer.from(body ?? '', 'base64url').toString()) as { k: string; e: number };
    const forged = Buffer.from(JSON.stringify({ ...claims, e: claims.e + 3600 })).toString('base64url');
    expect(await sessions.check(`${prefix}.${forged}.${signature}`)).toBeNull();
    expect(await sessions.check(`${value}x`)).toBeNull();
    expect(await sessions.check('syjt.e30.abc')).toBeNull();
    const now = Date.now();
    const clock = jest.spyOn(Date, 'now').mockReturnValue(now + (SESSION_TTL_S + 5) * 1000);
    expect(await sessions.check(value)).toBeNull();
    clock.mockRestore();
    live.delete(caller.keyId);
    expect(await sessions.check(value)).toBeNull();
  });

  it('reads the cookie among others and writes it HttpOnly, SameSite=Strict', () => {
    expect(sessionCookie('a=1; switchyard_session=sys1.x.y; b=2')).toBe('sys1.x.y');
    expect(sessionCookie('switchyard_session=')).toBeUndefined();
    expect(sessionCookie(undefined)).toBeUndefined();
    expect(sessionSetCookie('v', 60, false)).toBe(
      'switchyard_session=v; Path=/api/v1; Max-Age=60; HttpOnly; SameSite=Strict',
    );
    expect(sessionSetCookie('v', 60, true)).toMatch(/; Secure$/);
  });
});
