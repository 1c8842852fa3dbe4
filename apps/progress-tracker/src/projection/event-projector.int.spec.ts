import { randomUUID } from 'node:crypto';
import { connect } from 'amqplib';
import { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import {
  createJobEvent,
  EVENT_BATCH_ROUTING_KEY,
  JOB_EVENT_BATCH,
  type JobEventData,
} from '@switchyard/contracts';
import { createRedis, LiveProgressStore } from '@switchyard/live-state';
import { AmqpClient, topologyNames } from '@switchyard/messaging';
import { createLogger } from '@switchyard/observability';
import { createDataSource, ProjectionRepository, runMigrations } from '@switchyard/persistence';
import {
  createTestDatabase,
  removeRedisPrefix,
  TEST_SERVICES,
  testRunId,
  waitFor,
  type TestDatabase,
} from '@switchyard/testing';
import { EventProjector, TRACKER_PARKED_EVENTS_TOTAL } from './event-projector';

const logger = createLogger('projector-test', process.env['TEST_LOG_LEVEL'] ?? 'silent');
jest.setTimeout(30000);

const SERVICES = TEST_SERVICES;

describe('EventProjector with a poison event in its batch', () => {
  const prefix = testRunId();
  const redisPrefix = `${prefix}:`;
  let database: TestDatabase;
  let db: DataSource;
  let amqp: AmqpClient;
  let redis: ReturnType<typeof createRedis>;
  let live: LiveProgressStore;
  let projection: ProjectionRepository;
  let projector: EventProjector;
  const registry = new Registry();

  beforeAll(async () => {
    database = await createTestDatabase(runMigrations, prefix);
    db = createDataSource(database.url, { poolSize: 4 });
    await db.initialize();
    amqp = new AmqpClient({ url: SERVICES.amqp, prefix, connectionName: `${prefix}/projector`, logger });
    await amqp.connect();
    redis = createRedis(SERVICES.redis);
    live = new LiveProgressStore(redis, { prefix: redisPrefix, ttlSeconds: 600 });
    projection = new ProjectionRepository(db);
    // A batch of exactly the three events published below (they arrive well within the flush time).
    projector = new EventProjector(
      { queue: amqp.names.trackerQueue, batchSize: 3, flushMs: 1000, retryDelayMs: 10 },
      amqp,
      live,
      projection,
      logger,
    );
    projector.registerMetrics(registry);
    // The queue as an earlier version left it: bound to every single event on the events exchange.
    await amqp.setBindings(amqp.names.trackerQueue, amqp.names.eventsExchange, ['job.#'], []);
    await projector.start();
  });

  afterAll(async () => {
    await projector.stop();
    await amqp.close();
    const { exchanges, queues } = topologyNames(amqp.names);
    const broker = await connect(SERVICES.amqp);
    const channel = await broker.createChannel();
    for (const queue of queues) await channel.deleteQueue(queue);
    for (const exchange of exchanges) await channel.deleteExchange(exchange);
    await broker.close();
    redis.disconnect();
    await removeRedisPrefix(redisPrefix);
    await db.destroy();
    await database.drop();
  });

  async function insertJob(): Promise<string> {
    const id = randomUUID();
    await db.query(
      `INSERT INTO jobs (id, tenant, type, queue, status, priority, max_attempts, timeout_ms, correlation_id,
          request_hash, payload, started_at, attempts)
       VALUES ($1, 'acme', 'synthetic', 'default', 'running', 5, 3, 60000, 'corr', '', '{}', now(), 1)`,
      [id],
    );
    return id;
  }

  const progress = (jobId: string, message: string): JobEventData => ({
    jobId,
    tenant: 'acme',
    type: 'synthetic',
    queue: 'default',
    status: 'running',
    step: 'generating',
    progress: 40,
    message,
    attempt: 1,
    seq: 2,
  });

  it('takes events from the internal batches only: its old binding to the single events is gone', async () => {
    const [single, batched] = [await insertJob(), await insertJob()];
    // Same channel, so a copy of the single event would reach the queue before the batch.
    await amqp.publishRaw(
      amqp.names.eventsExchange,
      'job.progress',
      createJobEvent('worker', 'progress', { ...progress(single, 'single'), progress: 55 }, 'corr'),
    );
    await amqp.publish(
      'switchyard.job.progress',
      createJobEvent('worker', 'progress', { ...progress(batched, 'batched'), progress: 66 }, 'corr'),
    );
    await waitFor(async () => (await live.getLive(batched))?.progress === 66, {
      what: 'the batched event projected',
      timeoutMs: 15000,
    });
    expect(await live.getLive(single)).toBeNull();
  });

  it('parks the event PostgreSQL rejects (U+0000) and writes the rest of its batch', async () => {
    const [good1, poison, good2] = [await insertJob(), await insertJob(), await insertJob()];
    // Published in one turn: one batch message on the internal exchange.
    await Promise.all(
      (
        [
          [good1, 'fine'],
          [poison, 'bad\u0000message'],
          [good2, 'also fine'],
        ] as const
      ).map(([jobId, message]) =>
        amqp.publish(
          'switchyard.job.progress',
          createJobEvent('worker', 'progress', progress(jobId, message), `corr-${jobId}`),
        ),
      ),
    );

    // The other events of the batch reach PostgreSQL and Redis.
    await waitFor(
      async () => {
        const rows: { job_id: string }[] = await db.query(
          `SELECT job_id FROM job_events WHERE job_id = ANY($1::uuid[]) AND seq = 2`,
          [[good1, good2]],
        );
        return rows.length === 2;
      },
      { what: 'the good events in job_events', timeoutMs: 15000 },
    );
    for (const id of [good1, good2]) {
      const rows: { progress: number; message: string }[] = await db.query(
        `SELECT progress, message FROM jobs WHERE id = $1`,
        [id],
      );
      expect(rows[0].progress).toBe(40);
      expect((await live.getLive(id))?.progress).toBe(40);
    }

    // The poison event is parked once, visible with its error, and counted.
    const parked = await waitFor(
      async () => {
        const rows = await projection.parked();
        return rows.length > 0 && rows;
      },
      { what: 'a parked event' },
    );
    expect(parked).toHaveLength(1);
    expect(parked[0]).toMatchObject({ job_id: poison, seq: '2', event: 'progress', attempts: 3 });
    expect(JSON.parse(parked[0].body)).toMatchObject({
      data: { jobId: poison, message: 'bad\u0000message' },
    });
    expect(await db.query(`SELECT 1 FROM job_events WHERE job_id = $1`, [poison])).toHaveLength(0);
    const counter = await registry.getSingleMetric(TRACKER_PARKED_EVENTS_TOTAL)?.get();
    expect(counter?.values[0]?.value).toBe(1);

    // A batch message that is not one (a foreign publisher, a bug) is dropped, not retried.
    await amqp.publishRaw(amqp.names.internalExchange, EVENT_BATCH_ROUTING_KEY, [{ not: 'an event' }], {
      type: JOB_EVENT_BATCH,
    });
    // The tracker goes on: a later event of the same job is projected.
    await amqp.publish(
      'switchyard.job.progress',
      createJobEvent('worker', 'progress', { ...progress(poison, 'clean'), seq: 3, progress: 80 }, 'corr'),
    );
    await waitFor(
      async () => {
        const rows: { progress: number }[] = await db.query(`SELECT progress FROM jobs WHERE id = $1`, [
          poison,
        ]);
        return rows[0]?.progress === 80;
      },
      { what: 'the next event of the poisoned job', timeoutMs: 15000 },
    );
    expect(await projection.parked()).toHaveLength(1);
    await waitFor(async () => (await amqp.queueStats(amqp.names.trackerQueue)).messageCount === 0, {
      what: 'an empty tracker queue',
    });
  });

  it('writes history only for events whose producers do not (progress) and keeps every event live', async () => {
    const jobId = await insertJob();
    const event = (
      name: 'started' | 'progress' | 'completed',
      seq: number,
      extra: Partial<JobEventData> = {},
    ) =>
      createJobEvent(
        'worker',
        name,
        { ...progress(jobId, name), status: name === 'completed' ? 'completed' : 'running', seq, ...extra },
        'corr',
      );
    // One batch (batchSize 3): the producers wrote the history of `started` and `completed` with the state.
    for (const e of [event('started', 2), event('progress', 3), event('completed', 4, { progress: 100 })])
      await amqp.publish(e.type, e);
    await waitFor(async () => (await live.getLive(jobId))?.status === 'completed', {
      what: 'the completed event in the live state',
      timeoutMs: 15000,
    });
    // A later batch (another job's); batches are written in order, so the first is done once it is.
    const otherJob = await insertJob();
    await amqp.publish(
      'switchyard.job.progress',
      createJobEvent('worker', 'progress', progress(otherJob, 'later'), 'corr'),
    );
    await waitFor(
      async () =>
        (await db.query<unknown[]>(`SELECT 1 FROM job_events WHERE job_id = $1`, [otherJob])).length === 1,
      { what: 'the later batch in job_events', timeoutMs: 15000 },
    );
    const rows: { seq: string; event: string }[] = await db.query(
      `SELECT seq::text, event FROM job_events WHERE job_id = $1 ORDER BY job_events.seq`,
      [jobId],
    );
    expect(rows).toEqual([{ seq: '3', event: 'progress' }]);
    const [job] = await db.query<{ s: string }[]>(`SELECT progress_seq::text AS s FROM jobs WHERE id = $1`, [
      jobId,
    ]);
    expect(job.s).toBe('3');
    expect(await live.getLive(jobId)).toMatchObject({ status: 'completed', seq: 4 });
  });
});
