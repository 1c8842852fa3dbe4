import { spawnSync } from 'node:child_process';
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

  it('passes promtool check metrics', async () => {
    const text = await createMetricsRegistry('svc').metrics();
    const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (result.error) throw new Error(`promtool could not run (package prometheus): ${result.error.message}`);
    expect(`${result.stdout}${result.stderr}`).toBe('');
    expect(result.status).toBe(0);
  });
});
