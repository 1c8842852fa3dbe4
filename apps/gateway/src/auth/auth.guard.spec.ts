import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '@switchyard/contracts';
import type { RateLimitScope } from '@switchyard/observability';
import type { RateLimitService } from './rate-limit.service';
import type { ApiKeysService } from './api-keys.service';
import type { JobTokensService } from './job-tokens.service';
import type { SessionsService } from './sessions.service';
import { AuthGuard } from './auth.guard';
import { callerOf, Public, RequireScope, type Caller } from './caller';

const reader: Caller = { tenant: 't1', keyId: 'k-read', scopes: ['jobs:read'], admin: false };
const writer: Caller = { tenant: 't1', keyId: 'k-write', scopes: ['jobs:read', 'jobs:write'], admin: false };
const root: Caller = { tenant: 'default', keyId: 'bootstrap', scopes: ['admin'], admin: true };
const KEYS: Record<string, Caller> = { read: reader, write: writer, root };

class Routes {
  plain(): void {}
  @RequireScope('admin') admin(): void {}
  @Public() open(): void {}
}

function setup(reflector = new Reflector()) {
  const checks: { scope: RateLimitScope; subject: string }[] = [];
  const keys = {
    authenticate: (key: string) => Promise.resolve(KEYS[key] ?? null),
  } as unknown as ApiKeysService;
  const limits = {
    check: (scope: RateLimitScope, subject: string) => {
      checks.push({ scope, subject });
      return Promise.resolve();
    },
  } as unknown as RateLimitService;
  // Job tokens have their own e2e test (browser-access); here no request carries one.
  const tokens = {
    check: () => Promise.resolve({ ok: false, reason: 'invalid' }),
  } as unknown as JobTokensService;
  // A session cookie `switchyard_session=<key name>` stands for that key's caller.
  const sessions = {
    check: (value: string) =>
      Promise.resolve(KEYS[value] ? { caller: KEYS[value], expiresAt: new Date() } : null),
  } as unknown as SessionsService;
  const guard = new AuthGuard(reflector, keys, limits, tokens, sessions);
  const run = (
    handler: keyof Routes,
    request: { method?: string; url?: string; headers?: Record<string, string> },
  ): { result: Promise<boolean>; request: FastifyRequest } => {
    const url = request.url ?? '/api/v1/jobs';
    const req = {
      method: request.method ?? 'GET',
      url,
      ip: '10.0.0.1',
      headers: request.headers ?? {},
      routeOptions: { url },
    } as unknown as FastifyRequest;
    const context = {
      switchToHttp: () => ({ getRequest: () => req, getResponse: () => ({}) as FastifyReply }),
      getHandler: () => Routes.prototype[handler],
      getClass: () => Routes,
    } as unknown as ExecutionContext;
    return { result: guard.canActivate(context), request: req };
  };
  return { run, checks };
}

const codeOf = async (promise: Promise<unknown>) => {
  try {
    await promise;
    return 'passed';
  } catch (error) {
    return error instanceof ApiError ? error.code : String(error);
  }
};

describe('AuthGuard', () => {
  it('leaves routes outside /api/v1 and @Public() routes open', async () => {
    const { run, checks } = setup();
    expect(await run('plain', { url: '/health/ready' }).result).toBe(true);
    expect(await run('open', { url: '/api/v1/health' }).result).toBe(true);
    expect(checks).toEqual([]);
  });

  it('answers 401 without a valid key, after spending an unauthenticated token of the client IP', async () => {
    const { run, checks } = setup();
    expect(await codeOf(run('plain', {}).result)).toBe('unauthorized');
    expect(await codeOf(run('plain', { headers: { authorization: 'Bearer nope' } }).result)).toBe(
      'unauthorized',
    );
    expect(checks).toEqual([
      { scope: 'anon', subject: '10.0.0.1' },
      { scope: 'anon', subject: '10.0.0.1' },
    ]);
  });

  it('needs jobs:read for GET and jobs:write for other methods unless the route says otherwise', async () => {
    const { run } = setup();
    const as = (key: string) => ({ 'x-api-key': key });
    expect(await codeOf(run('plain', { headers: as('read') }).result)).toBe('passed');
    expect(await codeOf(run('plain', { method: 'POST', headers: as('read') }).result)).toBe('forbidden');
    expect(await codeOf(run('plain', { method: 'DELETE', headers: as('write') }).result)).toBe('passed');
    expect(await codeOf(run('admin', { headers: as('write') }).result)).toBe('forbidden');
    expect(await codeOf(run('admin', { method: 'POST', headers: as('root') }).result)).toBe('passed');
  });

  it('records the caller for @Caller() and rate-limits writes and reads per key', async () => {
    const { run, checks } = setup();
    const post = run('plain', { method: 'POST', headers: { authorization: 'Bearer write' } });
    await post.result;
    expect(callerOf(post.request)).toBe(writer);
    await run('plain', { headers: { authorization: 'Bearer write' } }).result;
    expect(checks).toEqual([
      { scope: 'write', subject: 'k-write' },
      { scope: 'read', subject: 'k-write' },
    ]);
  });

  it("reads a route's access metadata once per handler, not on every request", async () => {
    const reflector = new Reflector();
    const lookups = jest.spyOn(reflector, 'getAllAndOverride');
    const { run } = setup(reflector);
    const as = (key: string) => ({ 'x-api-key': key });
    for (let i = 0; i < 3; i++) {
      expect(await codeOf(run('admin', { headers: as('write') }).result)).toBe('forbidden');
      expect(await codeOf(run('admin', { headers: as('root') }).result)).toBe('passed');
      expect(await codeOf(run('plain', { method: 'POST', headers: as('read') }).result)).toBe('forbidden');
      expect(await run('open', { url: '/api/v1/health' }).result).toBe(true);
    }
    // @Public() and @RequireScope() of each of the three handlers.
    expect(lookups).toHaveBeenCalledTimes(6);
  });

  it('refuses multipart bodies on every route but uploads', async () => {
    const { run } = setup();
    const headers = { 'x-api-key': 'write', 'content-type': 'multipart/form-data; boundary=x' };
    expect(await codeOf(run('plain', { method: 'POST', headers }).result)).toBe('unsupported_media_type');
    expect(await codeOf(run('plain', { method: 'POST', url: '/api/v1/files', headers }).result)).toBe(
      'passed',
    );
  });

  it('accepts the console session cookie with its key scopes; a key in a header wins over it', async () => {
    const { run } = setup();
    const cookie = (name: string) => ({ cookie: `other=1; switchyard_session=${name}` });
    const get = run('plain', { headers: cookie('read') });
    expect(await codeOf(get.result)).toBe('passed');
    expect(callerOf(get.request)).toBe(reader);
    expect(await codeOf(run('plain', { method: 'POST', headers: cookie('read') }).result)).toBe('forbidden');
    expect(await codeOf(run('plain', { headers: cookie('revoked') }).result)).toBe('unauthorized');
    const both = run('plain', { method: 'POST', headers: { ...cookie('read'), 'x-api-key': 'write' } });
    expect(await codeOf(both.result)).toBe('passed');
    expect(callerOf(both.request)).toBe(writer);
  });
});
