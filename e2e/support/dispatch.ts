import { Pool } from 'pg';
import { TestStack, waitFor, type TestApi } from '@switchyard/testing';

/** Helpers shared by the dispatcher's end-to-end tests: submissions and direct reads of `jobs`. */

export const at = (iso: string | null | undefined): number => (iso ? new Date(iso).getTime() : NaN);

/** What a dispatcher suite's tests use: set up before the first test, torn down after the last. */
export interface DispatchSuite {
  stack: TestStack;
  api: TestApi;
  db: Pool;
}

/**
 * Registers the usual setup of a dispatcher suite: a stack with `env`, its gateway and
 * progress-tracker started (workers are spawned by the tests), an API client and a pool on its
 * database; both closed after the suite.
 */
export function dispatchSuite(env: Record<string, string>): DispatchSuite {
  const suite = {} as DispatchSuite;
  beforeAll(async () => {
    suite.stack = await TestStack.create(env);
    await suite.stack.start(['gateway', 'progress-tracker']);
    suite.api = suite.stack.api();
    suite.db = jobsDb(suite.stack);
  });
  afterAll(async () => {
    await suite.db?.end();
    await suite.stack?.destroy();
  });
  return suite;
}

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
