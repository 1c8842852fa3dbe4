import { GatewayConfigSchema, loadConfig } from '@switchyard/config';
import type { JobQueriesRepository } from '@switchyard/persistence';
import { ActiveJobsCounter } from './active-jobs.counter';

describe('ActiveJobsCounter', () => {
  afterEach(() => jest.useRealTimers());

  it('reads PostgreSQL once per second per tenant and adds what this process created meanwhile', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const calls: [string, number][] = [];
    let stored = 10;
    const queries = {
      activeCount: (tenant: string, cap: number) => {
        calls.push([tenant, cap]);
        return Promise.resolve(stored);
      },
    } as unknown as JobQueriesRepository;
    const counter = new ActiveJobsCounter(
      loadConfig(GatewayConfigSchema, { TENANT_MAX_ACTIVE_JOBS: '50' }),
      queries,
    );
    expect(await Promise.all([counter.current('a'), counter.current('a')])).toEqual([10, 10]);
    counter.add('a', 3);
    expect(await counter.current('a')).toBe(13);
    expect(await counter.current('b')).toBe(10);
    expect(calls).toEqual([
      ['a', 51],
      ['b', 51],
    ]);
    stored = 12;
    jest.setSystemTime(1_001_000);
    expect(await counter.current('a')).toBe(12);
    expect(calls).toHaveLength(3);
  });
});
