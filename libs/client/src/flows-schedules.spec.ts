import { SDK_ROUTES, Switchyard } from './client';
import type { Flow, FlowWatchEvent } from './types';

const BASE = 'http://gateway.test';
const FLOW = '11111111-1111-4111-8111-111111111111';
const SCHEDULE = '22222222-2222-4222-8222-222222222222';

interface Recorded {
  method: string;
  url: URL;
  headers: Headers;
  body: unknown;
}

type Answer = Response | (() => Response);

/** A fetch that records each request and answers from `answers` in order (JSON `{}` once they run out). */
function fakeFetch(answers: Answer[] = []) {
  const calls: Recorded[] = [];
  const fetch = (
    input: Parameters<typeof globalThis.fetch>[0],
    init: RequestInit = {},
  ): Promise<Response> => {
    const body = typeof init.body === 'string' ? (JSON.parse(init.body) as unknown) : init.body;
    calls.push({
      method: init.method ?? 'GET',
      url: new URL(input instanceof Request ? input.url : input),
      headers: new Headers(init.headers),
      body,
    });
    const next = answers.shift();
    if (next === undefined) return Promise.resolve(json({}));
    return Promise.resolve(typeof next === 'function' ? next() : next);
  };
  return { calls, fetch };
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

/** An SSE body of `events`; `drop` ends it with a network error instead of a clean end. */
function sse(events: { event: string; id?: string; data: unknown }[], drop = false): Response {
  const text = events
    .map(
      (e) =>
        `event: ${e.event}\n${e.id === undefined ? '' : `id: ${e.id}\n`}data: ${JSON.stringify(e.data)}\n\n`,
    )
    .join('');
  let sent = false;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent) {
        if (drop) controller.error(new TypeError('connection reset'));
        else controller.close();
        return;
      }
      sent = true;
      controller.enqueue(new TextEncoder().encode(`: keep-alive\n\n${text}`));
    },
  });
  return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
}

const flow = (status: Flow['status']) => ({ id: FLOW, status, jobs: [] }) as unknown as Flow;
const jobEvent = (type: string, jobId: string) => ({ type: `switchyard.${type}`, data: { jobId } });

/** `METHOD /api/v1/template` of SDK_ROUTES that a recorded call matches, or undefined. */
function declaredRoute(call: Recorded): string | undefined {
  const path = call.url.pathname;
  return SDK_ROUTES.find((route) => {
    const [method, template] = route.split(' ') as [string, string];
    const pattern = new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}$`);
    return method === call.method && pattern.test(path);
  });
}

describe('Switchyard flows', () => {
  it('submits a flow with its Idempotency-Key, gets, cancels, retries and mints a token', async () => {
    const { calls, fetch } = fakeFetch();
    const client = new Switchyard({ baseUrl: `${BASE}/`, apiKey: 'sy_key', fetch });
    const request = { name: 'render', jobs: [{ ref: 'a', type: 'synthetic', payload: {} }] };
    await client.flows.submit(request, { idempotencyKey: 'once' });
    await client.flows.get(FLOW);
    await client.flows.cancel(FLOW);
    await client.flows.retry(FLOW);
    await client.flows.createToken(FLOW, 120);
    await client.flows.createToken(FLOW);

    expect(calls.map((c) => [c.method, c.url.pathname, c.body])).toEqual([
      ['POST', '/api/v1/flows', request],
      ['GET', `/api/v1/flows/${FLOW}`, undefined],
      ['DELETE', `/api/v1/flows/${FLOW}`, undefined],
      ['POST', `/api/v1/flows/${FLOW}/retry`, undefined],
      ['POST', `/api/v1/flows/${FLOW}/tokens`, { ttlSeconds: 120 }],
      ['POST', `/api/v1/flows/${FLOW}/tokens`, {}],
    ]);
    expect(calls[0]?.headers.get('idempotency-key')).toBe('once');
    expect(calls[1]?.headers.get('idempotency-key')).toBeNull();
    for (const call of calls) expect(call.headers.get('authorization')).toBe('Bearer sy_key');
    expect(calls.map(declaredRoute)).not.toContain(undefined);
  });

  it('lists every flow, following nextCursor with the query kept', async () => {
    const { calls, fetch } = fakeFetch([
      json({ items: [{ id: 'f1' }, { id: 'f2' }], nextCursor: 'c1' }),
      json({ items: [{ id: 'f3' }], nextCursor: null }),
    ]);
    const client = new Switchyard({ baseUrl: BASE, fetch });
    const ids: string[] = [];
    for await (const summary of client.flows.list({ limit: 2, tenant: 'acme' })) ids.push(summary.id);
    expect(ids).toEqual(['f1', 'f2', 'f3']);
    expect(calls.map((c) => c.url.search)).toEqual([
      '?limit=2&tenant=acme',
      '?limit=2&tenant=acme&cursor=c1',
    ]);
    expect(calls.map(declaredRoute)).toEqual(['GET /api/v1/flows', 'GET /api/v1/flows']);
  });

  it('reads a flow with a flow token as ?token= and no API key', async () => {
    const { calls, fetch } = fakeFetch([json(flow('running'))]);
    const browser = new Switchyard({ baseUrl: BASE, token: 'syjt.a.b', fetch });
    expect((await browser.flows.get(FLOW)).status).toBe('running');
    expect(calls[0]?.url.searchParams.get('token')).toBe('syjt.a.b');
    expect(calls[0]?.headers.get('authorization')).toBeNull();
  });
});

describe('Switchyard flows.watch', () => {
  const collect = async (events: AsyncGenerator<FlowWatchEvent>) => {
    const seen: { event: string; id: string | undefined; status?: string }[] = [];
    for await (const e of events)
      seen.push({ event: e.event, id: e.id, ...(e.event === 'snapshot' ? { status: e.data.status } : {}) });
    return seen;
  };

  it('yields the snapshot and job events, then the finished flow when the gateway closes the stream', async () => {
    const { calls, fetch } = fakeFetch([
      sse([
        { event: 'snapshot', data: flow('running') },
        { event: 'job.started', id: 'j1:2', data: jobEvent('job.started', 'j1') },
        { event: 'job.completed', id: 'j1:3', data: jobEvent('job.completed', 'j1') },
      ]),
      json(flow('completed')),
    ]);
    const client = new Switchyard({ baseUrl: BASE, apiKey: 'k', fetch });
    expect(await collect(client.flows.watch(FLOW))).toEqual([
      { event: 'snapshot', id: undefined, status: 'running' },
      { event: 'job.started', id: 'j1:2' },
      { event: 'job.completed', id: 'j1:3' },
      { event: 'snapshot', id: undefined, status: 'completed' },
    ]);
    expect(calls.map((c) => `${c.method} ${c.url.pathname}`)).toEqual([
      `GET /api/v1/flows/${FLOW}/events`,
      `GET /api/v1/flows/${FLOW}`,
    ]);
    expect(calls[0]?.headers.get('accept')).toBe('text/event-stream');
    expect(calls.map(declaredRoute)).not.toContain(undefined);
  });

  it('ends at a snapshot of a flow that is no longer running, without another request', async () => {
    const { calls, fetch } = fakeFetch([sse([{ event: 'snapshot', data: flow('failed') }])]);
    const client = new Switchyard({ baseUrl: BASE, fetch });
    expect(await collect(client.flows.watch(FLOW))).toEqual([
      { event: 'snapshot', id: undefined, status: 'failed' },
    ]);
    expect(calls).toHaveLength(1);
  });

  it('reconnects after a dropped stream (no Last-Event-ID: the new snapshot holds the state)', async () => {
    const { calls, fetch } = fakeFetch([
      sse(
        [
          { event: 'snapshot', data: flow('running') },
          { event: 'job.started', id: 'j1:2', data: jobEvent('job.started', 'j1') },
        ],
        true,
      ),
      sse([{ event: 'snapshot', data: flow('completed') }]),
    ]);
    const client = new Switchyard({ baseUrl: BASE, fetch });
    expect((await collect(client.flows.watch(FLOW))).map((e) => e.status ?? e.event)).toEqual([
      'running',
      'job.started',
      'completed',
    ]);
    expect(calls.map((c) => c.url.pathname)).toEqual([
      `/api/v1/flows/${FLOW}/events`,
      `/api/v1/flows/${FLOW}/events`,
    ]);
    expect(calls.map((c) => c.headers.get('last-event-id'))).toEqual([null, null]);
  });

  it('reconnects when the stream ends while the flow still runs, and gives up after maxReconnects', async () => {
    const running = () => sse([{ event: 'snapshot', data: flow('running') }]);
    const { calls, fetch } = fakeFetch([
      running,
      () => json(flow('running')),
      running,
      () => json(flow('running')),
    ]);
    const client = new Switchyard({ baseUrl: BASE, fetch });
    await expect(collect(client.flows.watch(FLOW, { maxReconnects: 1 }))).rejects.toMatchObject({
      name: 'SwitchyardConnectionError',
      reason: 'event stream ended early',
    });
    expect(calls.map((c) => c.url.pathname)).toEqual([
      `/api/v1/flows/${FLOW}/events`,
      `/api/v1/flows/${FLOW}`,
      `/api/v1/flows/${FLOW}/events`,
      `/api/v1/flows/${FLOW}`,
    ]);
  });
});

describe('Switchyard schedules', () => {
  it('calls each schedule route with its method, path and body', async () => {
    const { calls, fetch } = fakeFetch([
      json({ id: SCHEDULE }, 201),
      json({ id: SCHEDULE }),
      json({ id: SCHEDULE }),
      new Response(null, { status: 204 }),
    ]);
    const client = new Switchyard({ baseUrl: BASE, apiKey: 'k', fetch });
    const request = { name: 'nightly', cron: '0 3 * * *', job: { type: 'synthetic', payload: {} } };
    expect((await client.schedules.create(request)).id).toBe(SCHEDULE);
    await client.schedules.get(SCHEDULE);
    await client.schedules.update(SCHEDULE, { everyMs: 60000 });
    await expect(client.schedules.delete(SCHEDULE)).resolves.toBeUndefined();
    await client.schedules.pause(SCHEDULE, 'maintenance');
    await client.schedules.pause(SCHEDULE);
    await client.schedules.resume(SCHEDULE);
    await client.schedules.trigger(SCHEDULE);
    const range = { from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z' };
    await client.schedules.backfill(SCHEDULE, range);

    const at = `/api/v1/schedules/${SCHEDULE}`;
    expect(calls.map((c) => [c.method, c.url.pathname, c.body])).toEqual([
      ['POST', '/api/v1/schedules', request],
      ['GET', at, undefined],
      ['PATCH', at, { everyMs: 60000 }],
      ['DELETE', at, undefined],
      ['POST', `${at}/pause`, { note: 'maintenance' }],
      ['POST', `${at}/pause`, {}],
      ['POST', `${at}/resume`, {}],
      ['POST', `${at}/trigger`, undefined],
      ['POST', `${at}/backfill`, range],
    ]);
    expect(calls.map(declaredRoute)).not.toContain(undefined);
  });

  it('pages schedules and a schedule’s runs', async () => {
    const { calls, fetch } = fakeFetch([
      json({ items: [{ id: 's1' }], nextCursor: 'n1' }),
      json({ items: [{ id: 's2' }], nextCursor: null }),
      json({ items: [{ id: 'j1' }, { id: 'j2' }], nextCursor: null }),
    ]);
    const client = new Switchyard({ baseUrl: BASE, fetch });
    const schedules: string[] = [];
    for await (const schedule of client.schedules.list({ limit: 1 })) schedules.push(schedule.id);
    const runs: string[] = [];
    for await (const run of client.schedules.runs(SCHEDULE, { limit: 50 })) runs.push(run.id);
    expect({ schedules, runs }).toEqual({ schedules: ['s1', 's2'], runs: ['j1', 'j2'] });
    expect(calls.map((c) => `${c.url.pathname}${c.url.search}`)).toEqual([
      '/api/v1/schedules?limit=1',
      '/api/v1/schedules?limit=1&cursor=n1',
      `/api/v1/schedules/${SCHEDULE}/runs?limit=50`,
    ]);
    expect(calls.map(declaredRoute)).not.toContain(undefined);
  });

  it('throws the API error of a refused call with its code', async () => {
    const { fetch } = fakeFetch([
      json({ error: { code: 'not_found', message: 'schedule x not found', details: [] } }, 404),
    ]);
    const client = new Switchyard({ baseUrl: BASE, fetch });
    await expect(client.schedules.trigger('x')).rejects.toMatchObject({ status: 404, code: 'not_found' });
  });
});
