import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { createLogger, createWorkerMetrics } from '@switchyard/observability';
import type { UsageEntry } from '@switchyard/persistence';
import { AttemptUsage, CPU_READING_REUSE_MS, CpuMeter, UsageLedger, USAGE_UNITS_MAX } from './usage-ledger';

const quiet = createLogger('worker', 'silent', new Writable({ write: (_c, _e, done) => done() }));

describe('AttemptUsage', () => {
  it('sums units over calls and ignores bad units and amounts', () => {
    const usage = new AttemptUsage(quiet);
    usage.add({ tokens_in: 10, cost_usd: 0.5 });
    usage.add({ tokens_in: 5, 'Bad-Unit': 3, tokens_out: -1, gpu_seconds: Number.NaN });
    usage.add(null as unknown as Record<string, number>);
    expect(Object.fromEntries(usage.units)).toEqual({ tokens_in: 15, cost_usd: 0.5 });
  });

  it('records at most USAGE_UNITS_MAX distinct units', () => {
    const usage = new AttemptUsage(quiet);
    for (let i = 0; i < USAGE_UNITS_MAX + 5; i++) usage.add({ [`unit_${i}`]: 1 });
    expect(usage.units.size).toBe(USAGE_UNITS_MAX);
  });
});

describe('UsageLedger', () => {
  it('sums attempts per day, tenant, type and unit into one write, and counts the metric', async () => {
    const writes: UsageEntry[][] = [];
    const registry = new Registry();
    const ledger = new UsageLedger(
      { add: (entries) => (writes.push([...entries]), Promise.resolve()) },
      createWorkerMetrics(registry),
      quiet,
      60_000,
    );
    const at = new Date('2026-12-05T10:00:00Z');
    ledger.record({ tenant: 'a', type: 't' }, new Map([['tokens_in', 7]]), at);
    ledger.record(
      { tenant: 'a', type: 't' },
      new Map([
        ['tokens_in', 11],
        ['requests', 1],
      ]),
      at,
    );
    ledger.record({ tenant: 'b', type: 't' }, new Map([['tokens_in', 1]]), new Date('2026-12-06T00:00:01Z'));
    await ledger.flush();
    expect(writes).toHaveLength(1);
    expect(writes[0]).toEqual(
      expect.arrayContaining([
        { day: '2026-12-05', tenant: 'a', type: 't', unit: 'tokens_in', amount: 18, attempts: 2 },
        { day: '2026-12-05', tenant: 'a', type: 't', unit: 'requests', amount: 1, attempts: 1 },
        { day: '2026-12-06', tenant: 'b', type: 't', unit: 'tokens_in', amount: 1, attempts: 1 },
      ]),
    );
    expect(await registry.metrics()).toMatch(/switchyard_usage_total\{tenant="a",unit="tokens_in"\} 18/);
    await ledger.flush();
    expect(writes).toHaveLength(1); // nothing new, nothing written
  });

  it('puts each attempt in its own UTC day, on either side of midnight and back again', async () => {
    const writes: UsageEntry[][] = [];
    const ledger = new UsageLedger(
      { add: (entries) => (writes.push([...entries]), Promise.resolve()) },
      createWorkerMetrics(new Registry()),
      quiet,
      60_000,
    );
    const job = { tenant: 'a', type: 't' };
    const units = new Map([['requests', 1]]);
    ledger.record(job, units, new Date('2026-12-05T23:59:59.999Z'));
    ledger.record(job, units, Date.parse('2026-12-06T00:00:00.000Z'));
    ledger.record(job, units, new Date('2026-12-05T00:00:00.000Z'));
    ledger.record(job, units, new Date('2026-12-04T23:59:59.999Z'));
    await ledger.flush();
    expect(writes[0]?.map((e) => [e.day, e.attempts]).sort()).toEqual([
      ['2026-12-04', 1],
      ['2026-12-05', 2],
      ['2026-12-06', 1],
    ]);
  });

  it('keeps what a failed write held and adds it to the next one', async () => {
    let fail = true;
    const writes: UsageEntry[][] = [];
    const ledger = new UsageLedger(
      {
        add: (entries) =>
          fail ? Promise.reject(new Error('down')) : (writes.push([...entries]), Promise.resolve()),
      },
      createWorkerMetrics(new Registry()),
      quiet,
      60_000,
    );
    const at = new Date('2026-12-05T10:00:00Z');
    ledger.record({ tenant: 'a', type: 't' }, new Map([['cost_usd', 1.5]]), at);
    await ledger.flush();
    ledger.record({ tenant: 'a', type: 't' }, new Map([['cost_usd', 2]]), at);
    fail = false;
    await ledger.flush();
    expect(writes).toEqual([
      [{ day: '2026-12-05', tenant: 'a', type: 't', unit: 'cost_usd', amount: 3.5, attempts: 2 }],
    ]);
  });
});

describe('CpuMeter', () => {
  it('shares the CPU time between the attempts running at once', () => {
    const meter = new CpuMeter();
    const a = meter.start();
    const b = meter.start();
    const until = Date.now() + 30;
    while (Date.now() < until); // burn CPU while both run
    const aShare = meter.end(a);
    const bShare = meter.end(b);
    expect(aShare).toBeGreaterThan(0);
    // Both ran over the same interval: equal shares, each about half of what was used.
    expect(Math.abs(aShare - bShare)).toBeLessThan(0.01);
    expect(aShare + bShare).toBeLessThan(0.1);
  });

  it('reads the CPU time at most once per CPU_READING_REUSE_MS, and shares what the next reading adds', () => {
    let now = 0;
    let cpu = 10;
    let reads = 0;
    const meter = new CpuMeter(
      () => {
        reads++;
        return cpu;
      },
      () => now,
    );
    expect(reads).toBe(1);
    // Attempts starting and ending within the same millisecond: no further reading.
    const marks = Array.from({ length: 50 }, () => meter.start());
    for (const mark of marks.slice(0, 10)) expect(meter.end(mark)).toBe(0);
    expect(reads).toBe(1);
    // Later: one reading, and the 0.8 s used meanwhile shared by the 40 still running.
    now += CPU_READING_REUSE_MS;
    cpu += 0.8;
    const shares = marks.slice(10).map((mark) => meter.end(mark));
    expect(reads).toBe(2);
    expect(shares[0]).toBeCloseTo(0.02, 10);
    expect(shares.every((share) => share === shares[0])).toBe(true);
  });
});
