import { BatchedLookup } from './batched-lookup';

describe('BatchedLookup', () => {
  it('answers the lookups of one event-loop turn with one fetch', async () => {
    const batches: string[][] = [];
    const lookup = new BatchedLookup<number>(
      (keys) => {
        batches.push(keys);
        return Promise.resolve(new Map(keys.filter((k) => k !== 'missing').map((k) => [k, k.length])));
      },
      () => undefined,
    );
    const answers = await Promise.all(['a', 'bb', 'a', 'missing'].map((k) => lookup.get(k)));
    expect(answers).toEqual([1, 2, 1, undefined]);
    expect(batches).toEqual([['a', 'bb', 'missing']]);
    expect(await lookup.get('ccc')).toBe(3);
    expect(batches).toHaveLength(2);
  });

  it('splits at maxBatch keys', async () => {
    const batches: string[][] = [];
    const lookup = new BatchedLookup<number>(
      (keys) => {
        batches.push(keys);
        return Promise.resolve(new Map(keys.map((k) => [k, 0])));
      },
      () => undefined,
      2,
    );
    await Promise.all(['a', 'b', 'c'].map((k) => lookup.get(k)));
    expect(batches).toEqual([['a', 'b'], ['c']]);
  });

  it('answers undefined when the fetch fails, and reports the error', async () => {
    const errors: unknown[] = [];
    const lookup = new BatchedLookup<number>(
      () => Promise.reject(new Error('db down')),
      (error, count) => errors.push([(error as Error).message, count]),
    );
    expect(await Promise.all([lookup.get('a'), lookup.get('b')])).toEqual([undefined, undefined]);
    expect(errors).toEqual([['db down', 2]]);
  });
});
