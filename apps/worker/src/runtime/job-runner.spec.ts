import { Writable } from 'node:stream';
import type { AmqpClient, ConsumeOutcome, InboundMessage } from '@switchyard/messaging';
import { HandlerRegistry, PermanentError, type AnyJobHandler } from '@switchyard/handler-sdk';
import type { ArtifactStore } from '@switchyard/storage';
import { createLogger } from '@switchyard/observability';
import { Type } from '@sinclair/typebox';
import {
  SEQ_BLOCK,
  type ClaimedJob,
  type CompletedOutcome,
  type JobsRepository,
  type LifecycleRepository,
} from '@switchyard/persistence';
import { JobRunner, Slots, type AttemptRecorders, type FlowSupport } from './job-runner';

type Handler = (message: InboundMessage) => Promise<ConsumeOutcome>;

/** A fake broker that records the consumers the runner registers; deliveries are handed in by the test. */
function fakeAmqp() {
  const handlers = new Map<string, Handler>();
  const raw: { exchange: string; routingKey: string; body: unknown; options: unknown }[] = [];
  const amqp = {
    names: {
      controlQueue: (workerId: string) => `sy.control.${workerId}`,
      workQueue: (queue: string) => `sy.work.${queue}`,
      deadLetterExchange: 'sy.dlx',
    },
    publishRaw: (exchange: string, routingKey: string, body: unknown, options: unknown) => {
      raw.push({ exchange, routingKey, body, options });
      return Promise.resolve();
    },
    assertQueue: () => Promise.resolve(),
    // Hands the body over as the validated payload, as the bus does for a valid one.
    consume: (
      queue: string,
      _names: unknown,
      handler: (payload: unknown, message: InboundMessage) => Promise<ConsumeOutcome>,
    ) => {
      handlers.set(queue, (message) => handler(message.content, message));
      return Promise.resolve({ cancel: () => Promise.resolve() });
    },
    publish: () => Promise.resolve(),
  };
  return { amqp: amqp as unknown as AmqpClient, handlers, raw };
}

const delivery = (jobId: string, more: string[] = []): InboundMessage =>
  ({
    body: Buffer.alloc(0),
    content: {
      jobId,
      queue: 'default',
      tenant: 't',
      type: 'synthetic',
      ...(more.length
        ? { jobs: [jobId, ...more].map((id) => ({ jobId: id, tenant: 't', type: 'synthetic' })) }
        : {}),
    },
    properties: { headers: {} },
    fields: { redelivered: true },
    redelivered: true,
    headers: {},
  }) as unknown as InboundMessage;

const refused = () =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED', port: 5432 });

function runnerWith(claimMany: JobsRepository['claimMany']) {
  return runnerOver(
    // The turn's statement; these specs only claim.
    {
      completeAndClaim: async (_owner: string, _leaseMs: number, _outcomes: unknown[], ids: string[]) => ({
        completed: [],
        claimed: await claimMany(ids, 'w-1', 30000),
      }),
    },
    [],
  );
}

function runnerOver(jobs: Partial<JobsRepository>, handlers: AnyJobHandler[], flow = {} as FlowSupport) {
  const { amqp, handlers: consumers, raw } = fakeAmqp();
  const quiet = new Writable({ write: (_chunk, _encoding, done) => done() });
  const runner = new JobRunner(
    {
      workerId: 'w-1',
      queues: ['default'],
      concurrency: 4,
      leaseMs: 30000,
      shutdownGraceMs: 100,
      cancelGraceMs: 100,
      resultInlineMaxBytes: 65536,
    },
    amqp,
    jobs as JobsRepository,
    {} as LifecycleRepository,
    new HandlerRegistry(handlers, ['default']),
    { writerFor: () => ({}) } as unknown as ArtifactStore,
    createLogger('worker', 'silent', quiet),
    flow,
    // Attempts log nothing here; stop() flushes both.
    {
      logs: { attempt: () => ({}), finish: () => undefined, flush: () => Promise.resolve() },
      usage: { record: () => undefined, flush: () => Promise.resolve() },
    } as unknown as AttemptRecorders,
  );
  return {
    runner,
    raw,
    deliver: (id: string, more: string[] = []) => consumers.get('sy.work.default')!(delivery(id, more)),
  };
}

/** A claimed row as completeAndClaim returns it. */
const claimedRow = (id: string): ClaimedJob =>
  ({
    id,
    tenant: 't',
    type: 'synthetic',
    queue: 'default',
    status: 'running',
    step: null,
    progress: 0,
    message: null,
    attempts: 1,
    event_seq: String(SEQ_BLOCK + 1),
    error: null,
    result_url: null,
    created_at: new Date(),
    started_at: new Date(),
    finished_at: null,
    next_attempt_at: null,
    correlation_id: `corr-${id}`,
    flow_id: null,
    priority: 0,
    max_attempts: 3,
    timeout_ms: 60000,
    payload: {},
    ref: null,
    traceparent: null,
    tracestate: null,
    attempt_traceparent: null,
  }) as unknown as ClaimedJob;

const noop: AnyJobHandler = {
  type: 'synthetic',
  queue: 'default',
  payloadSchema: Type.Object({}),
  defaults: {},
  handle: () => Promise.resolve({ result: { ok: true } }),
};

describe('JobRunner: a claim that fails because PostgreSQL is down', () => {
  it('holds the delivery for a backoff and requeues it, never dead-letters it', async () => {
    const { runner, deliver } = runnerWith(() => Promise.reject(refused()));
    await runner.start();
    const started = Date.now();
    const outcome = await deliver('00000000-0000-4000-8000-000000000001');
    expect(outcome).toEqual({ kind: 'requeue' });
    // Held first (backoff 250 ms ± 20 %), so a down database is not hammered by redeliveries.
    expect(Date.now() - started).toBeGreaterThanOrEqual(180);
    await runner.stop();
  });

  it('holds longer while the outage lasts, and claims normally once the database answers', async () => {
    let down = true;
    const claims: string[][] = [];
    const { runner, deliver } = runnerWith((ids) => {
      claims.push(ids);
      // Not claimable (e.g. finished elsewhere): the delivery is a duplicate and is acked.
      return down ? Promise.reject(refused()) : Promise.resolve(ids.map((): ClaimedJob | null => null));
    });
    await runner.start();
    const id = '00000000-0000-4000-8000-000000000002';
    const first = Date.now();
    expect(await deliver(id)).toEqual({ kind: 'requeue' });
    const firstHold = Date.now() - first;
    const second = Date.now();
    expect(await deliver(id)).toEqual({ kind: 'requeue' });
    expect(Date.now() - second).toBeGreaterThan(firstHold);
    down = false;
    expect(await deliver(id)).toEqual({ kind: 'ack' });
    expect(claims).toHaveLength(3);
    await runner.stop();
  });

  it('releases a held delivery at once when the worker stops', async () => {
    const { runner, deliver } = runnerWith(() => Promise.reject(refused()));
    await runner.start();
    const id = '00000000-0000-4000-8000-000000000003';
    // Grow the hold to seconds, then stop while one is held.
    for (let i = 0; i < 3; i++) await deliver(id);
    const held = deliver(id);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const stopping = Date.now();
    await runner.stop();
    expect(await held).toEqual({ kind: 'requeue' });
    expect(Date.now() - stopping).toBeLessThan(500);
  });
});

describe('JobRunner: a slot frees when its handler ends', () => {
  /** A turn statement whose completions commit only when the test says so. */
  function heldCompletions() {
    const commits: (() => void)[] = [];
    const turns: { completions: string[]; claims: string[] }[] = [];
    const completeAndClaim = (
      _owner: string,
      _leaseMs: number,
      outcomes: CompletedOutcome[],
      ids: string[],
    ) => {
      turns.push({ completions: outcomes.map((o) => o.jobId), claims: ids });
      const results = {
        completed: outcomes.map((o) => ({
          ...claimedRow(o.jobId),
          status: 'completed',
          event_at: new Date(),
        })),
        claimed: ids.map(claimedRow),
      };
      if (!outcomes.length) return Promise.resolve(results);
      return new Promise((resolve) => commits.push(() => resolve(results)));
    };
    return { commits, turns, completeAndClaim };
  }

  const id = (n: number) => `00000000-0000-4000-8000-00000000000${n}`;

  it('acks the delivery before the completion commits, and keeps the job (and its lease) until it has', async () => {
    const { commits, turns, completeAndClaim } = heldCompletions();
    const { runner, deliver } = runnerOver({ completeAndClaim } as Partial<JobsRepository>, [noop]);
    await runner.start();
    expect(await deliver(id(1))).toEqual({ kind: 'ack' });
    // Acked, yet the completion has not committed: the job is still this worker's running job.
    await waitUntil(() => commits.length === 1);
    expect(runner.activeCount()).toBe(1);
    // The next delivery's claim rides in the statement after the one in flight, with it.
    const second = deliver(id(2));
    commits[0]();
    expect(await second).toEqual({ kind: 'ack' });
    await waitUntil(() => commits.length === 2);
    commits[1]();
    await waitUntil(() => runner.activeCount() === 0);
    expect(turns).toEqual([
      { completions: [], claims: [id(1)] },
      { completions: [id(1)], claims: [] },
      { completions: [], claims: [id(2)] },
      { completions: [id(2)], claims: [] },
    ]);
    await runner.stop();
  });

  it('frees at most `concurrency` slots ahead of their commits; the next one waits for its commit', async () => {
    // Claims succeed while completions meet an outage (the runner waits it out, job by job).
    let down = true;
    const completeAndClaim = (
      _owner: string,
      _leaseMs: number,
      outcomes: CompletedOutcome[],
      ids: string[],
    ) =>
      outcomes.length && down
        ? Promise.reject(refused())
        : Promise.resolve({
            completed: outcomes.map((o) => ({
              ...claimedRow(o.jobId),
              status: 'completed',
              event_at: new Date(),
            })),
            claimed: ids.map(claimedRow),
          });
    const { runner, deliver } = runnerOver({ completeAndClaim } as Partial<JobsRepository>, [noop]);
    await runner.start();
    // concurrency 4: four deliveries acked while their completions wait.
    for (let n = 1; n <= 4; n++) expect(await deliver(id(n))).toEqual({ kind: 'ack' });
    let fifthSettled = false;
    const fifth = deliver(id(5)).then((outcome) => ((fifthSettled = true), outcome));
    await waitUntil(() => runner.activeCount() === 5);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(fifthSettled).toBe(false);
    down = false;
    expect(await fifth).toEqual({ kind: 'ack' });
    await waitUntil(() => runner.activeCount() === 0);
    await runner.stop();
  });
});

describe('JobRunner: a work message of several jobs (batched dispatch)', () => {
  const id = (n: number) => `00000000-0000-4000-8000-0000000001${String(n).padStart(2, '0')}`;
  const completedRows = (outcomes: CompletedOutcome[]) =>
    outcomes.map((o) => ({ ...claimedRow(o.jobId), status: 'completed', event_at: new Date() }));

  /** Handlers that end when the test says so; counts how many run at once. */
  function gatedHandler() {
    const gates = new Map<string, () => void>();
    let running = 0;
    let most = 0;
    const handler: AnyJobHandler = {
      ...noop,
      handle: (ctx) => {
        running++;
        most = Math.max(most, running);
        return new Promise((resolve) =>
          gates.set(ctx.jobId, () => {
            running--;
            resolve({ result: { ok: true } });
          }),
        );
      },
    };
    return { handler, gates, most: () => most };
  }

  it('claims and runs each job on its own, at most `concurrency` at once, and acks once every job has ended', async () => {
    const claims: string[] = [];
    const completeAndClaim = (_o: string, _l: number, outcomes: CompletedOutcome[], ids: string[]) => {
      claims.push(...ids);
      return Promise.resolve({ completed: completedRows(outcomes), claimed: ids.map(claimedRow) });
    };
    const { handler, gates, most } = gatedHandler();
    const { runner, deliver } = runnerOver({ completeAndClaim } as Partial<JobsRepository>, [handler]);
    await runner.start();
    const ids = [1, 2, 3, 4, 5, 6].map(id);
    let settled = false;
    const outcome = deliver(ids[0], ids.slice(1)).then((o) => ((settled = true), o));
    // concurrency 4: four run, two wait for a slot (unclaimed).
    await waitUntil(() => gates.size === 4);
    expect(claims).toEqual(ids.slice(0, 4));
    for (const n of [1, 2, 3]) gates.get(id(n))!();
    await waitUntil(() => gates.size === 6);
    expect(settled).toBe(false);
    for (const n of [4, 5, 6]) gates.get(id(n))!();
    expect(await outcome).toEqual({ kind: 'ack' });
    expect(most()).toBe(4);
    expect(claims.sort()).toEqual([...ids].sort());
    await waitUntil(() => runner.activeCount() === 0);
    await runner.stop();
  });

  it('skips the jobs that are not claimable (a redelivered batch: those already ran) and runs the rest', async () => {
    const done = new Set([id(1), id(3)]);
    const ran: string[] = [];
    const completeAndClaim = (_o: string, _l: number, outcomes: CompletedOutcome[], ids: string[]) =>
      Promise.resolve({
        completed: completedRows(outcomes),
        claimed: ids.map((j) => (done.has(j) ? null : claimedRow(j))),
      });
    const handler: AnyJobHandler = {
      ...noop,
      handle: (ctx) => (ran.push(ctx.jobId), Promise.resolve({ result: {} })),
    };
    const { runner, deliver } = runnerOver({ completeAndClaim } as Partial<JobsRepository>, [handler]);
    await runner.start();
    expect(await deliver(id(1), [id(2), id(3), id(4)])).toEqual({ kind: 'ack' });
    expect(ran.sort()).toEqual([id(2), id(4)]);
    await waitUntil(() => runner.activeCount() === 0);
    await runner.stop();
  });

  it('dead-letters a job that failed for good on its own (a single-job copy to the DLX) and acks the message', async () => {
    const completeAndClaim = (_o: string, _l: number, outcomes: CompletedOutcome[], ids: string[]) =>
      Promise.resolve({ completed: completedRows(outcomes), claimed: ids.map(claimedRow) });
    const finish = (jobId: string) =>
      Promise.resolve({
        row: { ...claimedRow(jobId), status: 'failed', event_at: new Date() },
        outbox: [],
      });
    const handler: AnyJobHandler = {
      ...noop,
      handle: (ctx) =>
        ctx.jobId === id(12)
          ? Promise.reject(new PermanentError('bad input', 'invalid_payload'))
          : Promise.resolve({ result: {} }),
    };
    const { runner, deliver, raw } = runnerOver(
      { completeAndClaim, finish } as unknown as Partial<JobsRepository>,
      [handler],
      { publish: () => Promise.resolve() } as unknown as FlowSupport,
    );
    await runner.start();
    expect(await deliver(id(11), [id(12), id(13)])).toEqual({ kind: 'ack' });
    expect(raw).toEqual([
      expect.objectContaining({
        exchange: 'sy.dlx',
        routingKey: 'sy.work.default',
        body: { jobId: id(12), tenant: 't', type: 'synthetic', queue: 'default' },
      }),
    ]);
    await waitUntil(() => runner.activeCount() === 0);
    await runner.stop();
  });

  it('requeues the message when the worker stops before some of its jobs started', async () => {
    const claims: string[] = [];
    const completeAndClaim = (_o: string, _l: number, outcomes: CompletedOutcome[], ids: string[]) => {
      claims.push(...ids);
      return Promise.resolve({ completed: completedRows(outcomes), claimed: ids.map(claimedRow) });
    };
    const handBack = () => Promise.resolve(null);
    const { handler, gates } = gatedHandler();
    const { runner, deliver } = runnerOver(
      { completeAndClaim, handBack } as unknown as Partial<JobsRepository>,
      [handler],
    );
    await runner.start();
    const outcome = deliver(id(21), [22, 23, 24, 25, 26].map(id));
    await waitUntil(() => gates.size === 4);
    const stopping = runner.stop();
    // The four running jobs end within the grace period; the two waiting never start.
    for (const release of gates.values()) release();
    await stopping;
    expect(await outcome).toEqual({ kind: 'requeue' });
    expect(claims).toHaveLength(4);
  });
});

describe('Slots', () => {
  it('gives a freed slot to the most urgent waiter, then the longest waiting', async () => {
    const slots = new Slots(1);
    await slots.acquire(0);
    const order: string[] = [];
    const wait = (name: string, priority: number) =>
      void slots.acquire(priority).then(() => order.push(name));
    wait('low-1', 1);
    wait('high', 5);
    wait('low-2', 1);
    expect(slots.queued).toBe(3);
    for (let i = 0; i < 3; i++) {
      slots.release();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(order).toEqual(['high', 'low-1', 'low-2']);
  });

  it('lets every waiter through when drained', async () => {
    const slots = new Slots(1);
    await slots.acquire();
    const through = [slots.acquire(), slots.acquire()];
    slots.drain();
    await expect(Promise.all(through)).resolves.toEqual([undefined, undefined]);
  });
});

async function waitUntil(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((resolve) => setImmediate(resolve));
  }
}
