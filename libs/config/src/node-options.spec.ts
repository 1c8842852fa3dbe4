import { spawnSync } from 'node:child_process';
import { applyServiceV8Flags, productionNodeOptions, SERVICE_V8_FLAGS } from './node-options';

describe('applyServiceV8Flags', () => {
  it('sets the gateway’s heap-growing factor on itself', () => {
    const set: string[] = [];
    expect(applyServiceV8Flags('gateway', [], (flag) => set.push(flag))).toEqual([
      '--heap-growing-percent=100',
    ]);
    expect(set).toEqual(['--heap-growing-percent=100']);
  });

  it('leaves a flag the node command line gives (either spelling) to the operator', () => {
    const set: string[] = [];
    expect(applyServiceV8Flags('gateway', ['--heap-growing-percent=50'], (f) => set.push(f))).toEqual([]);
    expect(applyServiceV8Flags('gateway', ['--heap_growing_percent=50'], (f) => set.push(f))).toEqual([]);
    expect(set).toEqual([]);
  });

  it('sets nothing for the services without flags of their own', () => {
    const set: string[] = [];
    for (const service of ['worker', 'progress-tracker', 'metrics'] as const)
      expect(applyServiceV8Flags(service, [], (f) => set.push(f))).toEqual([]);
    expect(set).toEqual([]);
  });

  it('names flags this node accepts on its command line but refuses in NODE_OPTIONS', () => {
    for (const flag of Object.values(SERVICE_V8_FLAGS).flat()) {
      const run = (args: string[], nodeOptions = '') =>
        spawnSync(process.execPath, [...args, '-e', '0'], {
          env: { ...process.env, NODE_OPTIONS: nodeOptions },
        });
      // An unknown V8 flag fails the command line ("bad option"), so this proves V8 knows it.
      expect([flag, run([flag]).status]).toEqual([flag, 0]);
      expect(run(['--heap-growing-percent-of-nothing']).status).not.toBe(0);
      // Why the service sets it on itself: NODE_OPTIONS cannot carry it.
      expect(run([], flag).stderr.toString()).toContain('is not allowed in NODE_OPTIONS');
      expect(productionNodeOptions('gateway')).not.toContain(flag.split('=')[0]);
    }
  });
});
