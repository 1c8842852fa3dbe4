import { GatewayConfigSchema, loadConfig } from '@switchyard/config';
import type { JobQueriesRepository } from '@switchyard/persistence';
import { ActiveJobsCounter } from './active-jobs.counter';

describe('ActiveJobsCounter', () => {
  let calls: string[][];
  let stored: Record<string, number>;
  let counter: ActiveJobsCounter;

  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_000 });
    calls = [];
    stored = { a: 10, b: 20 };
    const queries = {
      activeCounts: (tenants: string[], cap: number) => {
        expect(cap).toBe(51);
        calls.push([...tenants]);
        return Promise.resolve(new Map(tenants.map((t) => [t, stored[t] ?? 0])));
      },
    } as unknown as JobQueriesRepository;
    counter = new ActiveJobsCounter(
      loadConfig(GatewayConfigSchema, { TENANT_MAX_ACTIVE_JOBS: '50' }),
      queries,
    );
  });
  afterEach(() => jest.useRealTimers());

  /** Resolves `promise` while letting the counter's timers run. */
  async function settle<T>(promise: Promise<T>): Promise<T> {
    await jest.advanceTimersByTimeAsync(150);
    return promise;
  }

  it('reads several tenants in one statement, once however many requests wait, and adds what this process created', async () => {
    expect(
      await settle(Promise.all([counter.current('a'), counter.current('a'), counter.current('b')])),
    ).toEqual([10, 10, 20]);
    expect(calls).toEqual([['a', 'b']]);
    counter.add('a', 3);
    expect(await counter.current('a')).toBe(13);
    expect(calls).toHaveLength(1);
  });

  it('answers from a count up to 3 s old while it reads a newer one in the background', async () => {
    await settle(counter.current('a'));
    counter.add('a', 2);
    stored['a'] = 4; // jobs finished meanwhile
    jest.setSystemTime(1_001_500);
    // Stale but leaving room: answered at once from memory; the read happens behind it.
    expect(await counter.current('a', 1)).toBe(12);
    expect(calls).toEqual([['a']]);
    await jest.advanceTimersByTimeAsync(150);
    expect(calls).toEqual([['a'], ['a']]);
    expect(await counter.current('a')).toBe(4);
    expect(calls).toHaveLength(2);
  });

  it('answers known() at once from memory, and undefined where current() would have to read first', async () => {
    expect(counter.known('a')).toBeUndefined();
    await settle(counter.current('a'));
    counter.add('a', 2);
    expect(counter.known('a')).toBe(12);
    jest.setSystemTime(1_001_500);
    // Stale but leaving room: answered, with a read started behind it.
    expect(counter.known('a', 1)).toBe(12);
    await jest.advanceTimersByTimeAsync(150);
    expect(calls).toEqual([['a'], ['a']]);
    stored['a'] = 49;
    jest.setSystemTime(1_003_000);
    await settle(counter.current('a'));
    jest.setSystemTime(1_004_500);
    // Stale and it could refuse: not answered from memory.
    expect(counter.known('a', 5)).toBeUndefined();
  });

  it('adds the jobs created while a count is being read on top of it', async () => {
    let finish: (counts: Map<string, number>) => void = () => undefined;
    const queries = {
      activeCounts: () => new Promise<Map<string, number>>((resolve) => (finish = resolve)),
    } as unknown as JobQueriesRepository;
    const slow = new ActiveJobsCounter(loadConfig(GatewayConfigSchema, {}), queries);
    const reading = slow.current('a');
    await jest.advanceTimersByTimeAsync(1); // the statement is under way
    slow.add('a', 3); // committed after the statement's snapshot
    finish(new Map([['a', 10]]));
    expect(await reading).toBe(13);
  });

  it('reads afresh before refusing: a stale count that would exceed the quota is not trusted', async () => {
    stored['a'] = 49;
    await settle(counter.current('a'));
    stored['a'] = 30;
    jest.setSystemTime(1_001_500);
    expect(await settle(counter.current('a', 5))).toBe(30);
    expect(calls).toEqual([['a'], ['a']]);
  });

  it('reads afresh when the count is more than 3 s old', async () => {
    await settle(counter.current('a'));
    stored['a'] = 7;
    jest.setSystemTime(1_004_000);
    expect(await settle(counter.current('a', 1))).toBe(7);
    expect(calls).toHaveLength(2);
  });

  it('fails the requests waiting for a read that failed, and reads again next time', async () => {
    let fail = true;
    const queries = {
      activeCounts: (tenants: string[]) =>
        fail ? Promise.reject(new Error('db down')) : Promise.resolve(new Map(tenants.map((t) => [t, 1]))),
    } as unknown as JobQueriesRepository;
    const flaky = new ActiveJobsCounter(loadConfig(GatewayConfigSchema, {}), queries);
    const first = flaky.current('a');
    first.catch(() => undefined);
    await jest.advanceTimersByTimeAsync(150);
    await expect(first).rejects.toThrow('db down');
    fail = false;
    expect(await settle(flaky.current('a'))).toBe(1);
  });
});
