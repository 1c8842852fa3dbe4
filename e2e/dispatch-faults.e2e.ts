import { connect } from 'amqplib';
import { TEST_SERVICES, waitFor } from '@switchyard/testing';
import { dispatchSuite, expectAllCompleted, statusCounts, submitBatches } from './support/dispatch';
import { expectNoOverlappingAttempts, pgctl } from './support/outages';

jest.setTimeout(180000);

/**
 * Stranded jobs. A released job whose message never reaches a worker is released again after
 * REDISPATCH_AFTER_MS. And the PostgreSQL-restart scenario: PostgreSQL goes away while jobs are queued (some released to
 * RabbitMQ, most still in the PostgreSQL backlog) and running. Claims and completions fail while
 * it is down; afterwards re-release (REDISPATCH_AFTER_MS) and the lease sweeper bring every job
 * to the end, and no job ever runs twice at once. PostgreSQL is always started again in `finally`.
 */
describe('dispatcher under a PostgreSQL restart: nothing stranded, nothing run twice at once', () => {
  const suite = dispatchSuite({
    SWEEP_INTERVAL_MS: '500',
    OUTBOX_MAX_DELAY_MS: '1000',
    REDISPATCH_AFTER_MS: '5000',
  });

  it('released jobs whose messages are lost are released again after REDISPATCH_AFTER_MS and complete', async () => {
    const { stack, api, db } = suite;
    // No worker yet: the first jobs are released up to the window and wait in RabbitMQ.
    const submittedAt = Date.now();
    const ids = await submitBatches(api, 40, () => ({ type: 'synthetic', payload: { durationMs: 10 } }));
    const connection = await connect(TEST_SERVICES.amqp);
    let lost = 0;
    let lostAt = 0;
    try {
      const channel = await connection.createChannel();
      const queue = `${stack.id}.jobs.default`;
      const released = async () =>
        Number(
          (
            await db.query<{ n: string }>(
              `SELECT count(*) AS n FROM jobs WHERE id = ANY($1::uuid[]) AND dispatched_at IS NOT NULL`,
              [ids],
            )
          ).rows[0].n,
        );
      // The messages are lost: PostgreSQL still says released, nobody will ever deliver them. A
      // work message may carry several jobs (batched dispatch): the jobs are counted, not the
      // messages, until every released job's message is gone.
      let messages = 0;
      await waitFor(
        async () => {
          for (
            let m = await channel.get(queue, { noAck: true });
            m;
            m = await channel.get(queue, { noAck: true })
          ) {
            const body = JSON.parse(m.content.toString()) as { jobs?: unknown[] };
            messages += 1;
            lost += body.jobs?.length ?? 1;
          }
          return lost > 0 && lost === (await released());
        },
        { what: 'the released jobs in RabbitMQ, taken away' },
      );
      expect(messages).toBeLessThanOrEqual(lost);
      lostAt = Date.now();
      await channel.close();
    } finally {
      await connection.close();
    }
    expect(lost).toBeGreaterThan(0);
    expect(lost).toBeLessThan(40); // the window held the rest back in PostgreSQL
    await stack.spawn('worker', { WORKER_CONCURRENCY: '8' });
    await stack.spawn('worker', { WORKER_CONCURRENCY: '8' });
    await expectAllCompleted(db, ids, 30000);
    const { rows } = await db.query<{ releases: number; started: number }>(
      `SELECT releases, extract(epoch FROM started_at) * 1000 AS started FROM jobs WHERE id = ANY($1::uuid[])`,
      [ids],
    );
    const again = rows.filter((r) => r.releases === 2);
    expect(again).toHaveLength(lost);
    expect(rows.filter((r) => r.releases !== 1 && r.releases !== 2)).toEqual([]);
    // Released again only once REDISPATCH_AFTER_MS (5 s) had passed since their first release.
    for (const r of again) expect(Number(r.started)).toBeGreaterThanOrEqual(submittedAt + 5000);
    expect(Math.max(...again.map((r) => Number(r.started))) - lostAt).toBeLessThanOrEqual(5000 + 2000);
  });

  it('PostgreSQL stopped for 6 s with 200 jobs queued and running: every job completes, none runs twice at once', async () => {
    const { api, db } = suite;
    // 200 jobs of 400 ms on 16 slots: about 5 s of work, so most are still queued at the stop.
    const ids = await submitBatches(api, 200, () => ({
      type: 'synthetic',
      payload: { durationMs: 400, steps: 2 },
    }));
    const before = await waitFor(
      async () => {
        const counts = await statusCounts(db, ids);
        return (counts['running'] ?? 0) >= 8 ? counts : undefined;
      },
      { timeoutMs: 10000, intervalMs: 50, what: 'jobs running' },
    );
    expect(before['queued'] ?? 0).toBeGreaterThan(50);
    try {
      await pgctl('stop');
      // The outage itself is the point: 6 s.
      await new Promise((resolve) => setTimeout(resolve, 6000));
    } finally {
      await pgctl('start');
      await waitFor(
        async () => {
          await db.query('SELECT 1');
          return true;
        },
        { timeoutMs: 30000, intervalMs: 200, what: 'PostgreSQL answering again' },
      );
    }
    await expectAllCompleted(db, ids, 90000);
    expect(await expectNoOverlappingAttempts(db, ids)).toBe(200);
    // Each job's released attempt is one it ran (a release is per attempt), and every job was released.
    const { rows } = await db.query<{ releases: number; released_attempt: number | null; attempts: number }>(
      `SELECT releases, released_attempt, attempts FROM jobs WHERE id = ANY($1::uuid[])`,
      [ids],
    );
    expect(rows.filter((r) => r.releases < 1 || r.released_attempt === null)).toEqual([]);
    expect(rows.filter((r) => r.released_attempt! >= r.attempts)).toEqual([]);
  });
});
