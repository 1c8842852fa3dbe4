import { Switchyard } from './client';
import { retryAfterMs, SwitchyardConnectionError, SwitchyardError } from './errors';

/** What a fake fetch answers, call after call: a response, or an error to throw. */
type Answer = Response | Error | (() => Response);

interface Call {
  url: string;
  method: string;
  headers: Headers;
  body: unknown;
  at: number;
}

/** A fetch that answers from a script and records every call (with the fake clock's time). */
function fakeFetch(answers: Answer[]): { fetch: typeof fetch; calls: Call[] } {
  const calls: Call[] = [];
  const fake: typeof fetch = (input, init = {}) => {
    calls.push({
      url: typeof input === 'string' ? input : input instanceof URL ? input.href : input.url,
      method: init.method ?? 'GET',
      headers: new Headers(init.headers),
      body: init.body,
      at: Date.now(),
    });
    const answer = answers.shift();
    if (answer === undefined) return Promise.reject(new Error('the fake fetch has no more answers'));
    if (answer instanceof Error) return Promise.reject(answer);
    return Promise.resolve(typeof answer === 'function' ? answer() : answer);
  };
  return { fetch: fake, calls };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

const apiError = (code: string, message: string, extra: Record<string, unknown> = {}) => ({
  error: { code, message, ...extra },
});

const job = { id: 'j1', status: 'queued' };

function client(answers: Answer[], options: { maxRetries?: number } = {}) {
  const fake = fakeFetch(answers);
  return {
    sdk: new Switchyard({ baseUrl: 'http://gw.test/', apiKey: 'k1', fetch: fake.fetch, ...options }),
    ...fake,
  };
}

/** Lets the client run until its next timer, then moves the fake clock `ms` on. */
async function advance(ms: number): Promise<void> {
  await jest.advanceTimersByTimeAsync(ms);
}

describe('Switchyard client: retries of 429 and 503', () => {
  beforeEach(() => jest.useFakeTimers({ now: Date.parse('2026-12-06T08:00:00Z') }));
  afterEach(() => jest.useRealTimers());

  it('waits the Retry-After seconds of a 429, then sends the same request again', async () => {
    const { sdk, calls } = client([
      json(429, apiError('rate_limited', 'slow down'), { 'retry-after': '2' }),
      json(202, job),
    ]);
    const submitted = sdk.submit({ type: 'synthetic', payload: { n: 1 } }, { idempotencyKey: 'idem-1' });
    await advance(1999);
    expect(calls).toHaveLength(1);
    await advance(1);
    await expect(submitted).resolves.toEqual(job);
    expect(calls).toHaveLength(2);
    expect(calls[1].at - calls[0].at).toBe(2000);
    for (const call of calls) {
      expect(call).toMatchObject({ url: 'http://gw.test/api/v1/jobs', method: 'POST' });
      expect(call.body).toBe(JSON.stringify({ type: 'synthetic', payload: { n: 1 } }));
      expect(call.headers.get('authorization')).toBe('Bearer k1');
      expect(call.headers.get('idempotency-key')).toBe('idem-1');
    }
  });

  it('reads a 503’s Retry-After as an HTTP date', async () => {
    const in5s = new Date(Date.now() + 5000).toUTCString();
    const { sdk, calls } = client([
      json(503, apiError('unavailable', 'busy'), { 'retry-after': in5s }),
      json(200, job),
    ]);
    const got = sdk.get('j1');
    await advance(4999);
    expect(calls).toHaveLength(1);
    await advance(1);
    await expect(got).resolves.toEqual(job);
    expect(calls).toHaveLength(2);
  });

  it('backs off 500 ms then 1 s without Retry-After, honours it when given, and gives up after maxRetries with the last error', async () => {
    const { sdk, calls } = client(
      [
        json(503, apiError('unavailable', 'one')),
        json(503, apiError('unavailable', 'two')),
        json(429, apiError('rate_limited', 'three'), { 'retry-after': '1' }),
        json(429, apiError('rate_limited', 'four'), { 'retry-after': '7' }),
        json(200, job),
      ],
      { maxRetries: 3 },
    );
    const got = sdk.get('j1');
    const outcome = got.catch((error: unknown) => error);
    await advance(60000);
    const error = await outcome;
    expect(error).toBeInstanceOf(SwitchyardError);
    expect(error).toMatchObject({ status: 429, code: 'rate_limited', message: 'four', retryAfterMs: 7000 });
    expect(calls).toHaveLength(4);
    expect(calls.slice(1).map((c, i) => c.at - calls[i].at)).toEqual([500, 1000, 1000]);
  });

  it('caps a long Retry-After at 60 s', async () => {
    const { sdk, calls } = client([
      json(429, apiError('rate_limited', 'later'), { 'retry-after': '3600' }),
      json(200, job),
    ]);
    const got = sdk.get('j1');
    await advance(60000);
    await expect(got).resolves.toEqual(job);
    expect(calls[1].at - calls[0].at).toBe(60000);
  });

  it('retries nothing else: 500, 400 and 404 are thrown at once', async () => {
    for (const status of [500, 400, 404]) {
      const { sdk, calls } = client([json(status, apiError('x', 'no')), json(200, job)]);
      await expect(sdk.get('j1')).rejects.toMatchObject({ status });
      expect(calls).toHaveLength(1);
    }
  });

  it('does not retry when asked not to, nor a body it cannot send twice', async () => {
    const throttled = () => json(429, apiError('rate_limited', 'slow down'), { 'retry-after': '1' });
    const once = client([throttled(), json(200, job)]);
    await expect(once.sdk.json('GET', '/jobs/j1', { retry: false })).rejects.toMatchObject({ status: 429 });
    expect(once.calls).toHaveLength(1);
    const upload = client([throttled(), json(201, { fileId: 'f1' })]);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('abc'));
        controller.close();
      },
    });
    await expect(upload.sdk.json('POST', '/files', { rawBody: stream })).rejects.toMatchObject({
      status: 429,
      code: 'rate_limited',
    });
    expect(upload.calls).toHaveLength(1);
  });

  it('stops waiting when the caller aborts', async () => {
    const { sdk, calls } = client([json(429, apiError('rate_limited', 'slow'), { 'retry-after': '30' })]);
    const abort = new AbortController();
    const got = sdk.get('j1', { signal: abort.signal }).catch((error: unknown) => error);
    await advance(1000);
    const reason = new Error('caller gave up');
    abort.abort(reason);
    expect(await got).toBe(reason);
    await advance(60000);
    expect(calls).toHaveLength(1);
  });
});

describe('Switchyard client: errors', () => {
  it('maps the API’s error shape to SwitchyardError with its code, details and correlation id', async () => {
    const { sdk } = client([
      json(
        400,
        apiError('validation_failed', 'bad job', {
          details: [{ index: 1, field: 'type', message: 'required' }],
          correlationId: 'corr-body',
        }),
        { 'x-correlation-id': 'corr-header' },
      ),
    ]);
    const error = await sdk.submitBatch([{ type: 'a', payload: {} }]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SwitchyardError);
    expect(error).toMatchObject({
      name: 'SwitchyardError',
      status: 400,
      code: 'validation_failed',
      message: 'bad job',
      details: [{ index: 1, field: 'type', message: 'required' }],
      correlationId: 'corr-body',
      retryAfterMs: undefined,
    });
    expect((error as SwitchyardError).body).toEqual(
      apiError('validation_failed', 'bad job', {
        details: [{ index: 1, field: 'type', message: 'required' }],
        correlationId: 'corr-body',
      }),
    );
  });

  it('takes the correlation id from the header when the body has none', async () => {
    const { sdk } = client([
      json(404, apiError('not_found', 'job j1 not found'), { 'x-correlation-id': 'c-9' }),
    ]);
    await expect(sdk.get('j1')).rejects.toMatchObject({
      status: 404,
      code: 'not_found',
      details: [],
      correlationId: 'c-9',
    });
  });

  it('names a body that is not the API’s (a proxy’s page, or nothing) by its HTTP status', async () => {
    const page = `<html>${'x'.repeat(500)}</html>`;
    const { sdk } = client([
      new Response(page, { status: 502, headers: { 'content-type': 'text/html' } }),
      new Response('', { status: 500, statusText: 'Internal Server Error' }),
      json(409, { error: { code: 42 } }),
    ]);
    const proxy = (await sdk.get('j1').catch((e: unknown) => e)) as SwitchyardError;
    expect(proxy).toMatchObject({ status: 502, code: 'http_502', body: page });
    expect(proxy.message).toBe(page.slice(0, 200));
    await expect(sdk.get('j1')).rejects.toMatchObject({
      status: 500,
      code: 'http_500',
      message: 'Internal Server Error',
    });
    await expect(sdk.get('j1')).rejects.toMatchObject({ status: 409, code: 'http_409' });
  });

  it('throws SwitchyardConnectionError when nothing answers', async () => {
    const refused = new TypeError('fetch failed', {
      cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
    });
    const { sdk, calls } = client([refused]);
    const error = await sdk.get('j1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SwitchyardConnectionError);
    expect(error).toMatchObject({
      code: 'connection_failed',
      reason: 'ECONNREFUSED',
      url: 'http://gw.test/',
    });
    expect((error as Error).cause).toBe(refused);
    expect(calls).toHaveLength(1);
  });

  it('reads Retry-After as seconds or a date, and nothing else', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('2', now)).toBe(2000);
    expect(retryAfterMs(' 0 ', now)).toBe(0);
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30000);
    expect(retryAfterMs('Wed, 31 Dec 2025 23:59:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs('', now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });
});

describe('Switchyard client: watch', () => {
  const encoder = new TextEncoder();

  /** An event stream that sends `text`, then fails as a reset connection would (or ends). */
  function eventStream(text: string, then: 'reset' | 'end'): Response {
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (!sent) {
          sent = true;
          controller.enqueue(encoder.encode(text));
        } else if (then === 'reset') {
          controller.error(new TypeError('terminated'));
        } else {
          controller.close();
        }
      },
    });
    return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
  }

  const message = (event: string, id: number | undefined, data: unknown) =>
    `event: ${event}\n${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`;

  it('resumes a dropped stream with the id of the last event received as Last-Event-ID', async () => {
    const { sdk, calls } = client([
      eventStream(
        message('snapshot', undefined, { id: 'j1', status: 'running', seq: 2 }) +
          message('job.progress', 3, { seq: 3 }) +
          message('job.progress', 4, { seq: 4 }) +
          'event: job.progress\nid: 5\ndata: {"se', // cut mid-message: never yielded
        'reset',
      ),
      eventStream(
        message('snapshot', undefined, { id: 'j1', status: 'running', seq: 4 }) +
          message('job.progress', 5, { seq: 5 }) +
          message('job.completed', 6, { seq: 6 }),
        'end',
      ),
    ]);
    const seen: (string | undefined)[] = [];
    for await (const event of sdk.watch('j1')) seen.push(`${event.event}:${event.id ?? '-'}`);
    expect(seen).toEqual([
      'snapshot:-',
      'job.progress:3',
      'job.progress:4',
      'snapshot:-',
      'job.progress:5',
      'job.completed:6',
    ]);
    expect(calls.map((c) => [c.url, c.headers.get('last-event-id'), c.headers.get('accept')])).toEqual([
      ['http://gw.test/api/v1/jobs/j1/events', null, 'text/event-stream'],
      ['http://gw.test/api/v1/jobs/j1/events', '4', 'text/event-stream'],
    ]);
  });

  it('ends at a snapshot of a job that has already finished (one request, no reconnect)', async () => {
    const { sdk, calls } = client([
      eventStream(message('snapshot', undefined, { id: 'j1', status: 'completed', seq: 3 }), 'end'),
    ]);
    const seen: string[] = [];
    for await (const event of sdk.watch('j1', { maxReconnects: 2 })) seen.push(event.event);
    expect(seen).toEqual(['snapshot']);
    expect(calls).toHaveLength(1);
  });

  it('gives up after maxReconnects dropped streams', async () => {
    const { sdk, calls } = client([
      eventStream(message('job.progress', 7, {}), 'reset'),
      eventStream(message('job.progress', 8, {}), 'reset'),
    ]);
    const seen: string[] = [];
    const watching = (async () => {
      for await (const event of sdk.watch('j1', { maxReconnects: 1, lastEventId: '6' }))
        seen.push(String(event.id));
    })();
    await expect(watching).rejects.toBeInstanceOf(SwitchyardConnectionError);
    expect(seen).toEqual(['7', '8']);
    expect(calls.map((c) => c.headers.get('last-event-id'))).toEqual(['6', '7']);
  });
});
