import { randomUUID } from 'node:crypto';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { Client } from 'pg';
import ts from 'typescript';
import { TEST_SERVICES, TestStack, waitFor } from '@switchyard/testing';
import { generateTypes } from './support/openapi-types';

jest.setTimeout(120000);

/**
 * The OpenAPI document the gateway serves is a contract a client can be generated from: every
 * route and every status it documents is exercised against the running gateway, and each real
 * answer must be documented (status, content type) and match its schema (Ajv) and the types
 * openapi-typescript generates from the same document (the TypeScript compiler).
 */

type Method = 'get' | 'post' | 'put' | 'delete' | 'patch';
interface MediaObject {
  schema?: Record<string, unknown>;
}
interface ResponseObject {
  content?: Record<string, MediaObject>;
}
interface Operation {
  tags?: string[];
  responses: Record<string, ResponseObject>;
  security?: unknown[];
}
interface OpenApiDocument {
  paths: Record<string, Partial<Record<Method, Operation>>>;
  components: { schemas: Record<string, Record<string, unknown>>; securitySchemes: Record<string, unknown> };
}

const NIL = '00000000-0000-4000-8000-000000000000';
/** Each API key's write and read bucket: RATE_LIMIT_BURST at 1 token a minute (no refill during the test). */
const BUCKET = 300;
const SCHEMA_BASE = 'https://switchyard.test/components/';

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: unknown;
}
interface Call {
  /** The API key; null sends none. */
  key?: string | null;
  query?: Record<string, string>;
  /** A JSON value, or raw text/bytes with `contentType`. */
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
  /** SSE: stop reading after the first event. */
  firstEventOnly?: boolean;
}

describe('the live OpenAPI document is the contract of the running gateway', () => {
  let stack: TestStack;
  let gateway: string;
  let document: OpenApiDocument;
  let generated: string;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addFormat('binary', true);
  const validators = new Map<string, ValidateFunction>();
  /** `METHOD template status` → the first JSON body seen (typechecked against the generated types). */
  const seen = new Map<string, unknown>();
  const keys: Record<'alpha' | 'readOnly' | 'writeOnly' | 'limited' | 'poller', string> = {
    alpha: '',
    readOnly: '',
    writeOnly: '',
    limited: '',
    poller: '',
  };

  beforeAll(async () => {
    stack = await TestStack.create({
      RATE_LIMIT_WRITE_PER_MIN: '1',
      RATE_LIMIT_READ_PER_MIN: '1',
      RATE_LIMIT_BURST: String(BUCKET),
      UPLOAD_MAX_BYTES: '4096',
      BODY_LIMIT_BYTES: '65536',
      // Webhook deliveries go to this test's own gateway (a path it answers 404), nowhere else.
      WEBHOOK_ALLOW_PRIVATE: 'true',
    });
    // The worker serves the `default` queue only: jobs of the `generation` queue stay queued.
    await stack.start(['gateway', 'worker', 'progress-tracker'], { WORKER_QUEUES: 'default' });
    gateway = stack.service('gateway').url;
    const response = await fetch(`${gateway}/docs/openapi.json`);
    expect(response.status).toBe(200);
    document = (await response.json()) as OpenApiDocument;
    for (const [name, schema] of Object.entries(document.components.schemas)) {
      ajv.addSchema({ ...withAbsoluteRefs(schema), $id: `${SCHEMA_BASE}${name}` });
    }
  });

  afterAll(async () => {
    await stack?.destroy();
  });

  const operations = () =>
    Object.entries(document.paths).flatMap(([path, item]) =>
      Object.entries(item).map(([method, operation]) => ({ path, method: method as Method, operation })),
    );

  /** Calls a documented operation and checks the answer against the document. */
  async function call(method: Method, template: string, params: Record<string, string>, options: Call = {}) {
    const route = `${method.toUpperCase()} ${template}`;
    const operation = document.paths[template]?.[method];
    if (!operation) throw new Error(`${route} is not documented`);
    let path = template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name] ?? ''));
    if (options.query) path += `?${new URLSearchParams(options.query).toString()}`;
    const key = options.key === undefined ? stack.adminKey : options.key;
    const raw = options.contentType !== undefined;
    const response = await fetch(`${gateway}${path}`, {
      method: method.toUpperCase(),
      headers: {
        // A generated client sends its content type on every request, with or without a body.
        'content-type': options.contentType ?? 'application/json',
        ...(key === null ? {} : { authorization: `Bearer ${key}` }),
        ...options.headers,
      },
      body:
        options.body === undefined
          ? undefined
          : raw
            ? (options.body as string | Buffer)
            : JSON.stringify(options.body),
    });
    const type = response.headers.get('content-type');
    const text =
      type?.startsWith('text/event-stream') === true
        ? await readEvents(response, options.firstEventOnly === true)
        : await response.text();
    const answer: Answer = { status: response.status, headers: response.headers, text, body: undefined };
    const documented = operation.responses[String(response.status)];
    const where = `${route} answered ${response.status}`;
    if (!documented) throw new Error(`${where}, which is not documented: ${text.slice(0, 300)}`);
    const media = Object.keys(documented.content ?? {});
    if (media.length === 0) {
      if (text !== '') throw new Error(`${where} with a body (${type}) but documents none`);
    } else {
      const matched = media.find((m) => mediaMatches(m, type));
      if (matched === undefined) throw new Error(`${where} with ${type}, documented: ${media.join(', ')}`);
      if (matched.startsWith('application/json')) {
        answer.body = text === '' ? undefined : (JSON.parse(text) as unknown);
        const schema = documented.content?.[matched]?.schema ?? {};
        const validate = validator(schema);
        if (!validate(answer.body)) {
          throw new Error(`${where} with a body its schema refuses: ${ajv.errorsText(validate.errors)}`);
        }
        if (!seen.has(`${route} ${response.status}`)) seen.set(`${route} ${response.status}`, answer.body);
      } else if (matched.startsWith('text/event-stream')) {
        validateEvents(where, text);
      }
    }
    if (!seen.has(`${route} ${response.status}`)) seen.set(`${route} ${response.status}`, undefined);
    return answer;
  }

  function validator(schema: Record<string, unknown>): ValidateFunction {
    const id = JSON.stringify(schema);
    let validate = validators.get(id);
    if (!validate) {
      validate = ajv.compile(withAbsoluteRefs(schema));
      validators.set(id, validate);
    }
    return validate;
  }

  /** Every `job.*` event of a stream carries a JobEvent; the snapshot comes first. */
  function validateEvents(where: string, text: string) {
    const events = text.split('\n\n').filter((block) => block.startsWith('event:'));
    if (events.length === 0) throw new Error(`${where} with an event stream without events`);
    expect(events[0]).toMatch(/^event: snapshot\n/);
    const validate = validator({ $ref: '#/components/schemas/JobEvent' });
    for (const block of events.filter((b) => b.startsWith('event: job.'))) {
      const data = block.split('\n').find((line) => line.startsWith('data: '));
      const event = JSON.parse(data?.slice(6) ?? 'null') as unknown;
      if (!validate(event))
        throw new Error(`${where}: a JobEvent its schema refuses: ${ajv.errorsText(validate.errors)}`);
    }
  }

  const expectStatus = (answer: Answer, status: number) =>
    expect([answer.status, answer.text.slice(0, 300)]).toEqual([status, expect.any(String)]);

  async function createKey(tenant: string, scopes: string[]): Promise<string> {
    const answer = await call(
      'post',
      '/api/v1/admin/api-keys',
      {},
      {
        body: { tenant, name: `${tenant} ${scopes.join(' ')}`, scopes },
      },
    );
    expectStatus(answer, 201);
    return (answer.body as { key: string }).key;
  }

  async function submit(payload: Record<string, unknown>, key = keys.alpha): Promise<string> {
    const answer = await call(
      'post',
      '/api/v1/jobs',
      {},
      {
        key,
        body: { type: 'synthetic', payload, dedupe: false },
      },
    );
    expectStatus(answer, 202);
    return (answer.body as { id: string }).id;
  }

  /** Polls a job with its own key (its reads stay out of the other keys' buckets). */
  function waitForJob(id: string, done: (job: { status: string; deadLettered: boolean }) => boolean) {
    return waitFor(
      async () => {
        const response = await fetch(`${gateway}/api/v1/jobs/${id}`, {
          headers: { authorization: `Bearer ${keys.poller}` },
        });
        const job = (await response.json()) as { status: string; deadLettered: boolean };
        return done(job) ? job : undefined;
      },
      { timeoutMs: 20000, intervalMs: 100, what: `job ${id}` },
    );
  }

  it('generates a client with openapi-typescript that has every path and typechecks', async () => {
    generated = await generateTypes(document);
    for (const path of Object.keys(document.paths)) expect(generated).toContain(`"${path}": {`);
    expect(typecheck(generated)).toEqual([]);
  });

  it('names one tag per operation and no JWT format for opaque API keys', () => {
    for (const { path, method, operation } of operations()) {
      expect([method, path, operation.tags?.length]).toEqual([method, path, 1]);
    }
    expect(document.components.securitySchemes['bearer']).toEqual(
      expect.not.objectContaining({ bearerFormat: expect.anything() as unknown }),
    );
  });

  it('answers the operational routes as documented', async () => {
    expectStatus(await call('get', '/health/live', {}), 200);
    expectStatus(await call('get', '/health/ready', {}), 200);
    expectStatus(await call('get', '/metrics', {}), 200);
    expectStatus(await call('get', '/api/v1/health', {}, { key: null }), 200);
  });

  it('answers the admin routes as documented', async () => {
    keys.alpha = await createKey('alpha', ['jobs:read', 'jobs:write']);
    keys.readOnly = await createKey('alpha', ['jobs:read']);
    keys.writeOnly = await createKey('alpha', ['jobs:write']);
    keys.limited = await createKey('limited', ['admin']);
    keys.poller = await createKey('ops', ['admin']);
    const doomed = await call(
      'post',
      '/api/v1/admin/api-keys',
      {},
      {
        body: { tenant: 'alpha', name: 'doomed', scopes: ['jobs:read'] },
      },
    );
    expectStatus(
      await call(
        'post',
        '/api/v1/admin/api-keys',
        {},
        { body: { tenant: 'alpha', name: 'x', scopes: ['root'] } },
      ),
      400,
    );
    expectStatus(await call('get', '/api/v1/admin/api-keys', {}, { query: { tenant: 'alpha' } }), 200);
    const id = (doomed.body as { id: string }).id;
    expectStatus(await call('delete', '/api/v1/admin/api-keys/{id}', { id }), 204);
    expectStatus(await call('delete', '/api/v1/admin/api-keys/{id}', { id: NIL }), 404);
    expectStatus(await call('post', '/api/v1/admin/cleanup', {}, { body: { olderThanDays: 30 } }), 200);
    expectStatus(await call('post', '/api/v1/admin/cleanup', {}, { body: { olderThanDays: -1 } }), 400);
  });

  it('answers the catalogue routes as documented', async () => {
    expectStatus(await call('get', '/api/v1/job-types', {}, { key: keys.alpha }), 200);
    expectStatus(await call('get', '/api/v1/queues', {}, { key: keys.alpha }), 200);
    // Pause and resume (admin): idempotent, each answering with the queue's row.
    const paused = await call('post', '/api/v1/queues/{name}/pause', { name: 'generation' });
    expectStatus(paused, 200);
    expect(paused.body).toMatchObject({ queue: 'generation', paused: true, estimatedWaitMs: null });
    expectStatus(await call('post', '/api/v1/queues/{name}/pause', { name: 'generation' }), 200);
    expectStatus(await call('post', '/api/v1/queues/{name}/pause', { name: 'nowhere' }), 404);
    const resumed = await call('post', '/api/v1/queues/{name}/resume', { name: 'generation' });
    expectStatus(resumed, 200);
    expect(resumed.body).toMatchObject({ queue: 'generation', paused: false });
    expectStatus(await call('post', '/api/v1/queues/{name}/resume', { name: 'nowhere' }), 404);
    expectStatus(await call('get', '/api/v1/stats', {}, { key: keys.alpha }), 200);
    expectStatus(await call('get', '/api/v1/stats', {}, { key: keys.alpha, query: { tenant: 'beta' } }), 400);
  });

  let done = '';
  let artifact = '';
  it('answers submissions as documented', async () => {
    const alpha = { key: keys.alpha };
    done = await submit({ steps: 2 });
    artifact = await submit({ resultBytes: 64 });
    const again = { type: 'synthetic', payload: { steps: 1 } };
    expectStatus(await call('post', '/api/v1/jobs', {}, { ...alpha, body: again }), 202);
    expectStatus(await call('post', '/api/v1/jobs', {}, { ...alpha, body: again }), 200);
    const bad = { type: 'synthetic', payload: { bogus: true } };
    expectStatus(await call('post', '/api/v1/jobs', {}, { ...alpha, body: bad }), 400);
    const huge = { type: 'synthetic', payload: {}, metadata: { pad: 'x'.repeat(70000) } };
    expectStatus(await call('post', '/api/v1/jobs', {}, { ...alpha, body: huge }), 413);
    const text = { ...alpha, body: 'hello', contentType: 'text/plain' };
    expectStatus(await call('post', '/api/v1/jobs', {}, text), 415);
    const keyed = (durationMs: number) => ({
      type: 'synthetic',
      payload: { durationMs },
      idempotencyKey: 'contract-key',
    });
    expectStatus(await call('post', '/api/v1/jobs', {}, { ...alpha, body: keyed(1) }), 202);
    expectStatus(await call('post', '/api/v1/jobs', {}, { ...alpha, body: keyed(2) }), 422);

    const batch = { jobs: [{ type: 'synthetic', payload: {}, dedupe: false }] };
    expectStatus(await call('post', '/api/v1/jobs/batch', {}, { ...alpha, body: batch }), 202);
    expectStatus(await call('post', '/api/v1/jobs/batch', {}, { ...alpha, body: { jobs: [] } }), 400);
    expectStatus(await call('post', '/api/v1/jobs/batch', {}, { ...alpha, body: { jobs: [huge] } }), 413);
    expectStatus(await call('post', '/api/v1/jobs/batch', {}, text), 415);
    expectStatus(await call('post', '/api/v1/jobs/batch', {}, { ...alpha, body: { jobs: [keyed(3)] } }), 422);
  });

  it('answers the job reading routes as documented', async () => {
    const alpha = { key: keys.alpha };
    await waitForJob(done, (job) => job.status === 'completed');
    await waitForJob(artifact, (job) => job.status === 'completed');
    expectStatus(await call('get', '/api/v1/jobs/{id}', { id: done }, alpha), 200);
    expectStatus(await call('get', '/api/v1/jobs/{id}', { id: NIL }, alpha), 404);
    const include = { ...alpha, query: { include: 'payload,result', limit: '5' } };
    expectStatus(await call('get', '/api/v1/jobs', {}, include), 200);
    expectStatus(await call('get', '/api/v1/jobs', {}, { ...alpha, query: { limit: '0' } }), 400);
    expectStatus(await call('get', '/api/v1/jobs/{id}/history', { id: done }, alpha), 200);
    const zero = { ...alpha, query: { limit: '0' } };
    expectStatus(await call('get', '/api/v1/jobs/{id}/history', { id: done }, zero), 400);
    expectStatus(await call('get', '/api/v1/jobs/{id}/history', { id: NIL }, alpha), 404);
    expectStatus(await call('get', '/api/v1/jobs/{id}/result', { id: done }, alpha), 200);
    const bytes = await call('get', '/api/v1/jobs/{id}/result', { id: artifact }, alpha);
    expectStatus(bytes, 200);
    expect(bytes.headers.get('content-type')).toBe('application/octet-stream');
    expectStatus(await call('get', '/api/v1/jobs/{id}/result', { id: NIL }, alpha), 404);

    // A finished job's stream replays every event from the start, then closes.
    const replay = { ...alpha, headers: { 'last-event-id': '0' } };
    expectStatus(await call('get', '/api/v1/jobs/{id}/events', { id: done }, replay), 200);
    const badId = { ...alpha, headers: { 'last-event-id': 'abc' } };
    expectStatus(await call('get', '/api/v1/jobs/{id}/events', { id: done }, badId), 400);
    expectStatus(await call('get', '/api/v1/jobs/{id}/events', { id: NIL }, alpha), 404);
    expectStatus(await call('get', '/api/v1/events', {}, { ...alpha, firstEventOnly: true }), 200);
    expectStatus(
      await call('get', '/api/v1/events', {}, { ...alpha, query: { type: 'x'.repeat(101) } }),
      400,
    );
  });

  let queued = '';
  it('answers cancel and retry as documented, with or without a JSON content type on no body', async () => {
    const alpha = { key: keys.alpha };
    const running = await submit({ durationMs: 30000 });
    const alsoRunning = await submit({ durationMs: 30000 });
    await waitForJob(running, (job) => job.status === 'running');
    await waitForJob(alsoRunning, (job) => job.status === 'running');
    const waiting = await call(
      'post',
      '/api/v1/jobs',
      {},
      {
        ...alpha,
        body: { type: 'audio.generate', payload: { prompt: 'a queued job', durationSec: 1 } },
      },
    );
    expectStatus(waiting, 202);
    queued = (waiting.body as { id: string }).id;
    expectStatus(await call('get', '/api/v1/jobs/{id}/result', { id: queued }, alpha), 409);
    expectStatus(await call('post', '/api/v1/jobs/{id}/cancel', { id: queued }, alpha), 200);
    expectStatus(await call('delete', '/api/v1/jobs/{id}', { id: running }, alpha), 202);
    expectStatus(await call('post', '/api/v1/jobs/{id}/cancel', { id: alsoRunning }, alpha), 202);
    expectStatus(await call('delete', '/api/v1/jobs/{id}', { id: queued }, alpha), 409);
    expectStatus(await call('post', '/api/v1/jobs/{id}/cancel', { id: queued }, alpha), 409);
    expectStatus(await call('delete', '/api/v1/jobs/{id}', { id: NIL }, alpha), 404);
    expectStatus(await call('post', '/api/v1/jobs/{id}/cancel', { id: NIL }, alpha), 404);
    await waitForJob(running, (job) => job.status === 'cancelled');
    expectStatus(await call('post', '/api/v1/jobs/{id}/retry', { id: queued }, alpha), 202);
    expectStatus(await call('delete', '/api/v1/jobs/{id}', { id: queued }, alpha), 200);
    expectStatus(await call('post', '/api/v1/jobs/{id}/retry', { id: done }, alpha), 409);
    expectStatus(await call('post', '/api/v1/jobs/{id}/retry', { id: NIL }, alpha), 404);
  });

  it('answers the dead-letter routes as documented', async () => {
    const alpha = { key: keys.alpha };
    const failed = await submit({ fail: 'permanent' });
    await waitForJob(failed, (job) => job.deadLettered);
    expectStatus(await call('get', '/api/v1/dlq', {}, alpha), 200);
    expectStatus(await call('get', '/api/v1/dlq', {}, { ...alpha, query: { limit: '0' } }), 400);
    expectStatus(await call('post', '/api/v1/dlq/{id}/replay', { id: failed }, alpha), 202);
    expectStatus(await call('post', '/api/v1/dlq/{id}/replay', { id: NIL }, alpha), 404);
    await waitForJob(failed, (job) => job.deadLettered);
    expectStatus(
      await call('post', '/api/v1/dlq/replay', {}, { ...alpha, body: { type: 'synthetic' } }),
      202,
    );
    expectStatus(await call('post', '/api/v1/dlq/replay', {}, { ...alpha, body: { typo: 1 } }), 400);
    await waitForJob(failed, (job) => job.deadLettered);
    expectStatus(await call('delete', '/api/v1/dlq/{id}', { id: failed }, alpha), 204);
    expectStatus(await call('delete', '/api/v1/dlq/{id}', { id: NIL }, alpha), 404);
  });

  it('answers the file routes as documented', async () => {
    const upload = (body: Buffer | string, contentType = 'application/octet-stream') =>
      call('post', '/api/v1/files', {}, { key: keys.alpha, body, contentType });
    const stored = await upload(Buffer.alloc(100, 1));
    expectStatus(stored, 201);
    expectStatus(await upload(Buffer.alloc(5000, 1)), 413);
    expectStatus(await upload('{"a":1}', 'application/json'), 415);
    expectStatus(await upload(Buffer.alloc(0)), 400);
    const id = (stored.body as { fileId: string }).fileId;
    expectStatus(await call('get', '/api/v1/files/{id}', { id }, { key: keys.alpha }), 200);
    expectStatus(await call('get', '/api/v1/files/{id}', { id: NIL }, { key: keys.alpha }), 404);
  });

  it('answers the schedule routes as documented', async () => {
    const alpha = { key: keys.alpha };
    const job = { type: 'synthetic', payload: { durationMs: 0 } };
    const created = await call(
      'post',
      '/api/v1/schedules',
      {},
      {
        ...alpha,
        body: { name: 'contract', cron: '0 3 * * *', timezone: 'Europe/Berlin', job, paused: true },
      },
    );
    expectStatus(created, 201);
    const id = (created.body as { id: string }).id;
    const missing = { id: NIL };
    expectStatus(
      await call('post', '/api/v1/schedules', {}, { ...alpha, body: { name: 'x', cron: 'nope', job } }),
      400,
    );
    expectStatus(await call('get', '/api/v1/schedules', {}, alpha), 200);
    expectStatus(await call('get', '/api/v1/schedules', {}, { ...alpha, query: { limit: '0' } }), 400);
    expectStatus(await call('get', '/api/v1/schedules/{id}', { id }, alpha), 200);
    expectStatus(await call('get', '/api/v1/schedules/{id}', missing, alpha), 404);
    expectStatus(
      await call('patch', '/api/v1/schedules/{id}', { id }, { ...alpha, body: { everyMs: 3600000 } }),
      200,
    );
    expectStatus(
      await call('patch', '/api/v1/schedules/{id}', { id }, { ...alpha, body: { everyMs: 1 } }),
      400,
    );
    expectStatus(await call('patch', '/api/v1/schedules/{id}', missing, { ...alpha, body: {} }), 404);
    expectStatus(await call('post', '/api/v1/schedules/{id}/resume', { id }, alpha), 200);
    expectStatus(
      await call('post', '/api/v1/schedules/{id}/resume', { id }, { ...alpha, body: { x: 1 } }),
      400,
    );
    expectStatus(await call('post', '/api/v1/schedules/{id}/resume', missing, alpha), 404);
    expectStatus(
      await call('post', '/api/v1/schedules/{id}/pause', { id }, { ...alpha, body: { note: 'contract' } }),
      200,
    );
    expectStatus(
      await call('post', '/api/v1/schedules/{id}/pause', { id }, { ...alpha, body: { note: 5 } }),
      400,
    );
    expectStatus(await call('post', '/api/v1/schedules/{id}/pause', missing, alpha), 404);
    expectStatus(await call('post', '/api/v1/schedules/{id}/trigger', { id }, alpha), 200);
    expectStatus(await call('post', '/api/v1/schedules/{id}/trigger', missing, alpha), 404);
    const range = { from: '2026-01-01T00:00:00Z', to: '2026-01-01T02:00:00Z' };
    expectStatus(
      await call('post', '/api/v1/schedules/{id}/backfill', { id }, { ...alpha, body: range }),
      200,
    );
    expectStatus(await call('post', '/api/v1/schedules/{id}/backfill', { id }, { ...alpha, body: {} }), 400);
    expectStatus(
      await call('post', '/api/v1/schedules/{id}/backfill', missing, { ...alpha, body: range }),
      404,
    );
    expectStatus(await call('get', '/api/v1/schedules/{id}/runs', { id }, alpha), 200);
    expectStatus(
      await call('get', '/api/v1/schedules/{id}/runs', { id }, { ...alpha, query: { limit: 'x' } }),
      400,
    );
    expectStatus(await call('get', '/api/v1/schedules/{id}/runs', missing, alpha), 404);
    expectStatus(await call('delete', '/api/v1/schedules/{id}', { id }, alpha), 204);
    expectStatus(await call('delete', '/api/v1/schedules/{id}', { id }, alpha), 404);
  });

  it('answers the webhook and job-token routes as documented', async () => {
    const alpha = { key: keys.alpha };
    const created = await call(
      'post',
      '/api/v1/webhooks',
      {},
      { ...alpha, body: { url: `${gateway}/nowhere` } },
    );
    expectStatus(created, 201);
    expectStatus(await call('post', '/api/v1/webhooks', {}, { ...alpha, body: { url: 'ftp://x' } }), 400);
    const id = (created.body as { id: string }).id;
    expectStatus(await call('get', '/api/v1/webhooks', {}, alpha), 200);
    expectStatus(await call('get', '/api/v1/webhooks/{id}', { id }, alpha), 200);
    expectStatus(await call('get', '/api/v1/webhooks/{id}', { id: NIL }, alpha), 404);
    const patch = (p: Record<string, string>, body: unknown) =>
      call('patch', '/api/v1/webhooks/{id}', p, { ...alpha, body });
    expectStatus(await patch({ id }, { description: 'contract' }), 200);
    expectStatus(await patch({ id }, { enabled: 'yes' }), 400);
    expectStatus(await patch({ id: NIL }, {}), 404);
    const rotate = (p: Record<string, string>, body: unknown) =>
      call('post', '/api/v1/webhooks/{id}/rotate-secret', p, { ...alpha, body });
    expectStatus(await rotate({ id }, { overlapSeconds: 0 }), 200);
    expectStatus(await rotate({ id }, { overlapSeconds: -1 }), 400);
    expectStatus(await rotate({ id: NIL }, {}), 404);

    const job = await submit({ durationMs: 0 });
    await waitForJob(job, (j) => j.status === 'completed');
    const deliveries = (p: Record<string, string>, query?: Record<string, string>) =>
      call('get', '/api/v1/webhooks/{id}/deliveries', p, { ...alpha, query });
    const listed = await waitFor(
      async () => {
        const answer = await deliveries({ id });
        return (answer.body as { items: { status: string }[] }).items[0]?.status === 'failed' && answer;
      },
      { timeoutMs: 20000, what: 'the delivery (answered 404, so failed)' },
    );
    expectStatus(listed, 200);
    expectStatus(await deliveries({ id }, { limit: '0' }), 400);
    expectStatus(await deliveries({ id: NIL }), 404);
    const deliveryId = (listed.body as { items: { id: string }[] }).items[0].id;
    const redeliver = (p: Record<string, string>) =>
      call('post', '/api/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver', p, alpha);
    expectStatus(await redeliver({ id, deliveryId }), 202);
    expectStatus(await redeliver({ id, deliveryId: NIL }), 404);
    expectStatus(await call('delete', '/api/v1/webhooks/{id}', { id }, alpha), 204);
    expectStatus(await call('delete', '/api/v1/webhooks/{id}', { id }, alpha), 404);

    const token = (p: Record<string, string>, body: unknown) =>
      call('post', '/api/v1/jobs/{id}/tokens', p, { ...alpha, body });
    expectStatus(await token({ id: job }, { ttlSeconds: 60 }), 201);
    expectStatus(await token({ id: job }, { ttlSeconds: 0 }), 400);
    expectStatus(await token({ id: NIL }, {}), 404);
  });

  it('answers the job log, usage and tenant settings routes as documented', async () => {
    const alpha = { key: keys.alpha };
    await waitForJob(done, (job) => job.status === 'completed');
    expectStatus(await call('get', '/api/v1/jobs/{id}/logs', { id: done }, alpha), 200);
    expectStatus(
      await call('get', '/api/v1/jobs/{id}/logs', { id: done }, { ...alpha, query: { limit: '0' } }),
      400,
    );
    expectStatus(await call('get', '/api/v1/jobs/{id}/logs', { id: NIL }, alpha), 404);
    expectStatus(await call('get', '/api/v1/usage', {}, { ...alpha, query: { groupBy: 'type' } }), 200);
    expectStatus(await call('get', '/api/v1/usage', {}, { ...alpha, query: { groupBy: 'queue' } }), 400);
    const budgets = { body: { budgets: { cost_usd: { perMonth: 1000 } } } };
    expectStatus(await call('put', '/api/v1/admin/tenants/{tenant}', { tenant: 'budgeted' }, budgets), 200);
    const negative = { body: { budgets: { cost_usd: { perMonth: -1 } } } };
    expectStatus(await call('put', '/api/v1/admin/tenants/{tenant}', { tenant: 'budgeted' }, negative), 400);
    expectStatus(await call('get', '/api/v1/admin/tenants/{tenant}', { tenant: 'budgeted' }), 200);
    expectStatus(await call('get', '/api/v1/admin/tenants/{tenant}', { tenant: '-bad' }), 400);
  });

  it('answers the flow-control limit routes (concurrency and rate) as documented', async () => {
    const key = { key: 'contract-gpu' };
    const tooLong = { key: 'k'.repeat(129) };
    expectStatus(await call('put', '/api/v1/limits/concurrency/{key}', key, { body: { max: 2 } }), 200);
    expectStatus(await call('put', '/api/v1/limits/concurrency/{key}', key, { body: { max: -1 } }), 400);
    expectStatus(await call('get', '/api/v1/limits/concurrency/{key}', key), 200);
    expectStatus(await call('get', '/api/v1/limits/concurrency/{key}', tooLong), 400);
    const rate = { key: 'provider:contract' };
    expectStatus(
      await call('put', '/api/v1/limits/rate/{key}', rate, { body: { perMinute: 60, burst: 5 } }),
      200,
    );
    expectStatus(await call('put', '/api/v1/limits/rate/{key}', rate, { body: { perMinute: -1 } }), 400);
    expectStatus(await call('get', '/api/v1/limits/rate/{key}', rate), 200);
    expectStatus(await call('get', '/api/v1/limits/rate/{key}', tooLong), 400);
    expectStatus(await call('get', '/api/v1/limits', {}), 200);
    expectStatus(await call('delete', '/api/v1/limits/concurrency/{key}', key), 204);
    expectStatus(await call('delete', '/api/v1/limits/concurrency/{key}', key), 404);
    expectStatus(await call('delete', '/api/v1/limits/concurrency/{key}', tooLong), 400);
    expectStatus(await call('delete', '/api/v1/limits/rate/{key}', rate), 204);
    expectStatus(await call('delete', '/api/v1/limits/rate/{key}', rate), 404);
    expectStatus(await call('delete', '/api/v1/limits/rate/{key}', tooLong), 400);
  });

  it('answers the console session and dead-letter group routes as documented', async () => {
    const alpha = { key: keys.alpha };
    expectStatus(await call('get', '/api/v1/dlq/groups', {}, alpha), 200);
    const group = { type: 'synthetic', errorCode: 'no_such_code' };
    // Bulk discard shares bulk replay's one call per second per tenant (an earlier test replayed).
    const discarded = await waitFor(
      async () => {
        const answer = await call('post', '/api/v1/dlq/discard', {}, { ...alpha, body: group });
        return answer.status !== 429 && answer;
      },
      { timeoutMs: 5000, what: 'the bulk-replay limiter to let a discard through' },
    );
    expectStatus(discarded, 200);
    expectStatus(await call('post', '/api/v1/dlq/discard', {}, { ...alpha, body: {} }), 400);

    const csrf = { 'x-switchyard-csrf': '1' };
    const signIn = (body: unknown, headers: Record<string, string> = csrf) =>
      call('post', '/api/v1/session', {}, { key: null, body, headers });
    expectStatus(await signIn({ apiKey: keys.alpha }), 201);
    expectStatus(await signIn({ apiKey: keys.alpha }, {}), 403);
    expectStatus(await signIn({ apiKey: 'sy_not-a-key' }), 401);
    expectStatus(await signIn({}), 400);
    expectStatus(await call('get', '/api/v1/session', {}, alpha), 200);
    expectStatus(await call('get', '/api/v1/session', {}, { key: null }), 204);
    expectStatus(await call('delete', '/api/v1/session', {}, { key: null, headers: csrf }), 204);
  });

  /** Parameters that reach each route's guard: ids that exist nowhere, a queue that exists. */
  const params = { id: NIL, deliveryId: NIL, name: 'generation', tenant: 'acme', key: 'contract-gpu' };
  // Open routes (`security: []`, e.g. the console's sign-in) answer 401 for a bad key in their body.
  const authenticated = () =>
    operations().filter(
      ({ operation }) => operation.responses['401'] !== undefined && operation.security?.length !== 0,
    );

  it('answers 401 without a key and 403 without the scope on every authenticated route', async () => {
    for (const { path, method } of authenticated()) {
      expectStatus(await call(method, path, params, { key: null }), 401);
      const admin = path.startsWith('/api/v1/admin/') || path.startsWith('/api/v1/queues/{name}/');
      const key = admin ? keys.alpha : method === 'get' ? keys.writeOnly : keys.readOnly;
      expectStatus(await call(method, path, params, { key }), 403);
    }
  });

  it('answers 429 with Retry-After on every authenticated route once a key’s buckets are empty', async () => {
    const drain = async (method: string, path: string, body?: string) => {
      for (let sent = 0; sent < BUCKET; sent += 50) {
        await Promise.all(
          Array.from({ length: 50 }, async () => {
            const response = await fetch(`${gateway}${path}`, {
              method,
              body,
              headers: { authorization: `Bearer ${keys.limited}`, 'content-type': 'application/json' },
            });
            await response.arrayBuffer();
          }),
        );
      }
    };
    await Promise.all([drain('GET', '/api/v1/queues'), drain('POST', '/api/v1/jobs', '{}')]);
    for (const { path, method } of authenticated()) {
      const answer = await call(method, path, params, { key: keys.limited });
      expectStatus(answer, 429);
      expect(answer.headers.get('retry-after')).toMatch(/^\d+$/);
    }
  });

  it('answers 405 with Allow for a method a documented path does not serve', async () => {
    const validate = validator({ $ref: '#/components/schemas/Error' });
    for (const path of Object.keys(document.paths)) {
      const concrete = path.replace(/\{\w+\}/g, NIL);
      const url = `${gateway}${concrete}`;
      // Every documented path the URL matches serves there (`/jobs/batch` is also `/jobs/{id}`).
      const served = [
        ...new Set(
          Object.entries(document.paths)
            .filter(([other]) => new RegExp(`^${other.replace(/\{\w+\}/g, '[^/]+')}$`).test(concrete))
            .flatMap(([, methods]) => Object.keys(methods).map((m) => m.toUpperCase())),
        ),
      ];
      if (served.includes('GET')) served.push('HEAD');
      const method = ['PATCH', 'PUT'].find((m) => !served.includes(m))!;
      const response = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${stack.adminKey}` },
      });
      const body = (await response.json()) as { error?: { code?: string } };
      expect([path, response.status, body.error?.code]).toEqual([path, 405, 'method_not_allowed']);
      expect(validate(body)).toBe(true);
      expect(response.headers.get('allow')?.split(', ').sort()).toEqual(served.sort());
    }
  });

  it('answers the flow routes as documented', async () => {
    const alpha = { key: keys.alpha };
    const flowOf = (jobs: Record<string, unknown>[]) => ({ jobs });
    const pair = flowOf([
      { ref: 'a', type: 'synthetic', payload: {} },
      { ref: 'b', type: 'synthetic', payload: {}, dependsOn: ['a'] },
    ]);
    const keyed = { ...alpha, headers: { 'idempotency-key': 'contract-flow' } };
    const created = await call('post', '/api/v1/flows', {}, { ...keyed, body: pair });
    expectStatus(created, 202);
    const id = (created.body as { id: string }).id;
    expectStatus(await call('post', '/api/v1/flows', {}, { ...keyed, body: pair }), 200);
    const other = flowOf([{ ref: 'x', type: 'synthetic', payload: {} }]);
    expectStatus(await call('post', '/api/v1/flows', {}, { ...keyed, body: other }), 422);
    const unknownRef = flowOf([{ ref: 'a', type: 'synthetic', payload: {}, dependsOn: ['nope'] }]);
    expectStatus(await call('post', '/api/v1/flows', {}, { ...alpha, body: unknownRef }), 400);
    const huge = flowOf([{ ref: 'a', type: 'synthetic', payload: {}, metadata: { pad: 'x'.repeat(70000) } }]);
    expectStatus(await call('post', '/api/v1/flows', {}, { ...alpha, body: huge }), 413);
    expectStatus(
      await call('post', '/api/v1/flows', {}, { ...alpha, body: 'hello', contentType: 'text/plain' }),
      415,
    );
    expectStatus(await call('get', '/api/v1/flows', {}, { ...alpha, query: { limit: '10' } }), 200);
    expectStatus(await call('get', '/api/v1/flows', {}, { ...alpha, query: { limit: '0' } }), 400);

    const waitForFlow = (flowId: string, status: string) =>
      waitFor(
        async () => {
          const response = await fetch(`${gateway}/api/v1/flows/${flowId}`, {
            headers: { authorization: `Bearer ${keys.poller}` },
          });
          return ((await response.json()) as { status: string }).status === status ? true : undefined;
        },
        { timeoutMs: 20000, intervalMs: 100, what: `flow ${flowId} ${status}` },
      );
    await waitForFlow(id, 'completed');
    const missing = { id: randomUUID() };
    expectStatus(await call('get', '/api/v1/flows/{id}', { id }, alpha), 200);
    expectStatus(await call('get', '/api/v1/flows/{id}', missing, alpha), 404);
    expectStatus(await call('get', '/api/v1/flows/{id}/events', { id }, alpha), 200);
    expectStatus(await call('get', '/api/v1/flows/{id}/events', missing, alpha), 404);
    expectStatus(await call('post', '/api/v1/flows/{id}/retry', { id }, alpha), 409);
    expectStatus(await call('post', '/api/v1/flows/{id}/retry', missing, alpha), 404);
    const token = (p: Record<string, string>, body: unknown) =>
      call('post', '/api/v1/flows/{id}/tokens', p, { ...alpha, body });
    expectStatus(await token({ id }, { ttlSeconds: 60 }), 201);
    expectStatus(await token({ id }, { ttlSeconds: 0 }), 400);
    expectStatus(await token(missing, {}), 404);
    expectStatus(await call('delete', '/api/v1/flows/{id}', { id }, alpha), 200);
    expectStatus(await call('delete', '/api/v1/flows/{id}', missing, alpha), 404);

    const failing = flowOf([{ ref: 'f', type: 'synthetic', payload: { fail: 'permanent' } }]);
    const failed = await call('post', '/api/v1/flows', {}, { ...alpha, body: failing });
    const failedId = (failed.body as { id: string }).id;
    await waitForFlow(failedId, 'failed');
    expectStatus(await call('post', '/api/v1/flows/{id}/retry', { id: failedId }, alpha), 202);
  });

  it('answers 503 while its database is unreachable', async () => {
    const db = new Client({ connectionString: `${TEST_SERVICES.postgres}/postgres` });
    await db.connect();
    const name = stack.db.name;
    try {
      // Only this test's database: nothing can connect to it until it allows connections again.
      await db.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS false`);
      await db.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [name],
      );
      const unavailable = (method: Method, path: string, options: Call = {}) =>
        waitFor(
          async () => {
            const answer = await call(method, path, { id: queued }, options);
            return answer.status === 503 ? answer : undefined;
          },
          { timeoutMs: 15000, intervalMs: 250, what: `503 from ${method} ${path}` },
        );
      await unavailable('get', '/api/v1/health', { key: null });
      await unavailable('get', '/health/ready');
      const body = { type: 'synthetic', payload: {} };
      const admin = { key: keys.poller };
      await unavailable('post', '/api/v1/jobs', { ...admin, body });
      await unavailable('post', '/api/v1/jobs/batch', { ...admin, body: { jobs: [body] } });
      await unavailable('post', '/api/v1/flows', { ...admin, body: { jobs: [{ ref: 'a', ...body }] } });
      await unavailable('post', '/api/v1/jobs/{id}/retry', admin);
      await unavailable('post', '/api/v1/dlq/{id}/replay', admin);
      await unavailable('post', '/api/v1/dlq/replay', { ...admin, body: { all: true } });
    } finally {
      await db.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS true`);
      await db.end();
    }
  });

  it('has been answered with every status it documents, each body of the type generated for it', () => {
    const documented = operations().flatMap(({ path, method, operation }) =>
      Object.keys(operation.responses).map((status) => `${method.toUpperCase()} ${path} ${status}`),
    );
    expect(documented.filter((entry) => !seen.has(entry))).toEqual([]);

    // Each JSON body seen, as a literal of the type openapi-typescript generated for it.
    const checks = [...seen.entries()]
      .filter(([, body]) => body !== undefined)
      .map(([entry, body], i) => {
        const [method, path, status] = entry.split(' ') as [string, string, string];
        const type = `paths[${JSON.stringify(path)}][${JSON.stringify(method.toLowerCase())}]['responses'][${status}]['content']['application/json']`;
        return `export const body${i}: ${type} = ${JSON.stringify(body)};`;
      });
    expect(checks.length).toBeGreaterThan(50);
    expect(typecheck(`${generated}\n${checks.join('\n')}\n`)).toEqual([]);
  });
});

/** `#/components/schemas/X` → the absolute id each component is registered under with Ajv. */
function withAbsoluteRefs(schema: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify(schema).replace(/"#\/components\/schemas\/([A-Za-z]+)"/g, `"${SCHEMA_BASE}$1"`),
  ) as Record<string, unknown>;
}

/** A documented media type matches a response's when the type is the same and its parameters are present. */
function mediaMatches(documented: string, actual: string | null): boolean {
  const parse = (value: string) => {
    const [type = '', ...parameters] = value.split(';').map((part) => part.trim().toLowerCase());
    return { type, parameters };
  };
  if (actual === null) return false;
  const want = parse(documented);
  const got = parse(actual);
  return want.type === got.type && want.parameters.every((p) => got.parameters.includes(p));
}

/** The events of an SSE response: until it closes, or its first event. */
async function readEvents(response: Response, firstOnly: boolean): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  // Leaving the loop cancels the stream.
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    text += decoder.decode(chunk, { stream: true });
    if (firstOnly && /(^|\n\n)event:[^]*?\n\n/.test(text)) break;
  }
  return text;
}

/** Type errors of one TypeScript module (strict), compiled in memory. */
function typecheck(source: string): string[] {
  const file = 'openapi.ts';
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (name) => (name === file ? source : readFile(name));
  host.fileExists = (
    (exists) => (name: string) =>
      name === file || exists(name)
  )(host.fileExists.bind(host));
  host.getSourceFile = (name, version, onError) =>
    name === file ? ts.createSourceFile(file, source, version) : getSourceFile(name, version, onError);
  const program = ts.createProgram([file], options, host);
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n').slice(0, 500));
}
