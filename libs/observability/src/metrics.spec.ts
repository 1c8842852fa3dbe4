import { createMetricsRegistry } from './metrics';

describe('createMetricsRegistry', () => {
  it('labels every series with the service and keeps no gauge named like a counter', async () => {
    const registry = createMetricsRegistry('svc');
    const text = await registry.metrics();
    expect(text).toMatch(/^process_resident_memory_bytes\{service="svc"\} \d+/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds\{service="svc"\}/m);
    const gauges = [...text.matchAll(/^# TYPE (\S+) gauge$/gm)].map((m) => m[1]);
    expect(gauges.filter((name) => name.endsWith('_total'))).toEqual([]);
  });

  it('every family has HELP and TYPE, counters end in _total (promtool lint rules; promtool itself: metrics.tools.ts)', async () => {
    const text = await createMetricsRegistry('svc').metrics();
    const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
    const helps = new Set([...text.matchAll(/^# HELP (\S+) \S/gm)].map((m) => m[1]));
    expect(types.size).toBeGreaterThan(10);
    expect([...types.keys()].filter((name) => !helps.has(name))).toEqual([]);
    expect([...types].filter(([name, type]) => type === 'counter' && !name.endsWith('_total'))).toEqual([]);
  });
});
