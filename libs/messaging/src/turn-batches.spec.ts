import { jsonArray, TurnBatches } from './turn-batches';

const item = (n: number) => Buffer.from(JSON.stringify({ n }));
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** TurnBatches whose published batches are recorded (decoded) and settle as `settle` says. */
function recorder(settle: (batch: number) => Promise<void> = () => Promise.resolve()) {
  const published: { batch: string; items: unknown }[] = [];
  const batches = new TurnBatches((batch, bodies) => {
    published.push({ batch, items: JSON.parse(jsonArray(bodies).toString()) });
    return settle(published.length);
  });
  return { batches, published };
}

describe('TurnBatches', () => {
  it('publishes what one turn added as one message per batch name, in order, once the turn ends', async () => {
    const { batches, published } = recorder();
    const settled = [1, 2, 3].map((n) => batches.add('events', 10, item(n)));
    settled.push(batches.add('other', 10, item(9)));
    expect(published).toEqual([]);
    await Promise.all(settled);
    expect(published).toEqual([
      { batch: 'events', items: [{ n: 1 }, { n: 2 }, { n: 3 }] },
      { batch: 'other', items: [{ n: 9 }] },
    ]);
    await batches.add('events', 10, item(4));
    expect(published[2]).toEqual({ batch: 'events', items: [{ n: 4 }] });
  });

  it('starts another message every `max` items', async () => {
    const { batches, published } = recorder();
    await Promise.all([1, 2, 3, 4, 5].map((n) => batches.add('events', 2, item(n))));
    expect(published.map((p) => p.items)).toEqual([[{ n: 1 }, { n: 2 }], [{ n: 3 }, { n: 4 }], [{ n: 5 }]]);
  });

  it('rejects every add of a batch the broker did not confirm, and only those', async () => {
    const { batches } = recorder((batch) =>
      batch === 1 ? Promise.reject(new Error('not confirmed')) : Promise.resolve(),
    );
    const first = [batches.add('events', 10, item(1)), batches.add('events', 10, item(2))];
    await nextTurn();
    const second = batches.add('events', 10, item(3));
    await expect(
      Promise.all(
        first.map((p) =>
          p.then(
            () => 'ok',
            (e: Error) => e.message,
          ),
        ),
      ),
    ).resolves.toEqual(['not confirmed', 'not confirmed']);
    await expect(second).resolves.toBeUndefined();
  });

  it('flush() publishes at once (shutdown)', () => {
    const { batches, published } = recorder();
    void batches.add('events', 10, item(1));
    batches.flush();
    expect(published).toEqual([{ batch: 'events', items: [{ n: 1 }] }]);
  });
});

describe('jsonArray', () => {
  it('joins encoded JSON values into one JSON array', () => {
    expect(JSON.parse(jsonArray([item(1), Buffer.from('"x"')]).toString())).toEqual([{ n: 1 }, 'x']);
    expect(jsonArray([]).toString()).toBe('[]');
  });
});
