import { connect } from 'amqplib';
import { TEST_SERVICES, waitFor } from '@switchyard/testing';
import { at, dispatchSuite, expectAllCompleted, statusCounts, submitBatches } from './support/dispatch';
import { expectNoOverlappingAttempts } from './support/outages';

jest.setTimeout(180000);

/**
 * Batched dispatch (issue #19 step 3): a work message carries up to K jobs of a short type (K =
 * DISPATCH_BATCH_MAX, at most the gateway's WORKER_CONCURRENCY: 4 here). A worker SIGKILLed while
 * it holds two such messages — two jobs running, six waiting for a slot — loses none of them: both
 * messages come back, the jobs that never started run from them, the two that were running are
 * recovered by the lease sweeper (their claims from the redelivered message skip them), and no job
 * runs twice at once or loses a history row. A batched message whose jobs partly fail for good is
 * acked once: the failed jobs are dead-lettered as single-job copies, the others complete.
 */
describe('batched dispatch', () => {
  const suite = dispatchSuite({
    SWEEP_INTERVAL_MS: '300',
    OUTBOX_MAX_DELAY_MS: '1000',
    // The gateway's K: min(DISPATCH_BATCH_MAX, WORKER_CONCURRENCY); the window without
    // consumers: 2 × 4 jobs.
    WORKER_CONCURRENCY: '4',
    DISPATCH_BATCH_MAX: '16',
  });

  it('a worker SIGKILLed mid-batch loses no job and runs none twice at once; the jobs that never started run from the redelivered messages', async () => {
    const { stack, api, db } = suite;
    // No worker yet: the window (8 jobs) is released as two work messages of four.
    const ids = await submitBatches(api, 8, () => ({ type: 'synthetic', payload: { durationMs: 4000 } }));
    const connection = await connect(TEST_SERVICES.amqp);
    try {
      const channel = await connection.createChannel();
      await waitFor(
        async () => {
          const { rows } = await db.query<{ n: string }>(
            `SELECT count(*) AS n FROM jobs WHERE id = ANY($1::uuid[]) AND dispatched_at IS NOT NULL`,
            [ids],
          );
          return (
            Number(rows[0].n) === 8 &&
            (await channel.checkQueue(`${stack.id}.jobs.default`)).messageCount === 2
          );
        },
        { what: 'eight released jobs in two work messages' },
      );
      await channel.close();
    } finally {
      await connection.close();
    }

    // Concurrency 2 (prefetch 2): the doomed worker takes both messages and starts two jobs.
    const doomed = await stack.spawn('worker', { WORKER_CONCURRENCY: '2', LEASE_MS: '2000' });
    await waitFor(async () => (await statusCounts(db, ids))['running'] === 2, { what: 'two running jobs' });
    const { rows: first } = await db.query<{ id: string }>(
      `SELECT id FROM jobs WHERE id = ANY($1::uuid[]) AND status = 'running'`,
      [ids],
    );
    const killedAt = Date.now();
    expect(await doomed.stop('SIGKILL')).toBeNull();
    // Still two: the six waiting for a slot were never claimed.
    expect(await statusCounts(db, ids)).toEqual({ running: 2, queued: 6 });

    const rescuer = await stack.spawn('worker', { WORKER_CONCURRENCY: '4', LEASE_MS: '2000' });
    await expectAllCompleted(db, ids, 60000);
    const running = new Set(first.map((r) => r.id));
    for (const id of ids) {
      const job = (
        await api.get<{ attempts: number; startedAt: string; history: { event: string }[] }>(`/jobs/${id}`)
      ).body;
      const events = job.history.map((h) => h.event);
      // The two that were running: a second attempt after the kill (the lease sweeper's); the six
      // others: their first, from the redelivered messages.
      expect(job.attempts).toBe(running.has(id) ? 2 : 1);
      expect(at(job.startedAt)).toBeGreaterThan(killedAt);
      expect(events.filter((e) => e === 'started')).toHaveLength(job.attempts);
      expect(events.filter((e) => e === 'completed')).toHaveLength(1);
      expect(events[0]).toBe('queued');
    }
    expect(await expectNoOverlappingAttempts(db, ids)).toBe(8);
    await rescuer.stop();
  });

  it('dead-letters the jobs of a batched message that fail for good, one single-job copy each, and completes the others from the same message', async () => {
    const { stack, api, db } = suite;
    const fails = [true, false, true, false];
    const ids = await submitBatches(api, 4, (i) => ({
      type: 'synthetic',
      payload: fails[i] ? { fail: 'permanent' } : { durationMs: 0 },
      maxAttempts: 1,
    }));
    const failing = new Set(ids.filter((_, i) => fails[i]));
    const connection = await connect(TEST_SERVICES.amqp);
    try {
      const channel = await connection.createChannel();
      const work = `${stack.id}.jobs.default`;
      const dlq = `${stack.id}.dlq`;
      await channel.purgeQueue(dlq);
      await waitFor(async () => (await channel.checkQueue(work)).messageCount === 1, {
        what: 'the four jobs in one work message',
      });
      const worker = await stack.spawn('worker', { WORKER_CONCURRENCY: '4' });
      try {
        await waitFor(
          async () => {
            const counts = await statusCounts(db, ids);
            return counts['completed'] === 2 && counts['failed'] === 2;
          },
          { what: 'two completed and two failed jobs' },
        );
        // One copy per failed job, each a message of that job alone, with its reason.
        const copies: { id: string; jobs: unknown; reason: unknown }[] = [];
        await waitFor(
          async () => {
            const message = await channel.get(dlq, { noAck: true });
            if (message) {
              const body = JSON.parse(message.content.toString()) as { jobId: string; jobs?: unknown };
              copies.push({
                id: body.jobId,
                jobs: body.jobs,
                reason: message.properties.headers?.['x-switchyard-dead-letter-reason'],
              });
            }
            return copies.length === 2;
          },
          { what: 'two copies in the DLQ' },
        );
        expect(new Set(copies.map((c) => c.id))).toEqual(failing);
        for (const copy of copies) {
          expect(copy.jobs).toBeUndefined();
          expect(typeof copy.reason).toBe('string');
        }
        // The batched message was settled once (acked): nothing left, nothing tried again.
        expect((await channel.checkQueue(work)).messageCount).toBe(0);
        expect((await channel.checkQueue(dlq)).messageCount).toBe(0);
        for (const id of ids) {
          const job = (
            await api.get<{ attempts: number; deadLettered: boolean; status: string }>(`/jobs/${id}`)
          ).body;
          expect(job.attempts).toBe(1);
          expect(job.status).toBe(failing.has(id) ? 'failed' : 'completed');
          expect(job.deadLettered).toBe(failing.has(id));
        }
      } finally {
        await worker.stop();
      }
      await channel.close();
    } finally {
      await connection.close();
    }
  });
});
