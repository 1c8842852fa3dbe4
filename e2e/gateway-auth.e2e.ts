import { randomBytes } from 'node:crypto';
import { runServiceToExit, TestStack, type TestApi, type TestJob } from '@switchyard/testing';

jest.setTimeout(120000);

describe('gateway auth: API keys, scopes and tenant isolation', () => {
  let stack: TestStack;
  let gateway: string;
  let admin: TestApi;
  let tenantA: TestApi;
  let tenantB: TestApi;
  let keyB: { id: string; key: string };
  let completedA: TestJob;
  let queuedA: string;

  beforeAll(async () => {
    // A short grace: the slow job below need not finish when the stack stops.
    stack = await TestStack.create({ SHUTDOWN_GRACE_MS: '500' });
    await stack.start(['gateway', 'worker', 'progress-tracker']);
    gateway = stack.service('gateway').url;
    admin = stack.api();
    const keyA = await stack.createApiKey('tenant-a');
    keyB = await stack.createApiKey('tenant-b');
    tenantA = stack.api(keyA.key);
    tenantB = stack.api(keyB.key);
    const done = await tenantA.submit({ type: 'synthetic', payload: { resultBytes: 64 } });
    completedA = await tenantA.waitForStatus(done, 'completed');
    // Slow enough to still be queued or running while tenant B pokes at it.
    queuedA = await tenantA.submit({ type: 'synthetic', payload: { durationMs: 20000 } });
  });

  afterAll(async () => {
    await stack?.destroy();
  });

  it('answers 401 `unauthorized` without a key or with an unknown one, and keeps health, metrics and docs open', async () => {
    const none = await fetch(`${gateway}/api/v1/jobs`);
    expect(none.status).toBe(401);
    const body = (await none.json()) as { error: { code: string; correlationId: string } };
    expect(body.error.code).toBe('unauthorized');
    expect(body.error.correlationId).toBe(none.headers.get('x-correlation-id'));
    const unknown = await fetch(`${gateway}/api/v1/jobs`, {
      headers: { authorization: `Bearer sy_${randomBytes(32).toString('base64url')}` },
    });
    expect(unknown.status).toBe(401);
    for (const path of [
      '/health/live',
      '/health/ready',
      '/metrics',
      '/docs/openapi.json',
      '/api/v1/health',
    ]) {
      expect([path, (await fetch(`${gateway}${path}`)).status]).toEqual([path, 200]);
    }
  });

  it('accepts the key as Authorization: Bearer and as X-API-Key', async () => {
    const bearer = await fetch(`${gateway}/api/v1/jobs`, {
      headers: { authorization: `Bearer ${keyB.key}` },
    });
    const header = await fetch(`${gateway}/api/v1/jobs`, { headers: { 'x-api-key': keyB.key } });
    expect([bearer.status, header.status]).toEqual([200, 200]);
  });

  it('gives tenant B 404 for tenant A’s job on GET, DELETE, cancel, retry, events and result', async () => {
    const paths = [
      ['GET', `/jobs/${completedA.id}`],
      ['GET', `/jobs/${queuedA}`],
      ['GET', `/jobs/${completedA.id}/events`],
      ['GET', `/jobs/${completedA.id}/result`],
      ['DELETE', `/jobs/${queuedA}`],
      ['POST', `/jobs/${queuedA}/cancel`],
      ['POST', `/jobs/${completedA.id}/retry`],
    ] as const;
    for (const [method, path] of paths) {
      const response = await tenantB.request<{ error: { code: string } }>(
        method,
        path,
        method === 'POST' ? {} : undefined,
      );
      expect([method, path, response.status, response.body.error.code]).toEqual([
        method,
        path,
        404,
        'not_found',
      ]);
    }
    // Tenant A's jobs were left alone, and A itself sees them.
    expect((await tenantA.job(queuedA)).status).not.toBe('cancelled');
    expect((await tenantA.get(`/jobs/${completedA.id}/result`)).status).toBe(200);
  });

  it('never lists another tenant’s jobs, while admin keys see every tenant', async () => {
    const own = await tenantB.submit({ type: 'synthetic', payload: {} });
    const listB = await tenantB.get<{ items: TestJob[] }>('/jobs?limit=200');
    expect(listB.body.items.map((j) => j.id)).toEqual([own]);
    const listA = await tenantA.get<{ items: { id: string; tenant: string }[] }>('/jobs?limit=200');
    expect(listA.body.items.map((j) => j.id)).toEqual(expect.arrayContaining([completedA.id, queuedA]));
    expect(listA.body.items.every((j) => j.tenant === 'tenant-a')).toBe(true);
    const other = await tenantB.get<{ error: { code: string } }>('/jobs?tenant=tenant-a');
    expect(other.status).toBe(400);
    const all = await admin.get<{ items: { id: string }[] }>('/jobs?limit=200');
    expect(all.body.items.map((j) => j.id)).toEqual(expect.arrayContaining([completedA.id, queuedA, own]));
    expect((await admin.get(`/jobs/${completedA.id}`)).status).toBe(200);
  });

  it('checks scopes: 403 on writes for a read-only key and on admin routes for a key without admin', async () => {
    const reader = stack.api((await stack.createApiKey('tenant-a', ['jobs:read'])).key);
    expect((await reader.get(`/jobs/${completedA.id}`)).status).toBe(200);
    const write = await reader.post<{ error: { code: string } }>('/jobs', { type: 'synthetic', payload: {} });
    expect([write.status, write.body.error.code]).toEqual([403, 'forbidden']);
    for (const [method, path, body] of [
      ['POST', '/admin/api-keys', { tenant: 'x', name: 'x', scopes: ['admin'] }],
      ['DELETE', `/admin/api-keys/${keyB.id}`, undefined],
      ['POST', '/admin/cleanup', { olderThanDays: 0 }],
    ] as const) {
      const response = await tenantA.request<{ error: { code: string } }>(method, path, body);
      expect([path, response.status, response.body.error.code]).toEqual([path, 403, 'forbidden']);
    }
    // An admin key made through the API crosses tenants like the bootstrap key.
    const otherAdmin = stack.api((await stack.createApiKey('ops', ['admin'])).key);
    expect((await otherAdmin.get(`/jobs/${completedA.id}`)).status).toBe(200);
  });

  it('validates key requests and refuses a revoked key with 401', async () => {
    const bad = await admin.post<{ error: { details: { field: string }[] } }>('/admin/api-keys', {
      tenant: 'no spaces allowed',
      name: 'x',
      scopes: ['root'],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d) => d.field)).toEqual(expect.arrayContaining(['tenant']));
    const victim = await stack.createApiKey('tenant-c');
    const api = stack.api(victim.key);
    expect((await api.get('/jobs')).status).toBe(200);
    expect((await admin.delete(`/admin/api-keys/${victim.id}`)).status).toBe(204);
    const after = await api.get<{ error: { code: string } }>('/jobs');
    expect([after.status, after.body.error.code]).toEqual([401, 'unauthorized']);
    expect((await admin.delete('/admin/api-keys/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    const listed = await admin.get<{ items: { id: string; revokedAt: string | null; key?: string }[] }>(
      '/admin/api-keys?tenant=tenant-c',
    );
    expect(listed.body.items).toEqual([
      expect.objectContaining({ id: victim.id, revokedAt: expect.any(String) as unknown }),
    ]);
    expect(listed.body.items[0]).not.toHaveProperty('key');
  });

  it('purges old terminal jobs through POST /admin/cleanup', async () => {
    const none = await admin.post<{ deleted: number }>('/admin/cleanup', { olderThanDays: 30 });
    expect(none.body).toEqual({ deleted: 0 });
    const all = await admin.post<{ deleted: number }>('/admin/cleanup', { olderThanDays: 0 });
    expect(all.status).toBe(200);
    expect(all.body.deleted).toBeGreaterThanOrEqual(1);
    expect((await tenantA.get(`/jobs/${completedA.id}`)).status).toBe(404);
    expect((await tenantA.get(`/jobs/${queuedA}`)).status).toBe(200); // not terminal: kept
  });

  it('refuses to start in production without ADMIN_API_KEY, naming it, and with the dev key', async () => {
    const unset = await runServiceToExit('gateway', {
      ...stack.env,
      NODE_ENV: 'production',
      ADMIN_API_KEY: '',
    });
    expect(unset.code).not.toBe(0);
    expect(unset.output).toContain('ADMIN_API_KEY');
    const dev = await runServiceToExit('gateway', {
      ...stack.env,
      NODE_ENV: 'production',
      ADMIN_API_KEY: 'sy_dev_admin_key_not_for_production',
    });
    expect(dev.code).not.toBe(0);
    expect(dev.output).toContain('ADMIN_API_KEY');
  });
});
