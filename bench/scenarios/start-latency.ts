import { distribution, round, rounded, sleep } from '../stats';
import { atMost, type ScenarioContext, type ScenarioResult } from './types';

export const START_P50_TARGET_MS = 5;
export const START_P99_TARGET_MS = 30;
/** Pause between jobs, long enough for the previous no-op job to have finished: the worker is idle. */
const GAP_MS = 40;

/**
 * SPEC §10 start latency with idle workers: one `synthetic` job at a time, the next only after a
 * pause, so every job finds an idle worker. Latency = started_at − created_at, both PostgreSQL
 * timestamps (created_at is the insert's transaction time, started_at the claim's), i.e. from the
 * job being accepted to it running. The client-side view (started_at − the moment the request was
 * sent, same clock on this machine) is reported beside it.
 */
export async function startLatency(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { options, log } = ctx;
  const bench = await ctx.stack();
  const tag = `start-latency-${Date.now()}`;
  log(`start latency: ${options.startSamples} jobs, one at a time, ${GAP_MS} ms apart`);
  await bench.waitForDrain(60000);
  const sentAt = new Map<string, number>();
  bench.startProfiling(options);
  for (let i = 0; i < options.startSamples; i++) {
    const sent = Date.now();
    const response = await bench.http.post<{ id: string }>('/jobs', {
      type: 'synthetic',
      payload: { durationMs: 0 },
      dedupe: false,
      metadata: { bench: tag },
    });
    if (response.status !== 202) throw new Error(`POST /jobs answered ${response.status}`);
    sentAt.set(response.body.id, sent);
    await sleep(GAP_MS);
  }
  await bench.waitForDrain(60000);
  const { rows } = await bench.db.query<{ id: string; accepted: number; started: number; status: string }>(
    `SELECT id, status,
            extract(epoch FROM created_at) * 1000 AS accepted,
            extract(epoch FROM started_at) * 1000 AS started
     FROM jobs WHERE metadata->>'bench' = $1`,
    [tag],
  );
  const fromAccept = distribution(rows.map((r) => Number(r.started) - Number(r.accepted)));
  const fromSend = distribution(rows.map((r) => Number(r.started) - (sentAt.get(r.id) ?? Number.NaN)));
  const notCompleted = rows.filter((r) => r.status !== 'completed').length;
  log(`start latency: p50 ${round(fromAccept.p50, 2)} ms, p99 ${round(fromAccept.p99, 2)} ms (from accept)`);
  const r = (v: number) => round(v, 2);
  return {
    name: 'start-latency',
    rows: [
      {
        measure: 'start latency p50 (accepted → running), idle workers',
        value: r(fromAccept.p50),
        unit: 'ms',
        target: `≤ ${START_P50_TARGET_MS}`,
        pass: atMost(fromAccept.p50, START_P50_TARGET_MS),
      },
      {
        measure: 'start latency p99',
        value: r(fromAccept.p99),
        unit: 'ms',
        target: `≤ ${START_P99_TARGET_MS}`,
        pass: atMost(fromAccept.p99, START_P99_TARGET_MS),
      },
      {
        measure: '  client view p50 / p99 (request sent → running)',
        value: `${r(fromSend.p50)} / ${r(fromSend.p99)}`,
        unit: 'ms',
        target: '',
        pass: null,
      },
    ],
    details: {
      samples: rows.length,
      gapMs: GAP_MS,
      notCompleted,
      fromAcceptMs: rounded(fromAccept),
      fromSendMs: rounded(fromSend),
    },
  };
}
