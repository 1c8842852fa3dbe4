import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '@switchyard/testing';
import { createDataSource, runMigrations } from './data-source';
import { JobsRepository } from './jobs.repository';
import { newJob } from './jobs.testing';
import { WebhooksRepository, type WebhookEventInput } from './webhooks.repository';

const DAY = 86400000;

function event(tenant: string, overrides: Partial<WebhookEventInput> = {}): WebhookEventInput {
  return {
    eventId: randomUUID(),
    eventType: 'switchyard.job.completed',
    jobId: randomUUID(),
    tenant,
    jobType: 'synthetic',
    payload: '{}',
    ...overrides,
  };
}

describe('webhook endpoints and deliveries against PostgreSQL', () => {
  let database: TestDatabase;
  let db: DataSource;
  let webhooks: WebhooksRepository;

  beforeAll(async () => {
    database = await createTestDatabase(runMigrations);
    db = createDataSource(database.url, { poolSize: 4 });
    await db.initialize();
    webhooks = new WebhooksRepository(db);
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  async function endpoint(
    tenant: string,
    fields: { eventTypes?: string[]; jobTypes?: string[]; url?: string } = {},
  ) {
    return webhooks.createEndpoint({
      id: randomUUID(),
      tenant,
      url: fields.url ?? 'http://receiver.test/hook',
      description: null,
      eventTypes: fields.eventTypes ?? ['switchyard.job.completed', 'switchyard.job.failed'],
      jobTypes: fields.jobTypes ?? [],
      secret: 'whsec_c2VjcmV0',
    });
  }

  it('creates one delivery per matching endpoint and event, once however often the event comes', async () => {
    const all = await endpoint('t-match');
    const audioOnly = await endpoint('t-match', { jobTypes: ['audio.generate'] });
    await endpoint('t-other');
    const completed = event('t-match');
    const cancelled = event('t-match', { eventType: 'switchyard.job.cancelled' });
    expect(await webhooks.enqueueForEvents([completed, cancelled], DAY)).toBe(1);
    expect(await webhooks.enqueueForEvents([completed], DAY)).toBe(0);
    expect(await webhooks.enqueueForEvents([event('t-match', { jobType: 'audio.generate' })], DAY)).toBe(2);
    expect(await webhooks.listDeliveries(all.id, 10)).toHaveLength(2);
    expect(await webhooks.listDeliveries(audioOnly.id, 10)).toHaveLength(1);
  });

  it('lets one claimer have a due delivery at a time, and records retries and success', async () => {
    const target = await endpoint('t-claim');
    await webhooks.enqueueForEvents([event('t-claim')], DAY);
    const [claimed] = (await webhooks.claimDue(100, 60000)).filter((d) => d.endpointId === target.id);
    expect(claimed).toMatchObject({ endpointId: target.id, attempts: 0, secrets: ['whsec_c2VjcmV0'] });
    expect((await webhooks.claimDue(10, 60000)).filter((d) => d.endpointId === target.id)).toEqual([]);

    const retryAt = new Date(Date.now() - 1000);
    expect(await webhooks.recordFailure(claimed, { status: 503, error: 'HTTP 503', retryAt }, DAY)).toBe(
      false,
    );
    const [again] = (await webhooks.claimDue(10, 60000)).filter((d) => d.endpointId === target.id);
    expect(again).toMatchObject({ id: claimed.id, attempts: 1 });
    expect((await webhooks.findEndpoint(target.id, 't-claim'))?.failingSince).toBeInstanceOf(Date);

    await webhooks.recordSuccess(again, 204);
    const [delivery] = await webhooks.listDeliveries(target.id, 10);
    expect(delivery).toMatchObject({
      status: 'succeeded',
      attempts: 2,
      lastResponseStatus: 204,
      nextAttemptAt: null,
    });
    expect((await webhooks.findEndpoint(target.id, 't-claim'))?.failingSince).toBeNull();
  });

  it('disables an endpoint that keeps failing past the window, with a reason; enabling clears it', async () => {
    const target = await endpoint('t-disable');
    await webhooks.enqueueForEvents([event('t-disable'), event('t-disable')], DAY);
    const due = (await webhooks.claimDue(10, 60000)).filter((d) => d.endpointId === target.id);
    expect(due).toHaveLength(2);
    // A window of 0 ms: the first failure marks the endpoint failing, the next one disables it.
    expect(
      await webhooks.recordFailure(due[0], { status: null, error: 'ECONNREFUSED', retryAt: null }, 0),
    ).toBe(false);
    expect(
      await webhooks.recordFailure(due[1], { status: null, error: 'ECONNREFUSED', retryAt: null }, 0),
    ).toBe(true);
    const disabled = await webhooks.findEndpoint(target.id, undefined);
    expect(disabled).toMatchObject({ enabled: false });
    expect(disabled?.disabledReason).toMatch(/every delivery failed since .*ECONNREFUSED/);
    expect((await webhooks.listDeliveries(target.id, 10)).map((d) => d.status)).toEqual(['failed', 'failed']);

    // A disabled endpoint gets no new deliveries and sends none.
    expect(await webhooks.enqueueForEvents([event('t-disable')], DAY)).toBe(0);
    const redelivered = await webhooks.redeliver(target.id, due[0].id, DAY);
    expect(redelivered?.status).toBe('pending');
    expect((await webhooks.claimDue(10, 60000)).filter((d) => d.endpointId === target.id)).toEqual([]);

    const enabled = await webhooks.updateEndpoint(target.id, 't-disable', { enabled: true });
    expect(enabled).toMatchObject({ enabled: true, disabledReason: null, failingSince: null });
    expect((await webhooks.claimDue(10, 60000)).filter((d) => d.endpointId === target.id)).toHaveLength(1);
  });

  it('keeps tenants apart and signs with both secrets during a rotation', async () => {
    const target = await endpoint('t-rotate');
    expect(await webhooks.findEndpoint(target.id, 'someone-else')).toBeNull();
    expect(await webhooks.deleteEndpoint(target.id, 'someone-else')).toBe(false);
    await webhooks.rotateSecret(target.id, 't-rotate', 'whsec_bmV3', 60000);
    await webhooks.enqueueForEvents([event('t-rotate')], DAY);
    const [due] = (await webhooks.claimDue(10, 60000)).filter((d) => d.endpointId === target.id);
    expect(due?.secrets).toEqual(['whsec_bmV3', 'whsec_c2VjcmV0']);
    expect(await webhooks.deleteEndpoint(target.id, 't-rotate')).toBe(true);
  });

  it('sends a job with a webhookUrl there instead of to the endpoints of its origin, once', async () => {
    const jobs = new JobsRepository(db);
    const tenant = 't-override';
    const oldest = await endpoint(tenant, { url: 'HTTP://Receiver.test:80/hook' });
    const sameOrigin = await endpoint(tenant, { url: 'http://receiver.test/other' });
    const elsewhere = await endpoint(tenant, { url: 'https://elsewhere.test/hook' });
    const failedOnly = await endpoint(tenant, {
      url: 'http://third.test/h',
      eventTypes: ['switchyard.job.failed'],
    });
    expect(
      await webhooks.enabledOrigins(tenant, ['http://receiver.test', 'http://third.test', 'http://x.test']),
    ).toEqual(new Set(['http://receiver.test', 'http://third.test']));
    expect(await webhooks.enabledOrigins('someone-else', ['http://receiver.test'])).toEqual(new Set());

    const jobId = randomUUID();
    const webhookUrl = 'http://receiver.test/jobs/42?tag=a';
    await jobs.insertJobs([newJob({ id: jobId, tenant, webhookUrl })], []);
    expect((await jobs.findById(jobId, tenant))?.webhook_url).toBe(webhookUrl);

    // The override stands in for the two endpoints of its origin (under the oldest); the other
    // origin's endpoint gets its own delivery; the one filtering the event out gets none.
    const completed = event(tenant, { jobId });
    expect(await webhooks.enqueueForEvents([completed], DAY)).toBe(2);
    expect(await webhooks.enqueueForEvents([completed], DAY)).toBe(0);
    const [overridden] = await webhooks.listDeliveries(oldest.id, 10);
    expect(overridden).toMatchObject({ jobId, url: webhookUrl });
    expect(await webhooks.listDeliveries(sameOrigin.id, 10)).toEqual([]);
    expect(await webhooks.listDeliveries(failedOnly.id, 10)).toEqual([]);
    const [plain] = await webhooks.listDeliveries(elsewhere.id, 10);
    expect(plain).toMatchObject({ jobId, url: null });

    const due = (await webhooks.claimDue(100, 60000)).filter(
      (d) => d.payload === '{}' && [oldest.id, elsewhere.id].includes(d.endpointId),
    );
    expect(Object.fromEntries(due.map((d) => [d.endpointId, d.url]))).toEqual({
      [oldest.id]: webhookUrl,
      [elsewhere.id]: 'https://elsewhere.test/hook',
    });

    // The oldest endpoint disabled: the next one of that origin carries the override.
    await webhooks.updateEndpoint(oldest.id, tenant, { enabled: false });
    expect(await webhooks.enqueueForEvents([event(tenant, { jobId })], DAY)).toBe(2);
    expect(await webhooks.listDeliveries(sameOrigin.id, 10)).toMatchObject([{ url: webhookUrl }]);
  });

  it('hands the routing the event types enabled endpoints take, and rolls the change back when it fails', async () => {
    const seen: string[][] = [];
    const route = (types: string[]) => {
      seen.push([...types].sort());
      return Promise.resolve();
    };
    const created = await webhooks.withRouting(
      (tx) =>
        tx.createEndpoint({
          id: randomUUID(),
          tenant: 't-routing',
          url: 'http://receiver.test/r',
          description: null,
          eventTypes: ['switchyard.job.cancelled'],
          jobTypes: [],
          secret: 'whsec_c2VjcmV0',
        }),
      route,
    );
    expect(seen.at(-1)).toContain('switchyard.job.cancelled');
    // A routing that fails rolls the change back.
    await expect(
      webhooks.withRouting(
        (tx) => tx.deleteEndpoint(created.id, 't-routing'),
        () => Promise.reject(new Error('broker down')),
      ),
    ).rejects.toThrow('broker down');
    expect(await webhooks.findEndpoint(created.id, 't-routing')).not.toBeNull();

    // Every endpoint disabled: nothing to route.
    await db.query(`UPDATE webhook_endpoints SET enabled = false`);
    await webhooks.withRouting(() => Promise.resolve(), route);
    expect(seen.at(-1)).toEqual([]);
  });
});
