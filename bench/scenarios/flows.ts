import { distribution, round, rounded } from '../stats';
import { atMost, type ScenarioContext, type ScenarioResult } from './types';

/** SPEC §11: a 500-job flow is accepted in under 1 s. */
export const FLOW_ACCEPT_TARGET_MS = 1000;
const FLOW_JOBS = 500;
const LAYERS = 10;

/**
 * A 500-job flow: ten layers of 50 no-op `synthetic` jobs, each job depending on two jobs of the
 * layer before (990 edges). Every job is validated, then the flow is inserted in one transaction.
 */
export function layeredFlow(tag: string): { name: string; jobs: Record<string, unknown>[] } {
  const width = FLOW_JOBS / LAYERS;
  const jobs = Array.from({ length: FLOW_JOBS }, (_, i) => {
    const layer = Math.floor(i / width);
    const k = i % width;
    return {
      ref: `l${layer}.${k}`,
      type: 'synthetic',
      payload: { durationMs: 0 },
      metadata: { bench: tag },
      ...(layer > 0 ? { dependsOn: [`l${layer - 1}.${k}`, `l${layer - 1}.${(k + 1) % width}`] } : {}),
    };
  });
  return { name: tag, jobs };
}

/**
 * Acceptance time of 500-job flows (`POST /flows` round trip, request sent → 202), one flow at a
 * time with the previous one run to completion first (the tenant's active-job quota is 1,000), and
 * how long each flow then takes to run its ten layers of no-op jobs.
 */
export async function flows(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { log, options } = ctx;
  const bench = await ctx.stack();
  const count = options.jobs >= 20000 ? 10 : 3;
  const tag = `flows-${Date.now()}`;
  log(`flows: ${count} flows of ${FLOW_JOBS} jobs (${LAYERS} layers), one at a time`);
  await bench.waitForDrain(60000);
  const acceptMs: number[] = [];
  const runMs: number[] = [];
  for (let i = 0; i < count; i++) {
    const body = layeredFlow(`${tag}-${i}`);
    const sent = performance.now();
    const response = await bench.http.request<{ id: string }>('POST', '/flows', body);
    const accepted = performance.now();
    if (response.status !== 202) throw new Error(`POST /flows answered ${response.status}`);
    acceptMs.push(accepted - sent);
    await bench.waitForDrain(120000, 50);
    runMs.push(performance.now() - accepted);
  }
  const { rows } = await bench.db.query<{ status: string; n: string }>(
    `SELECT status, count(*) AS n FROM jobs WHERE metadata->>'bench' LIKE $1 GROUP BY status`,
    [`${tag}-%`],
  );
  const byStatus = Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  const accept = distribution(acceptMs);
  const run = distribution(runMs);
  log(`flows: accepted in p50 ${round(accept.p50, 1)} ms, max ${round(accept.max, 1)} ms`);
  return {
    name: 'flows',
    rows: [
      {
        measure: `500-job flow accepted (POST /flows → 202), max of ${count}`,
        value: round(accept.max, 1),
        unit: 'ms',
        target: `< ${FLOW_ACCEPT_TARGET_MS}`,
        pass: atMost(accept.max, FLOW_ACCEPT_TARGET_MS - 1),
      },
      {
        measure: '  500-job flow run to completion (10 layers of no-op jobs), p50',
        value: round(run.p50, 0),
        unit: 'ms',
        target: '',
        pass: null,
      },
    ],
    details: {
      flows: count,
      jobsPerFlow: FLOW_JOBS,
      acceptMs: rounded(accept),
      runMs: rounded(run),
      byStatus,
    },
  };
}
