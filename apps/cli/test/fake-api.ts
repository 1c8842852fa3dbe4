import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ApiErrorBody, JobStatus, JobView, QueueView } from '@switchyard/contracts';

/**
 * Just enough of the gateway (SPEC §4) for the CLI's tests: jobs, list, SSE, cancel, retry,
 * result, queues (with pause and resume), DLQ and health. A `synthetic` job runs when its event stream is opened, so
 * tests control the timing; `{"fail": "permanent"}` makes it fail.
 */
export interface FakeApiOptions {
  apiKey?: string;
  /** A second key that authenticates but lacks the `admin` scope (pause and resume: 403). */
  readerKey?: string;
  /** Pause between progress events. */
  stepMs?: number;
  /** Close the first event stream after this many events, to exercise resuming. */
  dropFirstStreamAfter?: number;
  /** GET /jobs/{id} shows the job still running this long after its terminal event, like a lagging tracker. */
  lagMs?: number;
  /** Body of GET /health/ready and its HTTP status. */
  health?: { status: number; body: unknown };
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export class FakeApi {
  readonly jobs = new Map<string, JobView>();
  /** `GET /queues` rows; pause and resume change them. */
  readonly queues: QueueView[] = [
    {
      queue: 'default',
      ready: 3,
      inFlight: 1,
      consumers: 2,
      backlog: 12,
      released: 3,
      scheduled: 4,
      running: 1,
      paused: false,
      oldestAgeMs: 1500,
      completedPerMinute: 42,
      estimatedWaitMs: 900,
      level: 'ok',
    },
    {
      queue: 'generation',
      ready: 16,
      inFlight: 8,
      consumers: 1,
      backlog: 9000,
      released: 16,
      scheduled: 0,
      running: 8,
      paused: true,
      oldestAgeMs: 600000,
      completedPerMinute: 3,
      estimatedWaitMs: null,
      level: 'warning',
    },
  ];
  readonly requests: RecordedRequest[] = [];
  private server: Server | undefined;
  private streams = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly stale = new Map<string, { until: number; view: JobView }>();

  constructor(readonly options: FakeApiOptions = {}) {}

  get url(): string {
    const address = this.server?.address() as AddressInfo;
    return `http://127.0.0.1:${address.port}`;
  }

  get port(): number {
    return (this.server?.address() as AddressInfo).port;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      void this.handle(req, res);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  addJob(overrides: Partial<JobView> = {}): JobView {
    const job = newJob('synthetic', {}, 5);
    Object.assign(job, overrides);
    this.jobs.set(job.id, job);
    return job;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://fake');
    this.requests.push({
      method: req.method ?? 'GET',
      url: url.pathname + url.search,
      headers: req.headers,
      body,
    });
    res.setHeader('x-correlation-id', String(req.headers['x-correlation-id'] ?? 'corr-fake-1'));

    if (url.pathname === '/health/ready') {
      const health = this.options.health ?? { status: 200, body: { status: 'ok', checks: {} } };
      return send(res, health.status, health.body);
    }
    if (!url.pathname.startsWith('/api/v1/')) return error(res, 404, 'not_found', 'no such route');
    const key = bearer(req);
    if (
      this.options.apiKey !== undefined &&
      key !== this.options.apiKey &&
      (key === undefined || key !== this.options.readerKey)
    ) {
      return error(res, 401, 'unauthorized', 'missing or invalid API key');
    }
    const path = url.pathname.slice('/api/v1'.length);
    const route = `${req.method} ${path}`;

    if (route === 'POST /jobs') return this.submit(res, body);
    if (route === 'GET /jobs') {
      const status = url.searchParams.get('status');
      const type = url.searchParams.get('type');
      const items = [...this.jobs.values()].filter(
        (j) => (status === null || j.status === status) && (type === null || j.type === type),
      );
      return send(res, 200, { items, nextCursor: null });
    }
    if (route === 'GET /queues') return send(res, 200, { items: this.queues });
    const queueAction = /^POST \/queues\/([^/]+)\/(pause|resume)$/.exec(route);
    if (queueAction) {
      const name = decodeURIComponent(queueAction[1] ?? '');
      const queue = this.queues.find((q) => q.queue === name);
      if (!queue) return error(res, 404, 'not_found', `queue "${name}" not found`);
      if (key !== undefined && key === this.options.readerKey) {
        return error(res, 403, 'forbidden', 'this API key lacks the "admin" scope');
      }
      queue.paused = queueAction[2] === 'pause';
      queue.estimatedWaitMs = queue.paused ? null : 900;
      return send(res, 200, queue);
    }
    if (route === 'GET /dlq') {
      return send(res, 200, {
        items: [...this.jobs.values()].filter((j) => j.deadLettered),
        nextCursor: null,
      });
    }
    if (route === 'POST /dlq/replay') {
      // Like the gateway: an empty filter needs `all: true`.
      const filter = (body ?? {}) as Record<string, unknown>;
      if (filter['type'] === undefined && filter['errorCode'] === undefined && filter['all'] !== true) {
        return error(res, 400, 'validation_failed', 'an empty filter needs "all": true');
      }
      return send(res, 202, { replayed: 2 });
    }
    const dlq = /^\/dlq\/([^/]+)(\/replay)?$/.exec(path);
    if (dlq !== null) {
      const entry = this.jobs.get(dlq[1]);
      if (entry === undefined || !entry.deadLettered)
        return error(res, 404, 'not_found', `no dead-lettered job ${dlq[1]}`);
      if (req.method === 'DELETE') {
        this.jobs.delete(entry.id);
        return void res.writeHead(204).end();
      }
      Object.assign(entry, { status: 'queued', deadLettered: false, error: null });
      return send(res, 202, entry);
    }
    if (route === 'GET /admin/api-keys') {
      const keys = [
        {
          id: 'key-1',
          tenant: 'acme',
          name: 'ci',
          scopes: ['jobs:read'],
          createdAt: '2026-01-02T03:04:05.000Z',
          revokedAt: null,
        },
        {
          id: 'key-2',
          tenant: 'other',
          name: 'old',
          scopes: ['jobs:read', 'jobs:write'],
          createdAt: '2026-01-01T00:00:00.000Z',
          revokedAt: '2026-01-03T00:00:00.000Z',
        },
      ];
      const tenant = new URL(req.url ?? '/', 'http://x').searchParams.get('tenant');
      return send(res, 200, { items: keys.filter((k) => tenant === null || k.tenant === tenant) });
    }
    if (route === 'POST /admin/api-keys') return send(res, 201, { id: 'key-1', key: 'sk-live-abc' });
    if (req.method === 'DELETE' && path.startsWith('/admin/api-keys/')) {
      return path === '/admin/api-keys/key-1'
        ? void res.writeHead(204).end()
        : error(res, 404, 'not_found', 'no such key');
    }
    const match = /^\/jobs\/([^/]+)(\/[a-z]+)?$/.exec(path);
    const job = match === null ? undefined : this.jobs.get(decodeURIComponent(match[1]));
    if (match === null) return error(res, 404, 'not_found', `no route ${route}`);
    if (job === undefined) return error(res, 404, 'not_found', `job ${match[1]} not found`);
    switch (`${req.method} ${match[2] ?? ''}`) {
      case 'GET ': {
        const stale = this.stale.get(job.id);
        return send(res, 200, stale !== undefined && Date.now() < stale.until ? stale.view : job);
      }
      case 'GET /events':
        return this.stream(req, res, job);
      case 'DELETE ':
        if (['completed', 'failed', 'cancelled'].includes(job.status)) {
          return error(res, 409, 'not_cancellable', `job is ${job.status}`);
        }
        job.status = 'cancelled';
        return send(res, 200, job);
      case 'POST /retry':
        job.status = 'queued';
        job.attempts = 0;
        job.error = null;
        return send(res, 202, job);
      case 'GET /result':
        if (job.status !== 'completed') return error(res, 409, 'not_completed', `job is ${job.status}`);
        return send(res, 200, job.result);
      default:
        return error(res, 404, 'not_found', `no route ${route}`);
    }
  }

  private submit(res: ServerResponse, body: unknown): void {
    const request = body as { type?: unknown; payload?: unknown; priority?: unknown };
    if (request.type !== 'synthetic') {
      return error(res, 400, 'unknown_job_type', `unknown job type "${String(request.type)}"`, [
        { field: 'type', message: 'must be one of: synthetic' },
      ]);
    }
    const payload = (request.payload ?? {}) as Record<string, unknown>;
    if (typeof payload.durationMs === 'number' && payload.durationMs > 600000) {
      return error(res, 400, 'validation_failed', 'payload does not match the synthetic schema', [
        { field: '/payload/durationMs', message: 'must be <= 600000' },
      ]);
    }
    const job = newJob('synthetic', payload, typeof request.priority === 'number' ? request.priority : 5);
    this.jobs.set(job.id, job);
    send(res, 202, job);
  }

  /** Snapshot, then started → progress × steps → completed/failed, one event per step. */
  private stream(req: IncomingMessage, res: ServerResponse, job: JobView): void {
    this.streams += 1;
    const dropAfter = this.streams === 1 ? this.options.dropFirstStreamAfter : undefined;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(`event: snapshot\ndata: ${JSON.stringify(job)}\n\n`);
    if (isDone(job.status)) return void res.end();
    res.write(': keep-alive\n\n');

    const steps = typeof job.payload.steps === 'number' ? job.payload.steps : 5;
    const fails = job.payload.fail === 'permanent';
    const resumeFrom = Number(req.headers['last-event-id'] ?? 0);
    const plan: { status: JobStatus; progress: number; step: string | null; message: string | null }[] = [
      { status: 'running', progress: 0, step: 'starting', message: null },
    ];
    for (let i = 1; i <= steps; i += 1) {
      const progress = Math.round((100 * i) / (steps + 1));
      if (fails && i > steps / 2) break;
      plan.push({ status: 'running', progress, step: 'working', message: `step ${i} of ${steps}` });
    }
    plan.push(
      fails
        ? { status: 'failed', progress: job.progress, step: 'working', message: 'boom' }
        : { status: 'completed', progress: 100, step: 'done', message: null },
    );
    let sent = 0;
    const emit = (seq: number): void => {
      if (seq > plan.length) return void res.end();
      if (dropAfter !== undefined && sent >= dropAfter) return void res.destroy();
      const next = plan[seq - 1];
      if (seq > resumeFrom) {
        Object.assign(job, {
          status: next.status,
          progress: next.progress,
          step: next.step,
          message: next.message,
        });
        if (next.status === 'running' && job.startedAt === null) job.startedAt = new Date().toISOString();
        if (next.status === 'failed') {
          job.error = { code: 'permanent_error', message: 'synthetic failure requested', retryable: false };
          job.deadLettered = true;
        }
        if (next.status === 'completed') job.result = { ok: true, attempt: 1 };
        if (isDone(next.status)) {
          if (this.options.lagMs !== undefined) {
            this.stale.set(job.id, {
              until: Date.now() + this.options.lagMs,
              view: { ...job, status: 'running' },
            });
          }
          job.finishedAt = new Date().toISOString();
        }
        job.attempts = 1;
        const event = {
          specversion: '1.0',
          id: randomUUID(),
          source: 'switchyard/worker',
          type: `switchyard.job.${next.status === 'running' ? (seq === 1 ? 'started' : 'progress') : next.status}`,
          subject: job.id,
          time: new Date().toISOString(),
          correlationid: job.correlationId,
          datacontenttype: 'application/json',
          data: {
            jobId: job.id,
            tenant: job.tenant,
            type: job.type,
            queue: job.queue,
            attempt: 1,
            seq,
            ...next,
            ...(job.error === null ? {} : { error: job.error }),
          },
        };
        res.write(
          `id: ${seq}\nevent: ${event.type.slice('switchyard.'.length)}\ndata: ${JSON.stringify(event)}\n\n`,
        );
        sent += 1;
      }
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        emit(seq + 1);
      }, this.options.stepMs ?? 5);
      this.timers.add(timer);
    };
    emit(1);
  }
}

function newJob(type: string, payload: Record<string, unknown>, priority: number): JobView {
  return {
    id: randomUUID(),
    type,
    queue: 'default',
    tenant: 'acme',
    status: 'queued',
    priority,
    step: null,
    progress: 0,
    message: null,
    attempts: 0,
    maxAttempts: 3,
    timeoutMs: 600000,
    correlationId: randomUUID(),
    idempotencyKey: null,
    payload,
    metadata: {},
    result: null,
    resultUrl: null,
    error: null,
    createdAt: new Date().toISOString(),
    startedAt: null,
    finishedAt: null,
    nextAttemptAt: null,
    runAt: null,
    cancelRequested: false,
    estimatedWaitMs: 0,
    deadLettered: false,
  };
}

function isDone(status: JobStatus): boolean {
  return status === 'completed' || status === 'failed' || status === 'cancelled';
}

function bearer(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice('Bearer '.length);
  const key = req.headers['x-api-key'];
  return typeof key === 'string' ? key : undefined;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function error(
  res: ServerResponse,
  status: number,
  code: ApiErrorBody['error']['code'],
  message: string,
  details: ApiErrorBody['error']['details'] = [],
): void {
  const body: ApiErrorBody = { error: { code, message, details, correlationId: 'corr-fake-1' } };
  send(res, status, body);
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

/** A port with nothing listening: bind, read the port, close. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
