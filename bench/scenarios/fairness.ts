import { distribution, round, rounded } from '../stats';
import { atMost, type ScenarioContext, type ScenarioResult } from './types';

/** SPEC §11: with one tenant flooding 5,000 jobs, another tenant's jobs start within 2 s (p99). */
export const FAIRNESS_TARGET_MS = 2000;
const FLOOD_JOBS = 5000;
const SMALL_JOBS = 50;
const JOB_MS = 20;

async function tenantKey(bench: Awaited<ReturnType<ScenarioContext['stack']>>, tenant: string) {
  const response = await bench.http.request<{ key?: string }>(
    'POST',
    '/admin/api-keys',
    { tenant, name: 'bench fairness', scopes: ['jobs:read', 'jobs:write'] },
    bench.http.adminKey,
  );
  if (response.status !== 201 || !response.body.key) {
    throw new Error(`POST /admin/api-keys answered ${response.status}`);
  }
  return response.body.key;
}

/**
 * Fair share between tenants: tenant "flood" submits 5,000 `synthetic` jobs of 20 ms in batches,
 * then, with the flood's backlog still waiting, tenant "small" submits 50 jobs one by one (one every
 * 20 ms). Reports the small tenant's wait (created → started, database clock) p50/p99/max, and the
 * flood's backlog when the small tenant's last job started (it must not be empty, or nothing was
 * measured).
 */
export async function fairness(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { log } = ctx;
  const bench = await ctx.stack();
  await bench.waitForDrain(60000);
  const tag = `fairness-${Date.now()}`;
  const [floodKey, smallKey] = [
    await tenantKey(bench, `${tag}-flood`),
    await tenantKey(bench, `${tag}-small`),
  ];
  const job = { type: 'synthetic', payload: { durationMs: JOB_MS }, metadata: { bench: tag }, dedupe: false };
  log(`fairness: ${FLOOD_JOBS} jobs of ${JOB_MS} ms from one tenant, then ${SMALL_JOBS} from another`);
  for (let i = 0; i < FLOOD_JOBS; i += 100) {
    const jobs = Array.from({ length: Math.min(100, FLOOD_JOBS - i) }, () => job);
    const response = await bench.http.request('POST', '/jobs/batch', { jobs }, floodKey);
    if (response.status !== 202) throw new Error(`flood batch answered ${response.status}`);
  }
  const small: string[] = [];
  for (let i = 0; i < SMALL_JOBS; i++) {
    const response = await bench.http.request<{ id: string }>('POST', '/jobs', job, smallKey);
    if (response.status !== 202) throw new Error(`small submission answered ${response.status}`);
    small.push(response.body.id);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const deadline = Date.now() + 120000;
  let waits: number[] = [];
  while (Date.now() < deadline) {
    const { rows } = await bench.db.query<{ wait: number | null }>(
      `SELECT extract(epoch FROM started_at - created_at) * 1000 AS wait FROM jobs WHERE id = ANY($1::uuid[])`,
      [small],
    );
    if (rows.length === small.length && rows.every((r) => r.wait !== null)) {
      waits = rows.map((r) => Number(r.wait));
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (waits.length !== SMALL_JOBS) throw new Error('the small tenant’s jobs did not all start within 120 s');
  const { rows: left } = await bench.db.query<{ n: string }>(
    `SELECT count(*) AS n FROM jobs WHERE tenant = $1 AND status = 'queued'`,
    [`${tag}-flood`],
  );
  const floodLeft = Number(left[0]?.n ?? 0);
  await bench.waitForDrain(300000);
  const wait = distribution(waits);
  log(`fairness: small tenant wait p50 ${round(wait.p50, 1)} ms, p99 ${round(wait.p99, 1)} ms`);
  return {
    name: 'fairness',
    rows: [
      {
        measure: `small tenant's start wait behind a ${FLOOD_JOBS}-job flood, p99`,
        value: round(wait.p99, 1),
        unit: 'ms',
        target: `≤ ${FAIRNESS_TARGET_MS}`,
        pass: atMost(wait.p99, FAIRNESS_TARGET_MS),
      },
      {
        measure: "  small tenant's start wait, p50",
        value: round(wait.p50, 1),
        unit: 'ms',
        target: '',
        pass: null,
      },
      {
        measure: '  flood jobs still queued when the small tenant’s last job started',
        value: floodLeft,
        unit: 'jobs',
        target: '',
        pass: null,
      },
    ],
    details: {
      floodJobs: FLOOD_JOBS,
      smallJobs: SMALL_JOBS,
      jobMs: JOB_MS,
      waitMs: rounded(wait),
      floodLeft,
    },
  };
}
