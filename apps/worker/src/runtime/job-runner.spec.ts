import { Writable } from 'node:stream';
import type { AmqpClient, ConsumeOutcome, InboundMessage } from '@switchyard/messaging';
import { HandlerRegistry, type AnyJobHandler } from '@switchyard/handler-sdk';
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
import { JobRunner, type AttemptRecorders, type FlowSupport } from './job-runner';

type Handler = (message: InboundMessage) => Promise<ConsumeOutcome>;

/** A fake broker that records the consumers the runner registers; deliveries are handed in by the test. */
function fakeAmqp() {
  const handlers = new Map<string, Handler>();
  const amqp = {
    names: {
      controlQueue: (workerId: string) => `sy.control.${workerId}`,
      workQueue: (queue: string) => `sy.work.${queue}`,
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
  return { amqp: amqp as unknown as AmqpClient, handlers };
}

const delivery = (jobId: string): InboundMessage =>
  ({
    body: Buffer.alloc(0),
    content: { jobId, queue: 'default', tenant: 't', type: 'synthetic' },
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

function runnerOver(jobs: Partial<JobsRepository>, handlers: AnyJobHandler[]) {
  const { amqp, handlers: consumers } = fakeAmqp();
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
    {} as FlowSupport,
    // Attempts log nothing here; stop() flushes both.
    {
      logs: { attempt: () => ({}), finish: () => undefined, flush: () => Promise.resolve() },
      usage: { record: () => undefined, flush: () => Promise.resolve() },
    } as unknown as AttemptRecorders,
  );
  return { runner, deliver: (id: string) => consumers.get('sy.work.default')!(delivery(id)) };
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

async function waitUntil(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((resolve) => setImmediate(resolve));
  }
}
