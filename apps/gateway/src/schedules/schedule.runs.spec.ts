import pino from 'pino';
import type { ScheduleRow, ScheduleTx } from '@switchyard/persistence';
import type { JobsService } from '../jobs/jobs.service';
import type { SubmissionLimits } from '../jobs/submission.limits';
import type { SubmissionValidator, ValidSubmission } from '../jobs/submission.validator';
import { validSubmission } from '../jobs/submission.testing';
import type { LifecycleService } from '../lifecycle/lifecycle.service';
import { ScheduleRuns } from './schedule.runs';
import { jitterOf } from './schedule.ticks';

const NOW = Date.parse('2026-06-01T12:00:00.000Z');
const JITTER_MS = 60_000;

const submission = validSubmission({ concurrencyKey: 'nightly' });

const row = {
  id: '6f1c2b9e-8a55-4d1e-9a53-0c7d3b1e2f40',
  tenant: 'alpha',
  overlap: 'allow',
  jitter_ms: JITTER_MS,
  buffered_for: null,
  job: { type: 'synthetic', payload: {}, concurrencyKey: 'nightly' },
} as unknown as ScheduleRow;

describe('ScheduleRuns', () => {
  it('starts each run at its tick plus the jitter of (schedule, tick): runAt = tick + jitterOf(…) when still ahead', async () => {
    const prepared: { items: ValidSubmission[]; extra: unknown[] }[] = [];
    const runs = new ScheduleRuns(
      pino({ level: 'silent' }),
      { check: () => ({ ok: true, value: submission }) } as unknown as SubmissionValidator,
      {
        counts: () => Promise.resolve({}),
        assertRoom: () => undefined,
        created: () => undefined,
      } as unknown as SubmissionLimits,
      {
        prepare: (items: ValidSubmission[], _tenant: string, _ids: undefined, extra: unknown[]) => {
          prepared.push({ items, extra });
          return { jobs: [], outbox: [] };
        },
        committed: () => Promise.resolve(),
      } as unknown as JobsService,
      {} as LifecycleService,
      { runs: () => undefined, lag: () => undefined },
    );
    const tx: ScheduleTx = {
      activeRuns: () => Promise.resolve([]),
      existingTicks: () => Promise.resolve(new Set<number>()),
      insertRuns: () => Promise.resolve({ rows: [], outboxIds: [] }),
      save: () => Promise.reject(new Error('not saved here')),
    };
    // Ticks up to two minutes old: with a jitter of up to 60 s, some runs still lie ahead, some not.
    const ticks = Array.from({ length: 120 }, (_, i) => NOW - i * 1000);
    await runs.run(row, tx, ticks, NOW, { lagged: true });

    const [{ items, extra }] = prepared;
    expect(extra).toEqual(ticks.map((t) => ({ scheduleId: row.id, scheduledFor: new Date(t).toISOString() })));
    const jitters = ticks.map((t) => jitterOf(row.id, t, JITTER_MS));
    expect(items.map((item) => item.runAt)).toEqual(
      ticks.map((t, i) => (t + jitters[i] > NOW ? new Date(t + jitters[i]).toISOString() : null)),
    );
    // Within [0, jitterMs], not one fixed delay, and both kinds present (ahead: scheduled; else now).
    expect(jitters.every((j) => j >= 0 && j <= JITTER_MS)).toBe(true);
    expect(new Set(jitters).size).toBeGreaterThan(100);
    expect(items.some((item) => item.runAt === null)).toBe(true);
    expect(items.some((item) => item.runAt !== null)).toBe(true);
    // The rest of the submission is the schedule's job as validated (its concurrency key included).
    expect(items.every((item) => item.concurrencyKey === 'nightly' && item.type === 'synthetic')).toBe(true);
  });
});
