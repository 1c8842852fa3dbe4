import { performance } from 'node:perf_hooks';
import { cpuMark, cpuReport } from '../harness';
import { distribution, round, rounded, sleep } from '../stats';
import { atMost, type ScenarioContext, type ScenarioResult } from './types';

export const SUBMIT_P99_TARGET_MS = 25;
const WARMUP_S = 2;

interface Sample {
  scheduled: number;
  sent: number;
  done: number;
  status: number;
  warmup: boolean;
}

/**
 * SPEC §10 submit latency: single POST /jobs at a fixed rate, open loop (each request is sent at
 * its scheduled time whether or not earlier ones were answered, so a slow gateway cannot slow the
 * load down). Latency is from the request being written to the last byte of the answer; the
 * first WARMUP_S seconds are not counted. The jobs run as usual (the worker is busy meanwhile).
 */
export async function submitLatency(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { options, log } = ctx;
  const bench = await ctx.stack();
  const rate = options.latencyRate;
  const total = Math.round(rate * (options.latencySeconds + WARMUP_S));
  const warmupCount = rate * WARMUP_S;
  const interval = 1000 / rate;
  const tag = `submit-latency-${Date.now()}`;
  log(
    `submit latency: ${total} single POST /jobs at ${rate}/s open loop (${WARMUP_S} s warm-up not counted)`,
  );

  const cpuBefore = await cpuMark(bench);
  bench.startProfiling(options);
  const samples: Sample[] = [];
  const pending: Promise<void>[] = [];
  const fire = (i: number, scheduled: number) => {
    const sent = performance.now();
    pending.push(
      bench.http
        .post('/jobs', {
          type: 'synthetic',
          payload: { durationMs: 0 },
          // Identical requests within DEDUP_WINDOW_MS would be answered 200 from the dedup window.
          dedupe: false,
          metadata: { bench: tag },
        })
        .then(
          (response) => {
            samples.push({
              scheduled,
              sent,
              done: performance.now(),
              status: response.status,
              warmup: i < warmupCount,
            });
          },
          () => {
            samples.push({ scheduled, sent, done: performance.now(), status: 0, warmup: i < warmupCount });
          },
        ),
    );
  };
  const t0 = performance.now();
  let i = 0;
  while (i < total) {
    const now = performance.now();
    while (i < total && t0 + i * interval <= now) {
      fire(i, t0 + i * interval);
      i += 1;
    }
    await sleep(Math.max(0, t0 + i * interval - performance.now()));
  }
  const sendSeconds = (performance.now() - t0) / 1000;
  await Promise.all(pending);
  const cpuAfter = await cpuMark(bench);
  // (A stack started without a worker, for diagnosing the gateway alone, leaves its jobs queued.)
  if (bench.stack.services.has('worker')) await bench.waitForDrain(120000);

  const measured = samples.filter((s) => !s.warmup);
  const ok = measured.filter((s) => s.status === 202);
  const latency = distribution(ok.map((s) => s.done - s.sent));
  const fromSchedule = distribution(ok.map((s) => s.done - s.scheduled));
  const sendLag = distribution(measured.map((s) => s.sent - s.scheduled));
  const errors = measured.length - ok.length;
  const statuses: Record<string, number> = {};
  for (const s of measured) statuses[String(s.status)] = (statuses[String(s.status)] ?? 0) + 1;
  const achieved = total / sendSeconds;
  log(
    `submit latency: p50 ${round(latency.p50, 2)} ms, p99 ${round(latency.p99, 2)} ms, ${errors} errors, ${round(achieved)} req/s sent`,
  );
  const r = (v: number) => round(v, 2);
  return {
    name: 'submit-latency',
    rows: [
      {
        measure: `submit latency p50, single POST /jobs at ${rate}/s`,
        value: r(latency.p50),
        unit: 'ms',
        target: '',
        pass: null,
      },
      { measure: `submit latency p95`, value: r(latency.p95), unit: 'ms', target: '', pass: null },
      {
        measure: `submit latency p99`,
        value: r(latency.p99),
        unit: 'ms',
        target: `≤ ${SUBMIT_P99_TARGET_MS}`,
        pass: errors === 0 && atMost(latency.p99, SUBMIT_P99_TARGET_MS),
      },
    ],
    details: {
      rate,
      achievedRate: round(achieved),
      seconds: options.latencySeconds,
      warmupSeconds: WARMUP_S,
      requests: measured.length,
      errors,
      statuses,
      latencyMs: rounded(latency),
      latencyFromScheduleMs: rounded(fromSchedule),
      clientSendLagMs: rounded(sendLag),
      cpu: cpuReport(cpuBefore, cpuAfter, total),
    },
  };
}
