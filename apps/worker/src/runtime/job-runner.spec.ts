import { Writable } from 'node:stream';
import type { AmqpClient, ConsumeOutcome, InboundMessage } from '@switchyard/messaging';
import { HandlerRegistry } from '@switchyard/handler-sdk';
import type { ArtifactStore } from '@switchyard/storage';
import { createLogger } from '@switchyard/observability';
import type { ClaimedJob, JobsRepository, LifecycleRepository } from '@switchyard/persistence';
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
  const { amqp, handlers } = fakeAmqp();
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
    // The turn's statement; these specs only claim.
    {
      completeAndClaim: async (_owner: string, _leaseMs: number, _outcomes: unknown[], ids: string[]) => ({
        completed: [],
        claimed: await claimMany(ids, 'w-1', 30000),
      }),
    } as unknown as JobsRepository,
    {} as LifecycleRepository,
    new HandlerRegistry([], []),
    {} as ArtifactStore,
    createLogger('worker', 'silent', quiet),
    {} as FlowSupport,
    // These specs claim nothing, so nothing is logged or used; stop() flushes both.
    {
      logs: { flush: () => Promise.resolve() },
      usage: { flush: () => Promise.resolve() },
    } as unknown as AttemptRecorders,
  );
  return { runner, deliver: (id: string) => handlers.get('sy.work.default')!(delivery(id)) };
}

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
