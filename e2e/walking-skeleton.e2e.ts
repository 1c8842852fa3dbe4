import Redis from 'ioredis';
import { Client } from 'pg';
import { runServiceToExit, TestStack, TEST_SERVICES, waitFor } from '@switchyard/testing';

jest.setTimeout(120000);

interface JobBody {
  id: string;
  status: string;
  priority: number;
  progress: number;
  correlationId: string;
  startedAt: string | null;
  finishedAt: string | null;
  history: { event: string; step: string | null; progress: number; seq: number }[];
  error?: { code: string };
}

describe('a job from POST /api/v1/jobs to completed, across four service processes', () => {
  let stack: TestStack;
  let db: Client;
  let redis: Redis;
  let api: string;

  beforeAll(async () => {
    stack = await TestStack.create();
    await stack.start();
    api = `${stack.service('gateway').url}/api/v1`;
    db = new Client({ connectionString: stack.db.url });
    await db.connect();
    redis = new Redis(TEST_SERVICES.redis);
  });

  afterAll(async () => {
    redis?.disconnect();
    await db?.end();
    await stack?.destroy();
  });

  const auth = () => ({ authorization: `Bearer ${stack.adminKey}` });
  const get = (path: string) => fetch(`${api}${path}`, { headers: auth() });
  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${api}${path}`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...auth(), ...headers },
    });

  it('runs 200 jobs of mixed priorities and steps to completed, with live progress and one correlated log trail', async () => {
    const priorities = [0, 2, 5, 7, 9, 'low', 'normal', 'high', 'critical'];
    const submissions = Array.from({ length: 200 }, (_, i) => ({
      type: 'synthetic',
      priority: priorities[i % priorities.length],
      payload: { durationMs: (i % 4) * 20, steps: i % 6 },
      // Many of these payloads repeat; each submission is meant as its own job, not deduplicated.
      dedupe: false,
    }));
    const traced = 'e2e-trace-0001';
    const responses = await Promise.all(
      submissions.map((s, i) =>
        post('/jobs', JSON.stringify(s), i === 0 ? { 'x-correlation-id': traced } : {}),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(200).fill(202));
    expect(responses[0].headers.get('x-correlation-id')).toBe(traced);
    const jobs = (await Promise.all(responses.map((r) => r.json()))) as JobBody[];
    expect(jobs.map((j) => j.priority).slice(0, 9)).toEqual([0, 2, 5, 7, 9, 2, 5, 7, 9]);

    await waitFor(
      async () => {
        const { rows } = await db.query<{ n: string }>(
          `SELECT count(*) AS n FROM jobs WHERE status = 'completed'`,
        );
        return Number(rows[0].n) === 200;
      },
      { timeoutMs: 60000, intervalMs: 200, what: '200 completed jobs in PostgreSQL' },
    );

    // Live progress in Redis for every job, written by the tracker.
    const live = await waitFor(
      async () => {
        const pipeline = redis.pipeline();
        for (const job of jobs) pipeline.hgetall(`${stack.redisPrefix}job:${job.id}:live`);
        const results = (await pipeline.exec()) ?? [];
        const states = results.map(([, value]) => value as Record<string, string>);
        return states.every((s) => s['status'] === 'completed') ? states : undefined;
      },
      { timeoutMs: 20000, what: 'live state completed for every job' },
    );
    expect(live.every((s) => Number(s['progress']) === 100)).toBe(true);

    // One job in full: timestamps and its persisted step history.
    const withSteps = jobs[5]; // steps: 5
    const detail = (await (await get(`/jobs/${withSteps.id}`)).json()) as JobBody;
    expect(detail.status).toBe('completed');
    expect(detail.progress).toBe(100);
    expect(detail.startedAt).not.toBeNull();
    expect(detail.finishedAt).not.toBeNull();
    await waitFor(
      async () => {
        const d = (await (await get(`/jobs/${withSteps.id}`)).json()) as JobBody;
        return d.history.length === 8 ? d : undefined; // queued, started, 5 × progress, completed
      },
      { what: 'full history of the 5-step job' },
    );
    const history = ((await (await get(`/jobs/${withSteps.id}`)).json()) as JobBody).history;
    expect(history.map((h) => h.event)).toEqual([
      'queued',
      'started',
      'progress',
      'progress',
      'progress',
      'progress',
      'progress',
      'completed',
    ]);
    expect(history.map((h) => h.progress)).toEqual([0, 0, 20, 40, 60, 80, 100, 100]);
    const seqs = history.map((h) => h.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);

    // The traced correlation id appears in the gateway's, the worker's and the tracker's logs.
    const tracedJob = jobs[0].id;
    for (const name of ['gateway', 'worker', 'progress-tracker'] as const) {
      await waitFor(
        () =>
          stack
            .service(name)
            .logs()
            .some(
              (line) =>
                line['correlationId'] === traced && (name === 'gateway' || line['jobId'] === tracedJob),
            ),
        { what: `correlation id in the ${name} logs` },
      );
    }
  });

  it('answers malformed JSON, an unknown type and a schema failure with 400 and the SPEC error shape', async () => {
    const malformed = await post('/jobs', '{"type": "synthetic", ');
    const unknown = await post('/jobs', JSON.stringify({ type: 'no.such.type', payload: {} }));
    const invalid = await post('/jobs', JSON.stringify({ type: 'synthetic', payload: { durationMs: -5 } }));
    const bodies = (await Promise.all([malformed, unknown, invalid].map((r) => r.json()))) as {
      error: { code: string; message: string; details: { field: string }[]; correlationId: string };
    }[];
    expect([malformed.status, unknown.status, invalid.status]).toEqual([400, 400, 400]);
    expect(bodies.map((b) => b.error.code)).toEqual([
      'validation_failed',
      'unknown_job_type',
      'validation_failed',
    ]);
    for (const [i, body] of bodies.entries()) {
      expect(typeof body.error.message).toBe('string');
      expect(Array.isArray(body.error.details)).toBe(true);
      expect(body.error.correlationId).toBe([malformed, unknown, invalid][i].headers.get('x-correlation-id'));
    }
    expect(bodies[2].error.details.map((d) => d.field)).toContain('payload.durationMs');
  });

  it('lists jobs with filters and a cursor', async () => {
    const first = (await (await get('/jobs?status=completed&limit=150')).json()) as {
      items: JobBody[];
      nextCursor: string | null;
    };
    expect(first.items).toHaveLength(150);
    expect(first.nextCursor).not.toBeNull();
    const second = (await (
      await get(`/jobs?status=completed&limit=150&cursor=${first.nextCursor}`)
    ).json()) as { items: JobBody[]; nextCursor: string | null };
    expect(second.items).toHaveLength(50);
    expect(second.nextCursor).toBeNull();
    const ids = new Set([...first.items, ...second.items].map((j) => j.id));
    expect(ids.size).toBe(200);
    const bad = await get('/jobs?limit=500');
    expect(bad.status).toBe(400);
  });

  it('refuses to start with a bad variable and names it', async () => {
    const result = await runServiceToExit('gateway', {
      ...stack.env,
      GATEWAY_PORT: 'not-a-port',
      REDIS_URL: 'http://x',
    });
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('GATEWAY_PORT');
    expect(result.output).toContain('REDIS_URL');
  });
});
