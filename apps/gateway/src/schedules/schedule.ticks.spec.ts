import {
  applyOverlap,
  cronProblem,
  isTimeZone,
  jitterOf,
  MISSED_COUNT_MAX,
  ON_TIME_MS,
  planTicks,
  TickSeries,
  type TickRule,
} from './schedule.ticks';

const t = (iso: string) => new Date(iso).getTime();
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const rule = (over: Partial<TickRule>): TickRule => ({
  cron: null,
  everyMs: null,
  timezone: 'UTC',
  startAt: null,
  endAt: null,
  ...over,
});
const ticks = (series: TickSeries, from: string, to: string) => series.between(t(from), t(to), 1000).map(iso);

describe('schedule ticks', () => {
  describe('daylight saving time', () => {
    it('Europe/Berlin spring forward: 02:30 does not exist on 29 March 2026, so it runs once at 03:00', () => {
      const daily = new TickSeries(rule({ cron: '30 2 * * *', timezone: 'Europe/Berlin' }));
      expect(ticks(daily, '2026-03-28T00:00:00Z', '2026-03-30T23:59:59Z')).toEqual([
        '2026-03-28T01:30:00.000Z', // 02:30 CET
        '2026-03-29T01:00:00.000Z', // 03:00 CEST, the first valid time after 02:30
        '2026-03-30T00:30:00.000Z', // 02:30 CEST
      ]);
    });

    it('Europe/Berlin fall back: 02:30 happens twice on 25 October 2026 and runs once, at the first', () => {
      const daily = new TickSeries(rule({ cron: '30 2 * * *', timezone: 'Europe/Berlin' }));
      expect(ticks(daily, '2026-10-24T00:00:00Z', '2026-10-26T23:59:59Z')).toEqual([
        '2026-10-24T00:30:00.000Z',
        '2026-10-25T00:30:00.000Z', // 02:30 CEST; 02:30 CET (01:30Z) does not run again
        '2026-10-26T01:30:00.000Z',
      ]);
    });

    it('America/New_York spring forward (8 March 2026) and fall back (1 November 2026)', () => {
      const spring = new TickSeries(rule({ cron: '30 2 * * *', timezone: 'America/New_York' }));
      expect(ticks(spring, '2026-03-07T12:00:00Z', '2026-03-09T12:00:00Z')).toEqual([
        '2026-03-08T07:00:00.000Z', // 03:00 EDT
        '2026-03-09T06:30:00.000Z',
      ]);
      const fall = new TickSeries(rule({ cron: '30 1 * * *', timezone: 'America/New_York' }));
      expect(ticks(fall, '2026-10-31T12:00:00Z', '2026-11-02T12:00:00Z')).toEqual([
        '2026-11-01T05:30:00.000Z', // 01:30 EDT; 01:30 EST (06:30Z) does not run again
        '2026-11-02T06:30:00.000Z',
      ]);
    });

    it('an hourly schedule stays hourly in real time: 23 runs on the spring-forward day, 25 on the fall-back day', () => {
      const hourly = new TickSeries(rule({ cron: '@hourly', timezone: 'Europe/Berlin' }));
      // The local days, from local midnight to local midnight.
      expect(ticks(hourly, '2026-03-28T23:00:00Z', '2026-03-29T21:59:59Z')).toHaveLength(23);
      const fallDay = ticks(hourly, '2026-10-24T22:00:00Z', '2026-10-25T22:59:59Z');
      expect(fallDay).toHaveLength(25);
      expect(new Set(fallDay).size).toBe(25);
    });
  });

  describe('bounds', () => {
    it('startAt: no tick before it', () => {
      const series = new TickSeries(rule({ everyMs: 60000, startAt: t('2026-01-01T00:10:30Z') }));
      expect(iso(series.next(t('2026-01-01T00:00:00Z')))).toBe('2026-01-01T00:11:00.000Z');
      const exact = new TickSeries(rule({ cron: '*/10 * * * *', startAt: t('2026-01-01T00:10:00Z') }));
      expect(iso(exact.next(t('2026-01-01T00:00:00Z')))).toBe('2026-01-01T00:10:00.000Z');
    });

    it('endAt: the last tick is at or before it, then none', () => {
      const series = new TickSeries(rule({ cron: '0 * * * *', endAt: t('2026-01-01T03:00:00Z') }));
      expect(iso(series.next(t('2026-01-01T01:30:00Z')))).toBe('2026-01-01T02:00:00.000Z');
      expect(iso(series.next(t('2026-01-01T02:00:00Z')))).toBe('2026-01-01T03:00:00.000Z');
      expect(series.next(t('2026-01-01T03:00:00Z'))).toBeNull();
    });

    it('intervals are multiples of everyMs since the epoch, strictly after the time given', () => {
      const series = new TickSeries(rule({ everyMs: 1000 }));
      expect(series.next(5000)).toBe(6000);
      expect(series.next(5001)).toBe(6000);
      expect(series.between(0, 10000, 1000)).toEqual([
        0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000,
      ]);
    });

    it('24 h of an hourly schedule are 24 ticks; a range beyond the limit reports one more than allowed', () => {
      const hourly = new TickSeries(rule({ cron: '0 * * * *', timezone: 'Europe/Berlin' }));
      expect(ticks(hourly, '2026-05-01T00:00:00Z', '2026-05-01T23:59:59Z')).toHaveLength(24);
      expect(hourly.between(t('2026-01-01T00:00:00Z'), t('2026-12-31T00:00:00Z'), 1000)).toHaveLength(1001);
    });
  });

  describe('planTicks (a fake clock)', () => {
    const every = new TickSeries(rule({ everyMs: 1000 }));
    const now = 100_500;

    it('after downtime, ticks younger than catchupWindowMs run once each and the older ones are missed', () => {
      // Last evaluated before 90 s; the evaluator started just now.
      const plan = planTicks(every, { nextRunAt: 90_000, catchupWindowMs: 3000 }, now, now - 10, 1000);
      expect(plan.due).toEqual([98_000, 99_000, 100_000]);
      expect(plan.missed).toBe(8); // 90 … 97 s
      expect(plan.next).toBe(101_000);
    });

    it('with catchupWindowMs 0 no tick from before the evaluator started runs', () => {
      const plan = planTicks(every, { nextRunAt: 90_000, catchupWindowMs: 0 }, now, 99_700, 1000);
      expect(plan.due).toEqual([100_000]);
      expect(plan.missed).toBe(10);
    });

    it('a running evaluator that is late runs its ticks (ON_TIME_MS), older ones follow the window', () => {
      const plan = planTicks(every, { nextRunAt: 96_000, catchupWindowMs: 0 }, now, 0, 1000);
      expect(plan.due).toEqual([96_000, 97_000, 98_000, 99_000, 100_000]);
      expect(plan.missed).toBe(0);
      const late = planTicks(every, { nextRunAt: 90_000, catchupWindowMs: 0 }, now, 0, 1000);
      expect(late.due[0]).toBe(now - ON_TIME_MS + 500);
    });

    it('nothing due yet: nothing happens', () => {
      expect(planTicks(every, { nextRunAt: 101_000, catchupWindowMs: 60000 }, now, 0, 1000)).toEqual({
        due: [],
        missed: 0,
        next: 101_000,
      });
    });

    it('at most `max` ticks per call; the rest stay due', () => {
      const plan = planTicks(every, { nextRunAt: 50_000, catchupWindowMs: 60_000 }, now, 0, 10);
      expect(plan.due).toHaveLength(10);
      expect(plan.next).toBe(60_000);
    });

    it('cron: missed ticks are counted one by one up to a bound, and the next tick follows the window', () => {
      const minutely = new TickSeries(rule({ cron: '* * * * *' }));
      const start = t('2026-01-01T00:00:00Z');
      const at = start + 90 * 60_000 + 30_000;
      const plan = planTicks(minutely, { nextRunAt: start, catchupWindowMs: 120_000 }, at, at, 1000);
      expect(plan.due.map(iso)).toEqual(['2026-01-01T01:29:00.000Z', '2026-01-01T01:30:00.000Z']);
      expect(plan.missed).toBe(89);
      const years = planTicks(
        minutely,
        { nextRunAt: start, catchupWindowMs: 0 },
        start + 365 * 86_400_000,
        0,
        1000,
      );
      expect(years.missed).toBe(MISSED_COUNT_MAX);
      expect(years.next).toBeGreaterThan(start + 365 * 86_400_000 - ON_TIME_MS);
    });

    it('an ended schedule has no next tick', () => {
      const ending = new TickSeries(rule({ everyMs: 1000, endAt: 99_000 }));
      const plan = planTicks(ending, { nextRunAt: 98_000, catchupWindowMs: 60_000 }, now, 0, 1000);
      expect(plan).toEqual({ due: [98_000, 99_000], missed: 0, next: null });
    });
  });

  it('jitter: within [0, jitterMs], the same for a tick every time, spread over the range', () => {
    const values = Array.from({ length: 5000 }, (_, i) =>
      jitterOf('a8a4c5a6-1d0e-4d7c-9f57-3c1f2c8f0a11', i * 1000, 2000),
    );
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeLessThanOrEqual(2000);
    expect(Math.max(...values)).toBeGreaterThan(1900);
    expect(Math.min(...values)).toBeLessThan(100);
    expect(jitterOf('a8a4c5a6-1d0e-4d7c-9f57-3c1f2c8f0a11', 7000, 2000)).toBe(values[7]);
    expect(jitterOf('x', 7000, 0)).toBe(0);
  });

  describe('overlap policies', () => {
    it('skip drops ticks while a run is unfinished', () => {
      expect(applyOverlap('skip', ['r1'], null, [1, 2])).toEqual({
        create: [],
        skipped: 2,
        bufferedFor: null,
        cancel: [],
      });
      expect(applyOverlap('skip', [], null, [1, 2, 3])).toEqual({
        create: [1],
        skipped: 2,
        bufferedFor: null,
        cancel: [],
      });
    });

    it('buffer_one holds one tick while a run is unfinished and drops the rest', () => {
      expect(applyOverlap('buffer_one', ['r1'], null, [1, 2, 3])).toEqual({
        create: [],
        skipped: 2,
        bufferedFor: 1,
        cancel: [],
      });
      expect(applyOverlap('buffer_one', ['r1'], 1, [2])).toEqual({
        create: [],
        skipped: 1,
        bufferedFor: 1,
        cancel: [],
      });
      expect(applyOverlap('buffer_one', [], null, [5, 6])).toEqual({
        create: [5],
        skipped: 0,
        bufferedFor: 6,
        cancel: [],
      });
    });

    it('allow runs every tick; cancel_previous cancels the unfinished runs and runs the newest tick', () => {
      expect(applyOverlap('allow', ['r1'], null, [1, 2])).toEqual({
        create: [1, 2],
        skipped: 0,
        bufferedFor: null,
        cancel: [],
      });
      expect(applyOverlap('cancel_previous', ['r1', 'r2'], null, [1, 2])).toEqual({
        create: [2],
        skipped: 1,
        bufferedFor: null,
        cancel: ['r1', 'r2'],
      });
    });
  });

  it('refuses cron expressions that are not 5 or 6 fields or an alias, and unknown zones', () => {
    expect(cronProblem('*/5 * * * *', 'UTC')).toBeNull();
    expect(cronProblem('*/5 * * * * *', 'Europe/Berlin')).toBeNull();
    expect(cronProblem('@hourly', 'UTC')).toBeNull();
    expect(cronProblem('* * * *', 'UTC')).toMatch(/4 fields/);
    expect(cronProblem('0 0 0 * * * 2020', 'UTC')).toMatch(/7 fields/);
    expect(cronProblem('@sometimes', 'UTC')).toMatch(/unknown alias/);
    expect(cronProblem('61 * * * *', 'UTC')).toMatch(/minute/);
    expect(cronProblem('0 0 31 2 *', 'UTC')).toMatch(/never/);
    expect(isTimeZone('America/New_York')).toBe(true);
    expect(isTimeZone('Mars/Olympus')).toBe(false);
  });
});
