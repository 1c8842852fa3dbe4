import { WorkerTurn, type TurnResults } from './worker-turn';
import { nextTick, waitForCalls } from './calls.testing';

interface Call {
  completions: string[];
  claims: number[];
  finish: () => void;
}

/** A `run` whose calls are recorded and finish only when the test says so. */
function controlledRun() {
  const calls: Call[] = [];
  const run = (completions: string[], claims: number[]) =>
    new Promise<TurnResults<string, number>>((resolve) => {
      calls.push({
        completions,
        claims,
        finish: () =>
          resolve({ completed: completions.map((d) => `done ${d}`), claimed: claims.map((c) => c * 10) }),
      });
    });
  return { calls, run };
}

describe('WorkerTurn', () => {
  it('sends the completions and claims of one turn as one call and hands each its own result', async () => {
    const { calls, run } = controlledRun();
    const turn = new WorkerTurn(run, 100);
    const claimed = [turn.claim(1), turn.claim(2)];
    const completed = [turn.complete('a'), turn.complete('b')];
    const third = turn.claim(3);
    await waitForCalls(calls, 1);
    await nextTick();
    expect(calls.map((c) => [c.completions, c.claims])).toEqual([
      [
        ['a', 'b'],
        [1, 2, 3],
      ],
    ]);
    calls[0].finish();
    expect(await Promise.all(claimed)).toEqual([10, 20]);
    expect(await Promise.all(completed)).toEqual(['done a', 'done b']);
    expect(await third).toBe(30);
  });

  it('lets the claims that arrive while a completion is in flight ride in the next call with later completions', async () => {
    const { calls, run } = controlledRun();
    const turn = new WorkerTurn(run, 100);
    const first = turn.complete('a');
    await waitForCalls(calls, 1);
    const claim = turn.claim(7);
    const second = turn.complete('b');
    await nextTick();
    await nextTick();
    expect(calls).toHaveLength(1); // one statement in flight at a time
    calls[0].finish();
    expect(await first).toBe('done a');
    await waitForCalls(calls, 2);
    expect([calls[1].completions, calls[1].claims]).toEqual([['b'], [7]]);
    calls[1].finish();
    expect([await claim, await second]).toEqual([70, 'done b']);
  });

  it('carries at most maxBatch items, both kinds together, per call', async () => {
    const { calls, run } = controlledRun();
    const turn = new WorkerTurn(run, 3);
    const results = [turn.complete('a'), turn.claim(1), turn.complete('b'), turn.claim(2)];
    await waitForCalls(calls, 1);
    expect([calls[0].completions, calls[0].claims]).toEqual([['a', 'b'], [1]]);
    calls[0].finish();
    await waitForCalls(calls, 2);
    expect([calls[1].completions, calls[1].claims]).toEqual([[], [2]]);
    calls[1].finish();
    expect(await Promise.all(results)).toEqual(['done a', 10, 'done b', 20]);
  });

  it('retries a failed turn item by item, each completion and each claim alone, so only the bad item fails', async () => {
    const calls: [string[], number[]][] = [];
    const turn = new WorkerTurn((completions: string[], claims: number[]) => {
      calls.push([completions, claims]);
      if (completions.includes('bad')) return Promise.reject(new Error('bad result'));
      return Promise.resolve({
        completed: completions.map((d) => `done ${d}`),
        claimed: claims.map((c) => c * 10),
      });
    }, 100);
    const results = await Promise.allSettled([
      turn.complete('ok'),
      turn.claim(1),
      turn.complete('bad'),
      turn.claim(2),
    ]);
    expect(calls).toEqual([
      [
        ['ok', 'bad'],
        [1, 2],
      ],
      [['ok'], []],
      [[], [1]],
      [['bad'], []],
      [[], [2]],
    ]);
    expect(results).toEqual([
      { status: 'fulfilled', value: 'done ok' },
      { status: 'fulfilled', value: 10 },
      { status: 'rejected', reason: new Error('bad result') },
      { status: 'fulfilled', value: 20 },
    ]);
  });
});
