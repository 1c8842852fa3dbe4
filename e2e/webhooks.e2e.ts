// Webhooks end to end: a receiver on localhost, the gateway's signed deliveries checked with the
// independent `standardwebhooks` verifier, retries with backoff and Retry-After, and deliveries
// that survive a SIGKILLed gateway. WEBHOOK_ALLOW_PRIVATE=true lets the stack reach 127.0.0.1;
// no test registers any other private target.
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { TestStack, waitFor, type TestApi } from '@switchyard/testing';

jest.setTimeout(180000);

const RETRY_BASE_MS = 500;
const POLL_MS = 50;
/** The backoff's jitter (docs/webhooks.md: ±10 %). */
const JITTER = 0.1;

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
  answered: number;
}

/** Answers per path: a function of how many requests that path has had (1 = first). */
type Behaviour = (nth: number, response: ServerResponse) => number;

class Receiver {
  readonly received: Received[] = [];
  readonly behaviours = new Map<string, Behaviour>();
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const path = request.url ?? '/';
        const nth = this.received.filter((r) => r.path === path).length + 1;
        const status = (this.behaviours.get(path) ?? (() => 200))(nth, response);
        this.received.push({
          path,
          headers: request.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          at: Date.now(),
          answered: status,
        });
        response.statusCode = status;
        response.end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  on(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

interface Endpoint {
  id: string;
  secret: string;
}

interface Delivery {
  id: string;
  jobId: string;
  status: string;
  attempts: number;
  lastResponseStatus: number | null;
}

describe('webhooks', () => {
  let stack: TestStack;
  const receiver = new Receiver();

  beforeAll(async () => {
    await receiver.start();
    stack = await TestStack.create({
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_RETRY_BASE_MS: String(RETRY_BASE_MS),
      // Retries go out within 50 ms of being due, so the gaps the receiver sees are the backoff's.
      WEBHOOK_POLL_MS: String(POLL_MS),
    });
    await stack.start();
  });

  afterAll(async () => {
    await stack?.destroy();
    await receiver.stop();
  });

  /** A tenant of its own per test, with an endpoint at `path` on the receiver. */
  async function tenantWithEndpoint(
    tenant: string,
    path: string,
  ): Promise<{ api: TestApi; endpoint: Endpoint }> {
    const { key } = await stack.createApiKey(tenant);
    const api = stack.api(key);
    const created = await api.post<Endpoint & { url: string; eventTypes: string[] }>('/webhooks', {
      url: `${receiver.url}${path}`,
    });
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^whsec_/);
    expect(created.body.eventTypes).toEqual([
      'switchyard.job.completed',
      'switchyard.job.failed',
      'switchyard.job.cancelled',
    ]);
    return { api, endpoint: created.body };
  }

  async function deliveries(api: TestApi, endpoint: Endpoint): Promise<Delivery[]> {
    const page = await api.get<{ items: Delivery[] }>(`/webhooks/${endpoint.id}/deliveries`);
    expect(page.status).toBe(200);
    return page.body.items;
  }

  /** The endpoint's deliveries once `count` of them are recorded and none is pending any more. */
  function settledDeliveries(api: TestApi, endpoint: Endpoint, count: number): Promise<Delivery[]> {
    return waitFor(
      async () => {
        const items = await deliveries(api, endpoint);
        return items.length === count && items.every((d) => d.status !== 'pending') && items;
      },
      { timeoutMs: 30000, what: `${count} settled deliveries` },
    );
  }

  const subjectOf = (r: Received) => (JSON.parse(r.body) as { subject: string }).subject;

  it('delivers one signed CloudEvent per completed job, which the reference verifier accepts', async () => {
    const { api, endpoint } = await tenantWithEndpoint('hooks-ok', '/ok');
    const jobId = await api.submit({ type: 'synthetic', payload: { durationMs: 0 } });
    const [delivery] = await waitFor(() => receiver.on('/ok').length > 0 && receiver.on('/ok'), {
      timeoutMs: 30000,
      what: 'a delivery',
    });
    const verified = new Webhook(endpoint.secret).verify(
      delivery.body,
      delivery.headers as Record<string, string>,
    );
    expect(verified).toMatchObject({
      specversion: '1.0',
      type: 'switchyard.job.completed',
      subject: jobId,
      data: { jobId, status: 'completed', tenant: 'hooks-ok' },
    });
    const tampered = delivery.body.replace('"completed"', '"failed"');
    expect(tampered).not.toBe(delivery.body);
    expect(() =>
      new Webhook(endpoint.secret).verify(tampered, delivery.headers as Record<string, string>),
    ).toThrow();

    // One delivery, succeeded at the first attempt, and no second one arrives.
    const [listed] = await waitFor(
      async () => {
        const items = await deliveries(api, endpoint);
        return items[0]?.status === 'succeeded' && items;
      },
      { what: 'the delivery recorded as succeeded' },
    );
    expect(listed).toMatchObject({
      jobId,
      attempts: 1,
      lastResponseStatus: 200,
      id: delivery.headers['webhook-id'],
    });
    // Sent once. A later job's delivery is the barrier: the fan-out consumes events in order and
    // writes its batches one after another, so a second row for the first job's events (all
    // published before the later job was submitted) would be written by the time the later job's
    // is; and a settled row is claimed by nobody (only a redelivery makes it pending again), so
    // nothing of it is in flight once both rows are settled.
    const later = await api.submit({ type: 'synthetic', payload: { durationMs: 0 } });
    const settled = await settledDeliveries(api, endpoint, 2);
    expect(settled.map((d) => [d.jobId, d.status, d.attempts]).sort()).toEqual(
      [
        [jobId, 'succeeded', 1],
        [later, 'succeeded', 1],
      ].sort(),
    );
    expect(receiver.on('/ok').map(subjectOf).sort()).toEqual([jobId, later].sort());

    const metrics = await (await fetch(`${stack.service('gateway').url}/metrics`)).text();
    expect(metrics).toMatch(
      /^switchyard_webhook_deliveries_total\{outcome="delivered",service="gateway"\} [1-9]/m,
    );

    // A redelivery sends the same message again, with the same webhook-id.
    const again = await api.post(`/webhooks/${endpoint.id}/deliveries/${listed.id}/redeliver`);
    expect(again.status).toBe(202);
    const ofJob = () => receiver.on('/ok').filter((r) => subjectOf(r) === jobId);
    await waitFor(() => ofJob().length === 2, { timeoutMs: 15000, what: 'the redelivery' });
    expect(ofJob()[1].headers['webhook-id']).toBe(listed.id);
  });

  it('retries 5xx answers with growing gaps and delivers on the fourth attempt', async () => {
    receiver.behaviours.set('/flaky', (nth) => (nth <= 3 ? 500 : 200));
    const { api, endpoint } = await tenantWithEndpoint('hooks-flaky', '/flaky');
    await api.submit({ type: 'synthetic', payload: { durationMs: 0 } });
    const attempts = await waitFor(() => receiver.on('/flaky').length >= 4 && receiver.on('/flaky'), {
      timeoutMs: 60000,
      what: 'four attempts',
    });
    expect(attempts.map((a) => a.answered)).toEqual([500, 500, 500, 200]);
    expect(new Set(attempts.map((a) => a.headers['webhook-id'])).size).toBe(1);
    const gaps = attempts.slice(1).map((a, i) => a.at - attempts[i].at);
    // Never sooner than the backoff (base × 2^(n−1), at most 10 % early): the receiver stamps an
    // attempt before it answers, and the gateway schedules the next one after the answer.
    gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(RETRY_BASE_MS * 2 ** i * (1 - JITTER)));
    // And growing: with a 50 ms poll an attempt goes out at most 50 ms (plus the machine's
    // latency) after it is due, and the next delay's floor is 350 ms above this one's ceiling.
    expect(gaps[1]).toBeGreaterThan(gaps[0]);
    expect(gaps[2]).toBeGreaterThan(gaps[1]);
    const [listed] = await waitFor(
      async () => {
        const items = await deliveries(api, endpoint);
        return items[0]?.status === 'succeeded' && items;
      },
      { what: 'the delivery recorded as succeeded' },
    );
    expect(listed).toMatchObject({ attempts: 4, lastResponseStatus: 200 });
  });

  it('waits at least Retry-After after a 429', async () => {
    receiver.behaviours.set('/throttled', (nth, response) => {
      if (nth > 1) return 200;
      response.setHeader('retry-after', '2');
      return 429;
    });
    const { api } = await tenantWithEndpoint('hooks-429', '/throttled');
    await api.submit({ type: 'synthetic', payload: { durationMs: 0 } });
    const attempts = await waitFor(() => receiver.on('/throttled').length >= 2 && receiver.on('/throttled'), {
      timeoutMs: 30000,
      what: 'the attempt after the 429',
    });
    expect(attempts[1].at - attempts[0].at).toBeGreaterThanOrEqual(2000);
    expect(attempts[1].answered).toBe(200);
  });

  it('does not send another tenant’s jobs, nor event types the endpoint did not ask for', async () => {
    const { api: other } = await tenantWithEndpoint('hooks-quiet', '/quiet');
    const listed = await other.get<{ items: { id: string }[] }>('/webhooks');
    expect(listed.body.items).toHaveLength(1);
    const { key } = await stack.createApiKey('hooks-noise');
    const noisy = stack.api(key);
    const failedOnly = await noisy.post<Endpoint>('/webhooks', {
      url: `${receiver.url}/failed-only`,
      eventTypes: ['switchyard.job.failed'],
    });
    expect(failedOnly.status).toBe(201);
    const completedOnly = await noisy.post<Endpoint>('/webhooks', {
      url: `${receiver.url}/completed-only`,
      eventTypes: ['switchyard.job.completed'],
    });
    expect(completedOnly.status).toBe(201);
    const ok = await noisy.submit({ type: 'synthetic', payload: { durationMs: 0 } });
    const bad = await noisy.submit({
      type: 'synthetic',
      payload: { durationMs: 0, fail: 'permanent' },
      maxAttempts: 1,
    });
    await waitFor(() => receiver.on('/failed-only').length > 0, {
      timeoutMs: 30000,
      what: 'the failed-job delivery',
    });
    // The barrier: `ok`'s completed event reached the completed-only endpoint. The fan-out turns
    // each event into the rows of every matching endpoint, of any tenant, in one INSERT … SELECT
    // (WebhooksRepository.enqueueForEvents), so when that endpoint's row exists, a row of the
    // failed-only endpoint (or of another tenant's) for this event would exist too.
    await waitFor(() => receiver.on('/completed-only').some((r) => subjectOf(r) === ok), {
      timeoutMs: 30000,
      what: 'the completed-job delivery to the completed-only endpoint',
    });
    expect(receiver.on('/completed-only').map(subjectOf)).toEqual([ok]);
    expect((await deliveries(noisy, failedOnly.body)).map((d) => d.jobId)).toEqual([bad]);
    expect(receiver.on('/failed-only').map(subjectOf)).toEqual([bad]);
    const [quietEndpoint] = (await other.get<{ items: Endpoint[] }>('/webhooks')).body.items;
    expect(await deliveries(other, quietEndpoint)).toEqual([]);
    expect(receiver.on('/quiet')).toHaveLength(0);
    // Another tenant's endpoint is not found.
    expect((await other.get(`/webhooks/${failedOnly.body.id}`)).status).toBe(404);
  });

  it('delivers what was pending when the gateway was SIGKILLed, once each, with the same webhook-id', async () => {
    let up = false;
    receiver.behaviours.set('/restart', () => (up ? 200 : 503));
    const { api } = await tenantWithEndpoint('hooks-kill', '/restart');
    const jobs = await Promise.all(
      [0, 1, 2].map(() => api.submit({ type: 'synthetic', payload: { durationMs: 0 } })),
    );
    // Every job's delivery has been tried (and refused) at least once: they are pending.
    const ids = await waitFor(
      () => {
        const seen = new Set(receiver.on('/restart').map((r) => String(r.headers['webhook-id'])));
        return seen.size === 3 && seen;
      },
      { timeoutMs: 30000, what: 'a first attempt of each delivery' },
    );
    expect(await stack.service('gateway').stop('SIGKILL')).toBeNull();
    up = true;
    const before = receiver.on('/restart').length;
    await stack.start(['gateway']);
    const restartedApi = stack.api((await stack.createApiKey('hooks-kill')).key);

    await waitFor(() => receiver.on('/restart').filter((r) => r.answered === 200).length >= 3, {
      timeoutMs: 60000,
      what: 'the pending deliveries after the restart',
    });
    expect(receiver.on('/restart').length).toBeGreaterThan(before);
    // Once a row is recorded as succeeded it is never claimed again, and a row is claimed by one
    // sender at a time (SKIP LOCKED, with a lease): so when all three are settled, every 200 the
    // receiver will ever answer for them has been answered.
    const endpoints = await restartedApi.get<{ items: Endpoint[] }>('/webhooks');
    const items = await settledDeliveries(restartedApi, endpoints.body.items[0], 3);
    expect(items.map((d) => d.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    const delivered = receiver.on('/restart').filter((r) => r.answered === 200);
    expect(delivered.map((r) => String(r.headers['webhook-id'])).sort()).toEqual([...ids].sort());
    expect(delivered.map(subjectOf).sort()).toEqual([...jobs].sort());
  });

  it('validates endpoint bodies and keeps secrets out of reads', async () => {
    const { api, endpoint } = await tenantWithEndpoint('hooks-crud', '/crud');
    const bad = await api.post('/webhooks', { url: 'ftp://example.com/x' });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { code: 'validation_failed' } });
    expect((await api.post('/webhooks', { url: `${receiver.url}/x`, eventTypes: ['job.nope'] })).status).toBe(
      400,
    );
    const got = await api.get<Record<string, unknown>>(`/webhooks/${endpoint.id}`);
    expect(got.status).toBe(200);
    expect(got.body['secret']).toBeUndefined();
    const patched = await api.request<{ enabled: boolean; jobTypes: string[] }>(
      'PATCH',
      `/webhooks/${endpoint.id}`,
      {
        enabled: false,
        jobTypes: ['synthetic'],
      },
    );
    expect(patched.body).toMatchObject({ enabled: false, jobTypes: ['synthetic'] });
    const rotated = await api.post<Endpoint>(`/webhooks/${endpoint.id}/rotate-secret`, {
      overlapSeconds: 60,
    });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).not.toBe(endpoint.secret);
    expect((await api.delete(`/webhooks/${endpoint.id}`)).status).toBe(204);
    expect((await api.get(`/webhooks/${endpoint.id}`)).status).toBe(404);
  });

  it('sends a job submitted with a webhookUrl there, signed with the secret of the endpoint of its origin', async () => {
    const { api, endpoint } = await tenantWithEndpoint('hooks-override', '/registered');
    const webhookUrl = `${receiver.url}/per-job/one?ref=42`;
    const submitted = await api.post<{ id: string; webhookUrl?: string }>('/jobs', {
      type: 'synthetic',
      payload: { durationMs: 0 },
      webhookUrl,
    });
    expect(submitted.status).toBe(202);
    expect(submitted.body.webhookUrl).toBe(webhookUrl);
    const jobId = submitted.body.id;
    const [delivery] = await waitFor(
      () => receiver.on('/per-job/one?ref=42').length > 0 && receiver.on('/per-job/one?ref=42'),
      { timeoutMs: 30000, what: 'the delivery at the job’s webhookUrl' },
    );
    expect(
      new Webhook(endpoint.secret).verify(delivery.body, delivery.headers as Record<string, string>),
    ).toMatchObject({ type: 'switchyard.job.completed', subject: jobId });
    expect((await api.get<{ webhookUrl?: string }>(`/jobs/${jobId}`)).body.webhookUrl).toBe(webhookUrl);
    // Recorded as the endpoint's delivery, with where it went; the endpoint's own URL got nothing.
    const [listed] = await waitFor(
      async () => {
        const items = await deliveries(api, endpoint);
        return items[0]?.status === 'succeeded' && items;
      },
      { what: 'the delivery recorded as succeeded' },
    );
    expect(listed).toMatchObject({ jobId, url: webhookUrl, id: delivery.headers['webhook-id'] });

    // A job without webhookUrl still goes to the endpoint's URL.
    const plain = await api.submit({ type: 'synthetic', payload: { durationMs: 0 } });
    const [atEndpoint] = await waitFor(
      () => receiver.on('/registered').length > 0 && receiver.on('/registered'),
      { timeoutMs: 30000, what: 'the delivery of the job without webhookUrl' },
    );
    expect((JSON.parse(atEndpoint.body) as { subject: string }).subject).toBe(plain);
    expect(receiver.on('/registered')).toHaveLength(1);
    expect(receiver.on('/per-job/one?ref=42')).toHaveLength(1);
  });

  it('refuses a webhookUrl whose origin no enabled endpoint of the tenant has, creating nothing', async () => {
    const { api, endpoint } = await tenantWithEndpoint('hooks-unregistered', '/mine');
    const port = Number(new URL(receiver.url).port);
    const elsewhere = `http://127.0.0.1:${port === 65535 ? port - 1 : port + 1}/hook`;
    const refused = await api.post<{ error: { code: string; message: string; details: unknown[] } }>(
      '/jobs',
      {
        type: 'synthetic',
        payload: { durationMs: 0 },
        webhookUrl: elsewhere,
      },
    );
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('validation_failed');
    expect(refused.body.error.message).toMatch(/origin/);
    expect(refused.body.error.details).toHaveLength(1);
    expect(refused.body.error.details[0]).toMatchObject({ field: 'webhookUrl' });
    expect(JSON.stringify(refused.body.error.details[0])).toContain(`origin ${new URL(elsewhere).origin}`);
    // Another scheme, a bad URL, and (in a batch) the item's index.
    expect(
      (await api.post('/jobs', { type: 'synthetic', payload: {}, webhookUrl: 'ftp://127.0.0.1/x' })).status,
    ).toBe(400);
    const batch = await api.post<{ error: { code: string; details: { index?: number; field: string }[] } }>(
      '/jobs/batch',
      {
        jobs: [
          { type: 'synthetic', payload: { durationMs: 0 }, webhookUrl: `${receiver.url}/mine/a` },
          { type: 'synthetic', payload: { durationMs: 0 }, webhookUrl: elsewhere },
        ],
      },
    );
    expect(batch.status).toBe(400);
    expect(batch.body.error.details).toMatchObject([{ index: 1, field: 'webhookUrl' }]);
    // A flow's jobs are held to the same rule.
    const flow = await api.post<{ error: { code: string; details: { index?: number; field: string }[] } }>(
      '/flows',
      { jobs: [{ ref: 'a', type: 'synthetic', payload: { durationMs: 0 }, webhookUrl: elsewhere }] },
    );
    expect(flow.status).toBe(400);
    expect(flow.body.error).toMatchObject({ code: 'flow_invalid', details: [{ field: 'webhookUrl' }] });
    // Another tenant's endpoints register nothing for this one.
    const { key } = await stack.createApiKey('hooks-unregistered-2');
    const stranger = await stack.api(key).post('/jobs', {
      type: 'synthetic',
      payload: { durationMs: 0 },
      webhookUrl: `${receiver.url}/mine`,
    });
    expect(stranger.status).toBe(400);
    // A disabled endpoint does not count.
    await api.request('PATCH', `/webhooks/${endpoint.id}`, { enabled: false });
    expect(
      (
        await api.post('/jobs', {
          type: 'synthetic',
          payload: { durationMs: 0 },
          webhookUrl: `${receiver.url}/mine/b`,
        })
      ).status,
    ).toBe(400);
    expect((await api.get<{ items: unknown[] }>('/jobs')).body.items).toEqual([]);
  });
});
