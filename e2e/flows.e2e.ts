import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { Pool } from 'pg';
import { TestStack, waitFor, type TestApi, type TestJob } from '@switchyard/testing';
import { writeFileSync, mkdirSync } from 'node:fs';
import { switchyard } from './support/cli';
import { at, jobsDb } from './support/dispatch';

jest.setTimeout(180000);

interface FlowJob {
  id: string;
  ref: string;
  type: string;
  status: string;
  attempts: number;
  dependsOn: string[];
  startedAt: string | null;
  finishedAt: string | null;
  error: { code: string } | null;
}
interface Flow {
  id: string;
  status: string;
  counts: Record<string, number>;
  total: number;
  jobs: FlowJob[];
  deduplicated?: boolean;
}
type Job = TestJob & { flowId?: string; ref?: string; waitingFor?: string };

/** A worked example of docs/flows.md: the JSON block after `<!-- flow-example: name -->`. */
function docExample(name: string): { jobs: { ref: string }[] } & Record<string, unknown> {
  const doc = readFileSync(join(__dirname, '..', 'docs', 'flows.md'), 'utf8');
  const block = new RegExp(`<!-- flow-example: ${name} -->\\s*\`\`\`json\\n([\\s\\S]*?)\`\`\``).exec(
    doc,
  )?.[1];
  if (!block) throw new Error(`docs/flows.md has no example ${name}`);
  return JSON.parse(block) as { jobs: { ref: string }[] };
}

/** The stack's grace for cancelled running jobs (SPEC §6), below the 5 s default so the setting shows. */
const CANCEL_GRACE_MS = 2000;
/** The stack's FLOW_MAX_JOBS: the largest flow submitted here has 50 jobs. */
const FLOW_MAX_JOBS = 50;
/**
 * How late a dependant may start after its last dependency finished. The dispatcher releases it in
 * the dependency's completion transaction (no polling), so this is a claim and a start on a busy
 * 2-core machine; a poll of a second or more would not meet it.
 */
const RELEASE_LATENCY_MS = 500;

const quick = (extra: Record<string, unknown> = {}) => ({
  type: 'synthetic',
  payload: { durationMs: 0, ...extra },
});

/**
 * Flows (SPEC §11) end to end: dependencies hold jobs `waiting` until they finish, results pass
 * downstream, failures follow each job's rule, a flow cancels and retries as a whole, and a handler
 * fans out at run time.
 */
describe('flows: jobs that depend on jobs', () => {
  let stack: TestStack;
  let api: TestApi;
  let db: Pool;

  beforeAll(async () => {
    // Short leases, so that a SIGKILLed worker's jobs come back within seconds.
    stack = await TestStack.create({
      WORKER_CONCURRENCY: '4',
      LEASE_MS: '3000',
      SWEEP_INTERVAL_MS: '500',
      CANCEL_GRACE_MS: String(CANCEL_GRACE_MS),
      FLOW_MAX_JOBS: String(FLOW_MAX_JOBS),
    });
    await stack.start(['gateway', 'progress-tracker', 'worker']);
    api = stack.api();
    db = jobsDb(stack);
  });

  afterAll(async () => {
    await db?.end();
    await stack?.destroy();
  });

  async function submit(body: Record<string, unknown>, headers?: Record<string, string>): Promise<Flow> {
    const response = await api.post<Flow>('/flows', body, headers);
    if (response.status !== 202)
      throw new Error(`POST /flows answered ${response.status}: ${JSON.stringify(response.body)}`);
    return response.body;
  }

  const flow = async (id: string) => (await api.get<Flow>(`/flows/${id}`)).body;
  const waitForFlow = (id: string, status: string, timeoutMs = 30000) =>
    waitFor(
      async () => {
        const f = await flow(id);
        return f.status === status ? f : undefined;
      },
      { timeoutMs, intervalMs: 100, what: `flow ${id} ${status}` },
    );
  const byRef = (f: Flow) => new Map(f.jobs.map((j) => [j.ref, j]));

  it('runs a diamond in order: B and C after A, D after both, with their results as ctx.dependencies', async () => {
    const created = await submit({
      name: 'diamond',
      jobs: [
        { ref: 'D', ...quick(), dependsOn: ['B', 'C'] },
        { ref: 'A', ...quick({ durationMs: 300 }) },
        { ref: 'B', ...quick({ durationMs: 200 }), dependsOn: ['A'] },
        { ref: 'C', ...quick({ durationMs: 100 }), dependsOn: ['A'] },
      ],
    });
    expect(created.status).toBe('running');
    expect(created.total).toBe(4);
    // Dependency order in the view: A first, D last.
    expect(created.jobs[0]?.ref).toBe('A');
    expect(created.jobs[3]?.ref).toBe('D');
    const d0 = await api.job<Job>(byRef(created).get('D')!.id);
    expect(d0).toMatchObject({ status: 'waiting', waitingFor: 'dependencies', flowId: created.id, ref: 'D' });

    const done = await waitForFlow(created.id, 'completed');
    const jobs = byRef(done);
    const [a, b, c, d] = ['A', 'B', 'C', 'D'].map((r) => jobs.get(r)!);
    expect(done.counts).toEqual({ completed: 4 });
    expect(at(b.startedAt)).toBeGreaterThanOrEqual(at(a.finishedAt));
    expect(at(c.startedAt)).toBeGreaterThanOrEqual(at(a.finishedAt));
    expect(at(d.startedAt)).toBeGreaterThanOrEqual(Math.max(at(b.finishedAt), at(c.finishedAt)));
    // Released the moment the last dependency completes, not at a later poll.
    const releaseLatency = {
      B: at(b.startedAt) - at(a.finishedAt),
      C: at(c.startedAt) - at(a.finishedAt),
      D: at(d.startedAt) - Math.max(at(b.finishedAt), at(c.finishedAt)),
    };
    for (const [ref, ms] of Object.entries(releaseLatency)) {
      expect({ ref, ms, late: ms > RELEASE_LATENCY_MS }).toEqual({ ref, ms, late: false });
    }
    const dJob = await api.job<Job>(d.id);
    // Each upstream's own result: B and C report A's result they received in turn.
    expect(dJob.result).toEqual({
      ok: true,
      attempt: 1,
      dependencies: {
        B: { ok: true, attempt: 1, dependencies: { A: { ok: true, attempt: 1 } } },
        C: { ok: true, attempt: 1, dependencies: { A: { ok: true, attempt: 1 } } },
      },
    });
  });

  it('a cycle, an unknown ref, one invalid payload among 50, or more than FLOW_MAX_JOBS creates nothing and names the item', async () => {
    const count = async () =>
      Number(
        (
          await db.query<{ n: string }>(
            `SELECT (SELECT count(*) FROM jobs) + (SELECT count(*) FROM flows) AS n`,
          )
        ).rows[0]?.n,
      );
    const before = await count();
    const fifty = Array.from({ length: 50 }, (_, i) => ({
      ref: `j${i}`,
      ...quick(),
      ...(i > 0 ? { dependsOn: [`j${i - 1}`] } : {}),
    }));
    const cases: [string, Record<string, unknown>[], number, string][] = [
      ['a cycle', fifty.map((j, i) => (i === 0 ? { ...j, dependsOn: ['j49'] } : j)), 0, 'dependsOn'],
      [
        'an unknown ref',
        fifty.map((j, i) => (i === 17 ? { ...j, dependsOn: ['nope'] } : j)),
        17,
        'dependsOn',
      ],
      [
        'an invalid payload',
        fifty.map((j, i) => (i === 33 ? { ...j, payload: { durationMs: -5 } } : j)),
        33,
        'payload.durationMs',
      ],
    ];
    for (const [what, jobs, index, field] of cases) {
      const response = await api.post<{
        error: { code: string; details: { index: number; field: string }[] };
      }>('/flows', { jobs });
      expect({ what, status: response.status, code: response.body.error.code }).toEqual({
        what,
        status: 400,
        code: 'flow_invalid',
      });
      expect(response.body.error.details).toContainEqual(expect.objectContaining({ index, field }));
    }
    // One job more than FLOW_MAX_JOBS: the same code (SPEC §11), naming the jobs list.
    const tooMany = await api.post<{ error: { code: string; details: { field: string }[] } }>('/flows', {
      jobs: [...fifty, { ref: 'one-more', ...quick() }],
    });
    expect({ status: tooMany.status, code: tooMany.body.error.code }).toEqual({
      status: 400,
      code: 'flow_invalid',
    });
    expect(tooMany.body.error.details).toEqual([expect.objectContaining({ field: 'jobs' })]);
    expect(await count()).toBe(before);
  });

  it('a failing B fails D under `fail`, runs it under `run`, cancels it under `skip`', async () => {
    const created = await submit({
      jobs: [
        { ref: 'A', ...quick() },
        { ref: 'B', ...quick({ fail: 'permanent' }), dependsOn: ['A'] },
        { ref: 'Dfail', ...quick(), dependsOn: ['B'] },
        { ref: 'Drun', ...quick(), dependsOn: ['B'], onDependencyFailure: 'run' },
        { ref: 'Dskip', ...quick(), dependsOn: ['B'], onDependencyFailure: 'skip' },
        { ref: 'E', ...quick(), dependsOn: ['Dfail'] },
      ],
    });
    const done = await waitForFlow(created.id, 'failed');
    const jobs = byRef(done);
    expect(jobs.get('B')).toMatchObject({ status: 'failed' });
    expect(jobs.get('Dfail')).toMatchObject({ status: 'failed', error: { code: 'dependency_failed' } });
    // Transitively: E depended on Dfail.
    expect(jobs.get('E')).toMatchObject({ status: 'failed', error: { code: 'dependency_failed' } });
    expect(jobs.get('Drun')).toMatchObject({ status: 'completed' });
    expect(jobs.get('Dskip')).toMatchObject({ status: 'cancelled', error: { code: 'dependency_failed' } });
    const dfail = await api.job<Job>(jobs.get('Dfail')!.id);
    expect(dfail.deadLettered).toBe(true);
    expect(dfail.startedAt).toBeNull();
  });

  it('POST /flows/{id}/retry after the cause is gone completes the flow without re-running A', async () => {
    // B fails its first attempt (its only one); a flow retry's attempt numbers continue, so it succeeds.
    const created = await submit({
      jobs: [
        { ref: 'A', ...quick() },
        { ref: 'B', ...quick({ failAttempts: 1 }), maxAttempts: 1, dependsOn: ['A'] },
        { ref: 'D', ...quick(), dependsOn: ['B'] },
      ],
    });
    const failed = await waitForFlow(created.id, 'failed');
    const a = byRef(failed).get('A')!;
    expect(byRef(failed).get('D')).toMatchObject({ status: 'failed', error: { code: 'dependency_failed' } });
    const retried = await api.post<{ retried: number }>(`/flows/${created.id}/retry`);
    expect(retried.status).toBe(202);
    expect(retried.body.retried).toBe(2);
    const done = await waitForFlow(created.id, 'completed');
    expect(byRef(done).get('A')).toMatchObject({
      attempts: 1,
      startedAt: a.startedAt,
      finishedAt: a.finishedAt,
    });
    expect(byRef(done).get('B')).toMatchObject({ status: 'completed', attempts: 2 });
    expect(byRef(done).get('D')).toMatchObject({ status: 'completed', attempts: 1 });
    expect((await api.post(`/flows/${created.id}/retry`)).status).toBe(409);
  });

  it('cancelling a flow with jobs waiting, queued and running ends all of them cancelled within CANCEL_GRACE_MS', async () => {
    // 4 slots on the default queue: 4 long jobs run, 2 stay queued, 1 waits for them.
    const long = (ref: string) => ({ ref, ...quick({ durationMs: 60000, steps: 60, ignoreAbort: true }) });
    const roots = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'];
    const created = await submit({
      jobs: [...roots.map(long), { ref: 'last', ...quick(), dependsOn: roots }],
    });
    await waitFor(
      async () => {
        const f = await flow(created.id);
        return f.counts['running'] === 4 && f.counts['queued'] === 2 && f.counts['waiting'] === 1;
      },
      { timeoutMs: 20000, what: 'four running, two queued, one waiting' },
    );
    const cancelledAt = Date.now();
    const response = await api.delete<{ cancelled: number; cancelRequested: number }>(`/flows/${created.id}`);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ cancelled: 3, cancelRequested: 4 });
    const done = await waitForFlow(created.id, 'cancelled', 15000);
    expect(done.counts).toEqual({ cancelled: 7 });
    // finishedAt is the database's clock (same host) when each job was marked cancelled, and
    // cancelledAt was taken before the DELETE was sent: this test's polling of the flow does not
    // enter the measurement, so no allowance is added to CANCEL_GRACE_MS.
    const lastFinished = Math.max(...done.jobs.map((j) => at(j.finishedAt)));
    expect(lastFinished - cancelledAt).toBeLessThanOrEqual(CANCEL_GRACE_MS);
  });

  it('passes audio.generate’s WAV to audio.analyze ({fromDependency}) with no client upload (docs/flows.md)', async () => {
    const created = await submit(docExample('audio-pipeline'));
    const done = await waitForFlow(created.id, 'completed', 60000);
    const analysis = (await api.job<Job>(byRef(done).get('analyze')!.id)).result as {
      format: { container: string; durationSec: number; sampleRate: number };
    };
    expect(analysis.format.container).toMatch(/wav/i);
    expect(analysis.format.durationSec).toBeCloseTo(3, 1);
    // fromDependency must name a dependency of the job.
    const refused = await api.post<{ error: { code: string; details: { index: number; field: string }[] } }>(
      '/flows',
      {
        jobs: [
          { ref: 'gen', type: 'audio.generate', payload: { prompt: 'x', durationSec: 1 } },
          { ref: 'analyze', type: 'audio.analyze', payload: { fromDependency: 'gen' } },
        ],
      },
    );
    expect(refused.status).toBe(400);
    expect(refused.body.error.details).toContainEqual(
      expect.objectContaining({ index: 1, field: 'payload.fromDependency' }),
    );
  });

  it('Idempotency-Key covers the whole flow: same request replays it, another one is refused', async () => {
    const body = { jobs: [{ ref: 'only', ...quick() }] };
    const key = `flow-${Date.now()}`;
    const first = await submit(body, { 'idempotency-key': key });
    const again = await api.post<Flow>('/flows', body, { 'idempotency-key': key });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: first.id, deduplicated: true });
    const other = await api.post(
      '/flows',
      { jobs: [{ ref: 'other', ...quick() }] },
      { 'idempotency-key': key },
    );
    expect(other.status).toBe(422);
    const listed = await api.get<{ items: { id: string }[] }>('/flows?limit=200');
    expect(listed.body.items.filter((f) => f.id === first.id)).toHaveLength(1);
  });

  it('streams every member’s events (SSE) until the flow ends; other tenants see nothing of it', async () => {
    const acmeKey = (await stack.createApiKey('acme-flows')).key;
    const acme = stack.api(acmeKey);
    const globex = stack.api((await stack.createApiKey('globex-flows')).key);
    const created = await acme.post<Flow>('/flows', {
      jobs: [
        { ref: 'A', ...quick({ durationMs: 300, steps: 2 }) },
        { ref: 'B', ...quick({ durationMs: 100 }), dependsOn: ['A'] },
      ],
    });
    expect(created.status).toBe(202);
    const id = created.body.id;
    const ids = new Set(created.body.jobs.map((j) => j.id));

    const response = await fetch(`${acme.baseUrl}/api/v1/flows/${id}/events`, {
      headers: { authorization: `Bearer ${acmeKey}`, accept: 'text/event-stream' },
    });
    expect(response.status).toBe(200);
    const messages: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (m) => messages.push(m) });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    const deadline = Date.now() + 20000;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(decoder.decode(value, { stream: true }));
      if (Date.now() > deadline) throw new Error('the flow stream did not end');
    }
    expect(messages[0]?.event).toBe('snapshot');
    expect((JSON.parse(messages[0].data) as Flow).id).toBe(id);
    const completed = messages
      .filter((m) => m.event === 'job.completed')
      .map((m) => (JSON.parse(m.data) as { data: { jobId: string; flowId: string } }).data);
    expect(new Set(completed.map((d) => d.jobId))).toEqual(ids);
    expect(completed.every((d) => d.flowId === id)).toBe(true);
    expect(messages.some((m) => m.event === 'job.progress')).toBe(true);
    expect((await acme.get<Flow>(`/flows/${id}`)).body.status).toBe('completed');

    for (const [method, path] of [
      ['GET', `/flows/${id}`],
      ['GET', `/flows/${id}/events`],
      ['DELETE', `/flows/${id}`],
      ['POST', `/flows/${id}/retry`],
    ] as const) {
      expect({ method, path, status: (await globex.request(method, path)).status }).toEqual({
        method,
        path,
        status: 404,
      });
    }
    const theirs = await globex.get<{ items: { id: string }[] }>('/flows?limit=200');
    expect(theirs.body.items.map((f) => f.id)).not.toContain(id);
    const mine = await acme.get<{ items: { id: string }[]; nextCursor: string | null }>('/flows?limit=1');
    expect(mine.body.items.map((f) => f.id)).toEqual([id]);
    expect(mine.body.nextCursor).toBeNull();
    expect((await acme.get(`/flows?cursor=bogus`)).status).toBe(400);
  });

  it('a handler spawning 100 children plus a continuation: it runs once, after all 100, with their results (docs/flows.md)', async () => {
    const created = await submit(docExample('fan-out'));
    const done = await waitForFlow(created.id, 'completed', 60000);
    expect(done.total).toBe(103);
    // `report` depended on the spawning job itself.
    expect(at(byRef(done).get('report')!.startedAt)).toBeGreaterThanOrEqual(
      at(byRef(done).get('split')!.finishedAt),
    );
    const continuation = byRef(done).get('split.continuation')!;
    const children = done.jobs.filter((j) => /^split\.\d+$/.test(j.ref));
    expect(children).toHaveLength(100);
    expect(continuation).toMatchObject({ status: 'completed', attempts: 1 });
    expect(at(continuation.startedAt)).toBeGreaterThanOrEqual(
      Math.max(...children.map((c) => at(c.finishedAt))),
    );
    const result = (await api.job<Job>(continuation.id)).result as { dependencies: Record<string, unknown> };
    expect(Object.keys(result.dependencies)).toHaveLength(100);
    expect(result.dependencies['split.42']).toEqual({ ok: true, attempt: 1 });
  });

  it('a SIGKILLed worker during the fan-out loses nothing and creates no duplicate child', async () => {
    const created = await submit({
      jobs: [
        {
          ref: 'split',
          type: 'synthetic',
          // The parent keeps running after spawning: the kill lands between its spawn and its completion,
          // with its children running.
          payload: { fanOut: { children: 100, child: { durationMs: 300 }, holdMs: 4000 } },
        },
      ],
    });
    const parentId = created.jobs[0].id;
    await waitFor(
      async () =>
        Number(
          (await db.query<{ n: string }>(`SELECT count(*) AS n FROM jobs WHERE spawned_by = $1`, [parentId]))
            .rows[0]?.n,
        ) === 101 && (await api.job(parentId)).status === 'running',
      { timeoutMs: 20000, what: 'the children spawned, the parent still running' },
    );
    await waitFor(async () => ((await flow(created.id)).counts['running'] ?? 0) >= 3, {
      timeoutMs: 10000,
      what: 'children running',
    });
    expect(await stack.service('worker').stop('SIGKILL')).not.toBe(0);
    // The replacement keeps running for the tests after this one (the stack stops it).
    await stack.spawn('worker');
    const done = await waitForFlow(created.id, 'completed', 90000);
    const parent = byRef(done).get('split')!;
    // The parent ran again after its lease expired: its second spawn found the first one's children.
    expect(parent.attempts).toBe(2);
    const counts = await db.query<{ n: string; distinct_index: string }>(
      `SELECT count(*) AS n, count(DISTINCT spawn_index) AS distinct_index FROM jobs WHERE spawned_by = $1`,
      [parentId],
    );
    expect(counts.rows[0]).toEqual({ n: '101', distinct_index: '101' });
    expect(done.total).toBe(102);
    const continuation = byRef(done).get('split.continuation')!;
    const children = done.jobs.filter((j) => /^split\.\d+$/.test(j.ref));
    expect(children.every((c) => c.status === 'completed')).toBe(true);
    expect(continuation.attempts).toBe(1);
    expect(at(continuation.startedAt)).toBeGreaterThanOrEqual(
      Math.max(...children.map((c) => at(c.finishedAt))),
    );
    const result = (await api.job<Job>(continuation.id)).result as {
      dependencies: Record<string, unknown>;
    };
    expect(Object.keys(result.dependencies)).toHaveLength(100);
  });

  it('switchyard flow submit --watch shows a line per job in dependency order and the outcome; get, list, cancel, retry', async () => {
    const env = {
      SWITCHYARD_URL: stack.service('gateway').url,
      SWITCHYARD_API_KEY: stack.adminKey,
      HOME: '/nonexistent',
    };
    const dir = join(__dirname, '..', 'tmp', stack.id);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'flow.json');
    writeFileSync(
      file,
      JSON.stringify({
        name: 'cli',
        jobs: [
          { ref: 'last', ...quick({ durationMs: 100 }), dependsOn: ['first', 'middle'] },
          { ref: 'middle', ...quick({ durationMs: 300, steps: 3 }), dependsOn: ['first'] },
          { ref: 'first', ...quick({ durationMs: 200 }) },
        ],
      }),
    );
    const watched = await switchyard(['flow', 'submit', file, '--watch'], env);
    expect(watched.code).toBe(0);
    const lines = watched.output.split('\n');
    const firstLine = (ref: string) => lines.findIndex((l) => l.startsWith(`${ref} `));
    expect(firstLine('first')).toBeGreaterThanOrEqual(0);
    expect(firstLine('first')).toBeLessThan(firstLine('middle'));
    expect(firstLine('middle')).toBeLessThan(firstLine('last'));
    expect(lines.some((l) => /^last\s+100% completed/.test(l))).toBe(true);
    const id = /flow ([0-9a-f-]{36}) completed/.exec(watched.output)?.[1];
    expect(id).toBeDefined();

    const got = await switchyard(['flow', 'get', id!], env);
    expect(got.code).toBe(0);
    expect(got.output).toContain('completed');
    expect(got.output).toMatch(/last\s.*first,middle/);
    const listed = await switchyard(['flow', 'list', '--json', '--limit', '200'], env);
    expect((JSON.parse(listed.output) as { items: { id: string }[] }).items.map((f) => f.id)).toContain(id);

    writeFileSync(
      file,
      JSON.stringify({
        jobs: [
          { ref: 'slow', ...quick({ durationMs: 60000, steps: 60 }) },
          { ref: 'after', ...quick(), dependsOn: ['slow'] },
        ],
      }),
    );
    const submitted = await switchyard(['flow', 'submit', file, '--json'], env);
    const flowId = (JSON.parse(submitted.output) as Flow).id;
    await api.waitForJob(
      (JSON.parse(submitted.output) as Flow).jobs[0].id,
      (j) => j.status === 'running',
      15000,
    );
    const cancelled = await switchyard(['flow', 'cancel', flowId], env);
    expect(cancelled.code).toBe(0);
    expect(cancelled.output).toContain('cancelled 1 job(s)');
    await waitForFlow(flowId, 'cancelled', 15000);
    const watchedCancelled = await switchyard(['flow', 'watch', flowId], env);
    expect(watchedCancelled.code).toBe(4);
    const retried = await switchyard(['flow', 'retry', flowId], env);
    expect(retried.code).toBe(0);
    expect(retried.output).toContain('re-queued 2 job(s)');
    expect((await switchyard(['flow', 'cancel', flowId], env)).code).toBe(0);
  });
});
