import { GroupCommit } from './group-commit';
import { nextTick, waitForCalls } from './calls.testing';

/** A `run` whose calls are recorded and finish only when the test says so. */
function controlledRun() {
  const calls: { items: number[]; finish: () => void; fail: (error: Error) => void }[] = [];
  const run = (items: number[]) =>
    new Promise<string[]>((resolve, reject) => {
      calls.push({
        items,
        finish: () => resolve(items.map((i) => `r${i}`)),
        fail: reject,
      });
    });
  return { calls, run };
}

describe('GroupCommit', () => {
  it('sends the items submitted in one tick as one call and hands each its own result', async () => {
    const { calls, run } = controlledRun();
    const group = new GroupCommit(run, 100);
    const results = [1, 2, 3].map((i) => group.submit(i));
    await waitForCalls(calls, 1);
    expect(calls.map((c) => c.items)).toEqual([[1, 2, 3]]);
    calls[0].finish();
    expect(await Promise.all(results)).toEqual(['r1', 'r2', 'r3']);
  });

  it('groups what arrives while a call is in flight into the next one, at most maxBatch per call', async () => {
    const { calls, run } = controlledRun();
    const group = new GroupCommit(run, 2);
    const first = group.submit(1);
    await waitForCalls(calls, 1);
    const later = [2, 3, 4].map((i) => group.submit(i));
    await nextTick();
    await nextTick();
    expect(calls).toHaveLength(1); // one call in flight at a time
    calls[0].finish();
    expect(await first).toBe('r1');
    await waitForCalls(calls, 2);
    expect(calls[1].items).toEqual([2, 3]);
    calls[1].finish();
    await waitForCalls(calls, 3);
    expect(calls[2].items).toEqual([4]);
    calls[2].finish();
    expect(await Promise.all(later)).toEqual(['r2', 'r3', 'r4']);
  });

  it('retries a failed batch item by item, so only the bad item fails', async () => {
    const batches: number[][] = [];
    const group = new GroupCommit((items: number[]) => {
      batches.push(items);
      if (items.includes(2)) return Promise.reject(new Error('bad item 2'));
      return Promise.resolve(items.map((i) => `r${i}`));
    }, 100);
    const results = await Promise.allSettled([1, 2, 3].map((i) => group.submit(i)));
    expect(batches).toEqual([[1, 2, 3], [1], [2], [3]]);
    expect(results).toEqual([
      { status: 'fulfilled', value: 'r1' },
      { status: 'rejected', reason: new Error('bad item 2') },
      { status: 'fulfilled', value: 'r3' },
    ]);
  });

  it('holds a batch while more items are expected, and sends it as soon as they have joined', async () => {
    const { calls, run } = controlledRun();
    let expected = 2;
    const group = new GroupCommit(run, 100, { while: () => expected > 0, ms: 5000 });
    const first = group.submit(1);
    await nextTick();
    await nextTick();
    expect(calls).toHaveLength(0);
    expected--;
    const second = group.submit(2);
    await nextTick();
    expect(calls).toHaveLength(0);
    expected--;
    const third = group.submit(3);
    await waitForCalls(calls, 1);
    expect(calls[0].items).toEqual([1, 2, 3]);
    calls[0].finish();
    expect(await Promise.all([first, second, third])).toEqual(['r1', 'r2', 'r3']);
  });

  it('holds at most hold.ms, tells when the wait ran out, and never holds a full batch', async () => {
    const { calls, run } = controlledRun();
    let expired = 0;
    const group = new GroupCommit(run, 2, { while: () => true, ms: 30, expired: () => expired++ });
    const started = Date.now();
    const first = group.submit(1);
    await waitForCalls(calls, 1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    expect(expired).toBe(1);
    calls[0].finish();
    expect(await first).toBe('r1');
    const full = [group.submit(2), group.submit(3)];
    const at = Date.now();
    await waitForCalls(calls, 2);
    expect(Date.now() - at).toBeLessThan(25);
    expect(calls[1].items).toEqual([2, 3]);
    calls[1].finish();
    expect(await Promise.all(full)).toEqual(['r2', 'r3']);
  });
});
