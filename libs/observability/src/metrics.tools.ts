// `npm run test:tools`: the registry's exposition checked by promtool itself (Debian/Ubuntu
// package `prometheus`). metrics.spec.ts checks the same lint rules without it.
import { spawnSync } from 'node:child_process';
import { createMetricsRegistry } from './metrics';

describe('createMetricsRegistry', () => {
  it('passes promtool check metrics', async () => {
    const text = await createMetricsRegistry('svc').metrics();
    const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (result.error) throw new Error(`promtool could not run (package prometheus): ${result.error.message}`);
    expect(`${result.stdout}${result.stderr}`).toBe('');
    expect(result.status).toBe(0);
  });
});
