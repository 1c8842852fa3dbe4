import { Pool } from 'pg';
import { waitFor, type TestApi, type TestStack } from '@switchyard/testing';

/** Helpers shared by the dispatcher's end-to-end tests: submissions and direct reads of `jobs`. */

export const at = (iso: string | null | undefined): number => (iso ? new Date(iso).getTime() : NaN);

/** A pool on the stack's database; connections dropped by a PostgreSQL restart are replaced. */
export function jobsDb(stack: TestStack): Pool {
  const db = new Pool({ connectionString: stack.db.url, max: 2 });
  db.on('error', () => undefined);
  return db;
}

/**
 * Submits `count` jobs built by `item(i)` through POST /jobs/batch (100 per batch, `parallel`
 * batches in flight, spread round-robin over `apis`); returns the ids in submission order.
 */
export async function submitBatches(
  apis: TestApi | TestApi[],
  count: number,
  item: (i: number) => Record<string, unknown>,
  parallel = 2,
): Promise<string[]> {
  const clients = Array.isArray(apis) ? apis : [apis];
  const batches = Math.ceil(count / 100);
  const ids: string[][] = new Array<string[]>(batches);
  let next = 0;
  const lane = async () => {
    for (let b = next++; b < batches; b = next++) {
      const jobs = Array.from({ length: Math.min(100, count - b * 100) }, (_, k) => ({
        dedupe: false,
        ...item(b * 100 + k),
      }));
      const response = await clients[b % clients.length].post<{ jobs: { id: string }[] }>('/jobs/batch', {
        jobs,
      });
      if (response.status !== 202) {
        throw new Error(`batch answered ${response.status}: ${JSON.stringify(response.body)}`);
      }
      ids[b] = response.body.jobs.map((j) => j.id);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, batches) }, lane));
  return ids.flat();
}

export async function statusCounts(db: Pool, ids: string[]): Promise<Record<string, number>> {
  const { rows } = await db.query<{ status: string; n: string }>(
    `SELECT status, count(*) AS n FROM jobs WHERE id = ANY($1::uuid[]) GROUP BY status`,
    [ids],
  );
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/** Waits until every job of `ids` is `completed`; the failure message carries the statuses. */
export async function expectAllCompleted(db: Pool, ids: string[], timeoutMs = 60000): Promise<void> {
  await waitFor(async () => ((await statusCounts(db, ids))['completed'] ?? 0) === ids.length, {
    timeoutMs,
    intervalMs: 250,
    what: `${ids.length} jobs completed`,
  }).catch(async (error: Error) => {
    throw new Error(`${error.message}; statuses: ${JSON.stringify(await statusCounts(db, ids))}`);
  });
}

/**
 * No job ran twice at once: in each job's history, a `started` is always followed by the end of
 * that attempt (completed, retrying, queued, failed, cancelled) before the next `started`.
 * Returns how many jobs started at least once.
 */
export async function expectNoOverlappingAttempts(db: Pool, ids: string[]): Promise<number> {
  const { rows } = await db.query<{ job_id: string; event: string }>(
    `SELECT job_id, event FROM job_events WHERE job_id = ANY($1::uuid[]) ORDER BY job_id, seq`,
    [ids],
  );
  const open = new Map<string, boolean>();
  const overlapping: string[] = [];
  for (const row of rows) {
    if (row.event === 'started') {
      if (open.get(row.job_id)) overlapping.push(row.job_id);
      open.set(row.job_id, true);
    } else if (row.event !== 'progress') {
      open.set(row.job_id, false);
    }
  }
  expect(overlapping).toEqual([]);
  return new Set(rows.filter((r) => r.event === 'started').map((r) => r.job_id)).size;
}

/** The value of one counter of a Prometheus exposition, summed over the series matching `labels`. */
export async function counterValue(url: string, name: string, labels: Record<string, string> = {}) {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
