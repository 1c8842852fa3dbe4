// The metrics service's counters against the system of record (SPEC §8, issue 6): after 500
// jobs of two types on two queues (completed, failed permanently, failed after retries,
// completed after a retry, and cancelled through DELETE /api/v1/jobs/{id} both while queued and
// while running), every counter equals PostgreSQL's count by status and type (retries: the
// `retrying` events in the job history), the duration histogram counts exactly the completed
// jobs and sums their run times, and the wait histogram counts exactly the jobs that started
// (a job cancelled while queued never waited to start). Events the broker delivers again change
// nothing, and a restart of the metrics service starts its counters from zero and still counts
// the events published while it was down (Prometheus's counter-reset convention).
import { connect, type Channel, type ChannelModel } from 'amqplib';
import { Client } from 'pg';
import { DEV_ADMIN_API_KEY } from '@switchyard/config';
import {
  CLOUDEVENTS_BATCH_CONTENT_TYPE,
  EVENT_BATCH_ROUTING_KEY,
  JOB_EVENT_BATCH,
} from '@switchyard/contracts';
import { TestStack, TEST_SERVICES, waitFor } from '@switchyard/testing';
import { scrape, total, totalsBy, type Exposition } from './support/exposition';

jest.setTimeout(240_000);

const JOBS = 500;
const TO_CANCEL = 20;

interface CapturedEvent {
  routingKey: string;
  body: Buffer;
}

/** JSON with sorted keys, to compare label maps whatever order their rows came in. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

describe('metrics service counters after 500 jobs', () => {
  let stack: TestStack;
  let db: Client;
  let amqp: ChannelModel;
  let channel: Channel;
  let api: string;
  const captured: CapturedEvent[] = [];

  beforeAll(async () => {
    stack = await TestStack.create({ QUEUE_POLL_MS: '200', WORKER_CONCURRENCY: '8' });
    await stack.start();
    api = `${stack.service('gateway').url}/api/v1`;
    db = new Client({ connectionString: stack.db.url });
    await db.connect();
    // Another system's view of the events exchange: what the broker delivered, to redeliver it.
    amqp = await connect(TEST_SERVICES.amqp);
    channel = await amqp.createChannel();
    const { queue } = await channel.assertQueue(`${stack.id}.capture`, { exclusive: true });
    await channel.bindQueue(queue, `${stack.id}.events`, 'job.#');
    await channel.consume(
      queue,
      (m) => {
        if (m) captured.push({ routingKey: m.fields.routingKey, body: m.content });
      },
      { noAck: true },
    );
  });

  afterAll(async () => {
    await amqp?.close();
    await db?.end();
    await stack?.destroy();
  });

  const auth = { authorization: `Bearer ${DEV_ADMIN_API_KEY}` };
  const headers = { ...auth, 'content-type': 'application/json' };
  const submit = async (body: Record<string, unknown>): Promise<string> => {
    const response = await fetch(`${api}/jobs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ type: 'synthetic', dedupe: false, ...body }),
    });
    const json = (await response.json()) as { id: string };
    if (response.status !== 202)
      throw new Error(`submit answered ${response.status}: ${JSON.stringify(json)}`);
    return json.id;
  };
  const metrics = () => scrape(stack.service('metrics').url);
  const rows = async <T extends Record<string, unknown>>(sql: string): Promise<T[]> =>
    (await db.query<T>(sql)).rows;

  /** Runs `task` over `items` with at most `limit` in flight. */
  async function pool<T, R>(items: T[], limit: number, task: (item: T, index: number) => Promise<R>) {
    const results: R[] = new Array<R>(items.length);
    let next = 0;
    await Promise.all(
      Array.from({ length: limit }, async () => {
        while (next < items.length) {
          const i = next++;
          results[i] = await task(items[i], i);
        }
      }),
    );
    return results;
  }

  /** What the counters must read, from PostgreSQL; keys as totalsBy makes them. */
  async function expectedFromDatabase() {
    const grouped = async (sql: string, by: string[]) => {
      const out: Record<string, number> = {};
      for (const row of await rows<Record<string, string>>(sql)) {
        out[by.map((label) => `${label}=${row[label]}`).join(',')] = Number(row['n']);
      }
      return out;
    };
    return {
      switchyard_jobs_submitted_total: await grouped(
        `SELECT type, queue, priority::text AS priority, count(*) AS n FROM jobs GROUP BY 1, 2, 3`,
        ['type', 'queue', 'priority'],
      ),
      switchyard_tenant_jobs_submitted_total: await grouped(
        `SELECT tenant, count(*) AS n FROM jobs GROUP BY 1`,
        ['tenant'],
      ),
      switchyard_jobs_completed_total: await grouped(
        `SELECT type, count(*) AS n FROM jobs WHERE status = 'completed' GROUP BY 1`,
        ['type'],
      ),
      switchyard_jobs_failed_total: await grouped(
        `SELECT type, error->>'code' AS code, count(*) AS n FROM jobs WHERE status = 'failed' GROUP BY 1, 2`,
        ['type', 'code'],
      ),
      switchyard_jobs_cancelled_total: await grouped(
        `SELECT type, count(*) AS n FROM jobs WHERE status = 'cancelled' GROUP BY 1`,
        ['type'],
      ),
      switchyard_jobs_dead_lettered_total: await grouped(
        `SELECT type, count(*) AS n FROM jobs WHERE dead_lettered GROUP BY 1`,
        ['type'],
      ),
      switchyard_jobs_retried_total: await grouped(
        `SELECT j.type, count(*) AS n FROM job_events e JOIN jobs j ON j.id = e.job_id
          WHERE e.event = 'retrying' GROUP BY 1`,
        ['type'],
      ),
      switchyard_job_duration_seconds_count: await grouped(
        `SELECT type, count(*) AS n FROM jobs WHERE status = 'completed' GROUP BY 1`,
        ['type'],
      ),
      switchyard_job_wait_seconds_count: await grouped(
        `SELECT type, count(*) AS n FROM jobs WHERE started_at IS NOT NULL GROUP BY 1`,
        ['type'],
      ),
    };
  }

  type Expected = Awaited<ReturnType<typeof expectedFromDatabase>>;
  const LABELS: Record<keyof Expected, string[]> = {
    switchyard_jobs_submitted_total: ['type', 'queue', 'priority'],
    switchyard_tenant_jobs_submitted_total: ['tenant'],
    switchyard_jobs_completed_total: ['type'],
    switchyard_jobs_failed_total: ['type', 'code'],
    switchyard_jobs_cancelled_total: ['type'],
    switchyard_jobs_dead_lettered_total: ['type'],
    switchyard_jobs_retried_total: ['type'],
    switchyard_job_duration_seconds_count: ['type'],
    switchyard_job_wait_seconds_count: ['type'],
  };
  const actual = (e: Exposition): Expected => {
    const out = {} as Expected;
    for (const [name, by] of Object.entries(LABELS) as [keyof Expected, string[]][])
      out[name] = totalsBy(e, name, by);
    return out;
  };

  it('counts every job once, by status and type, as PostgreSQL has them', async () => {
    const priorities = [0, 2, 5, 7, 9];
    const plans = Array.from({ length: JOBS - TO_CANCEL }, (_, i) => {
      const priority = priorities[i % priorities.length];
      // A second type on a second queue; unique prompts, so the result cache answers none of them.
      if (i % 24 === 23) {
        return { type: 'audio.generate', priority, payload: { prompt: `metrics e2e ${i}`, durationSec: 1 } };
      }
      switch (i % 10) {
        case 6:
        case 7:
          return { priority, payload: { durationMs: 0, fail: 'permanent' } };
        case 8:
          return { priority, maxAttempts: 2, payload: { durationMs: 0, fail: 'retryable' } };
        case 9:
          return { priority, maxAttempts: 3, payload: { durationMs: 0, failAttempts: 1 } };
        default:
          return { priority, payload: { durationMs: (i % 3) * 5, steps: i % 4 } };
      }
    });
    await pool(plans, 25, (plan) => submit(plan));

    // Long jobs that fill the worker's slots, so some are cancelled running and some queued.
    const long = await pool(Array.from({ length: TO_CANCEL }), 10, () =>
      submit({ priority: 1, payload: { durationMs: 120_000, steps: 2 } }),
    );
    await waitFor(
      async () => {
        const [{ n }] = await rows<{ n: string }>(
          `SELECT count(*) AS n FROM jobs WHERE status = 'running' AND payload->>'durationMs' = '120000'`,
        );
        return Number(n) >= 1;
      },
      { timeoutMs: 60_000, what: 'a long job to be running' },
    );
    const cancels = await pool(long, 10, async (id) => {
      const response = await fetch(`${api}/jobs/${id}`, { method: 'DELETE', headers: auth });
      return response.status;
    });
    expect(cancels.filter((s) => s !== 200 && s !== 202)).toEqual([]);
    expect(cancels).toContain(200); // was queued
    expect(cancels).toContain(202); // was running

    await waitFor(
      async () => {
        const [{ n }] = await rows<{ n: string }>(
          `SELECT count(*) AS n FROM jobs WHERE status IN ('completed', 'failed', 'cancelled')`,
        );
        return Number(n) === JOBS;
      },
      { timeoutMs: 120_000, intervalMs: 200, what: `${JOBS} jobs in a terminal state` },
    );
    const statuses = await rows<{ status: string; n: string }>(
      `SELECT status, count(*) AS n FROM jobs GROUP BY 1 ORDER BY 1`,
    );
    expect(statuses.map((r) => r.status)).toEqual(['cancelled', 'completed', 'failed']);

    // The tracker writes the history (retrying events) in batches; wait for the last job's.
    let expected = await expectedFromDatabase();
    let last: Expected | undefined;
    try {
      await waitFor(
        async () => {
          expected = await expectedFromDatabase();
          last = actual(await metrics());
          return canonical(last) === canonical(expected);
        },
        { timeoutMs: 30_000, intervalMs: 200, what: 'the counters to equal the database' },
      );
    } finally {
      expect(last).toEqual(expected);
    }
    expect(Object.values(expected.switchyard_jobs_submitted_total).reduce((a, b) => a + b, 0)).toBe(JOBS);
    expect(Object.keys(expected.switchyard_jobs_failed_total).length).toBeGreaterThanOrEqual(1);

    // Duration: the sum is the completed jobs' run time (event times are ISO strings to the ms).
    const e = await metrics();
    const [{ seconds, completed }] = await rows<{ seconds: string; completed: string }>(
      `SELECT sum(extract(epoch FROM finished_at - started_at)) AS seconds, count(*) AS completed
         FROM jobs WHERE status = 'completed'`,
    );
    expect(Math.abs(total(e, 'switchyard_job_duration_seconds_sum') - Number(seconds))).toBeLessThanOrEqual(
      Number(completed) * 0.002,
    );
    // Buckets are cumulative: +Inf holds every observation.
    expect(total(e, 'switchyard_job_duration_seconds_bucket', { le: '+Inf' })).toBe(Number(completed));

    // Nothing left in flight, and the failed jobs in the DLQ: the queue gauges say so too.
    const [{ dlq }] = await rows<{ dlq: string }>(
      `SELECT count(*) AS dlq FROM jobs WHERE status = 'failed' AND dead_lettered`,
    );
    expect(Number(dlq)).toBeGreaterThan(0);
    await waitFor(
      async () => {
        const q = await metrics();
        return (
          total(q, 'switchyard_queue_depth', { queue: 'dlq', state: 'dead_lettered' }) === Number(dlq) &&
          total(q, 'switchyard_queue_depth', { queue: 'default', state: 'ready' }) === 0 &&
          total(q, 'switchyard_queue_depth', { queue: 'default', state: 'running' }) === 0 &&
          total(q, 'switchyard_queue_depth', { queue: 'default', state: 'retrying' }) === 0 &&
          total(q, 'switchyard_queue_oldest_age_seconds', { queue: 'default' }) === 0
        );
      },
      { what: 'empty queue gauges' },
    );
  });

  it('ignores events the broker delivers again', async () => {
    const before = await metrics();
    const pick = (name: string) => {
      const found = captured.find((c) => c.routingKey === name);
      if (!found) throw new Error(`no ${name} event captured`);
      return found;
    };
    const again = [pick('job.queued'), pick('job.started'), pick('job.completed'), pick('job.failed')];
    // Delivered again the way the metrics service receives events: one internal batch message.
    channel.publish(
      `${stack.id}.internal`,
      EVENT_BATCH_ROUTING_KEY,
      Buffer.from(`[${again.map((event) => event.body.toString()).join(',')}]`),
      { contentType: CLOUDEVENTS_BATCH_CONTENT_TYPE, type: JOB_EVENT_BATCH, persistent: true },
    );
    const dropped = (e: Exposition) =>
      total(e, 'switchyard_metrics_events_dropped_total', { reason: 'duplicate' });
    const after = await waitFor(
      async () => {
        const e = await metrics();
        return dropped(e) >= dropped(before) + again.length ? e : undefined;
      },
      { what: 'the repeated events to be dropped' },
    );
    expect(actual(after)).toEqual(actual(before));
  });

  it('starts from zero after a restart and counts what was published while it was down', async () => {
    expect(total(await metrics(), 'switchyard_jobs_submitted_total')).toBe(JOBS);
    expect(await stack.service('metrics').stop('SIGTERM')).toBe(0);

    const ids = await pool(Array.from({ length: 10 }), 5, () => submit({ payload: { durationMs: 0 } }));
    await waitFor(
      async () => {
        const [{ n }] = await rows<{ n: string }>(
          `SELECT count(*) AS n FROM jobs WHERE status = 'completed' AND id = ANY('{${ids.join(',')}}'::uuid[])`,
        );
        return Number(n) === ids.length;
      },
      { timeoutMs: 30_000, what: 'the jobs submitted meanwhile to complete' },
    );

    await stack.start(['metrics']);
    const restarted = await waitFor(
      async () => {
        const e = await metrics();
        // job.queued waits for a batched priority lookup, so it may be counted after job.completed.
        const counted =
          total(e, 'switchyard_jobs_completed_total') === ids.length &&
          total(e, 'switchyard_jobs_submitted_total') >= ids.length;
        return counted ? e : undefined;
      },
      { timeoutMs: 20_000, what: 'the backlog to be counted' },
    );
    expect(total(restarted, 'switchyard_jobs_submitted_total')).toBe(ids.length);
    expect(total(restarted, 'switchyard_job_duration_seconds_count')).toBe(ids.length);
    expect(total(restarted, 'switchyard_jobs_failed_total')).toBe(0);
  });
});
