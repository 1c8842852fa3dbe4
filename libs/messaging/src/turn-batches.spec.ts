import { jsonArray, TurnBatches } from './turn-batches';

const item = (n: number) => Buffer.from(JSON.stringify({ n }));
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
/** A batch shape of at most `max` items, published every turn (no linger) unless `lingerMs` says. */
const every = (max: number, lingerMs = 0) => ({ max, lingerMs });

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
    const settled = [1, 2, 3].map((n) => batches.add('events', every(10), item(n)));
    settled.push(batches.add('other', every(10), item(9)));
    expect(published).toEqual([]);
    await Promise.all(settled);
    expect(published).toEqual([
      { batch: 'events', items: [{ n: 1 }, { n: 2 }, { n: 3 }] },
      { batch: 'other', items: [{ n: 9 }] },
    ]);
    await batches.add('events', every(10), item(4));
    expect(published[2]).toEqual({ batch: 'events', items: [{ n: 4 }] });
  });

  it('starts another message every `max` items', async () => {
    const { batches, published } = recorder();
    await Promise.all([1, 2, 3, 4, 5].map((n) => batches.add('events', every(2), item(n))));
    expect(published.map((p) => p.items)).toEqual([[{ n: 1 }, { n: 2 }], [{ n: 3 }, { n: 4 }], [{ n: 5 }]]);
  });

  it('rejects every add of a batch the broker did not confirm, and only those', async () => {
    const { batches } = recorder((batch) =>
      batch === 1 ? Promise.reject(new Error('not confirmed')) : Promise.resolve(),
    );
    const first = [batches.add('events', every(10), item(1)), batches.add('events', every(10), item(2))];
    await nextTurn();
    const second = batches.add('events', every(10), item(3));
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

  it('while items keep coming, starts at most one message per lingerMs, gathering the turns between', async () => {
    const { batches, published } = recorder();
    const shape = every(10, 40);
    // Quiet before: the first batch goes out when its turn ends.
    const first = batches.add('events', shape, item(1));
    await nextTurn();
    expect(published.map((p) => p.items)).toEqual([[{ n: 1 }]]);
    await first;
    const opened = performance.now();
    const later = [batches.add('events', shape, item(2))];
    await nextTurn();
    later.push(batches.add('events', shape, item(3)));
    await nextTurn();
    // Two turns later, still within the linger: nothing more was sent.
    expect(published).toHaveLength(1);
    await Promise.all(later);
    expect(published.map((p) => p.items)).toEqual([[{ n: 1 }], [{ n: 2 }, { n: 3 }]]);
    expect(performance.now() - opened).toBeGreaterThanOrEqual(30);
    // A full batch never waits for the linger.
    const full = Array.from({ length: 10 }, (_, i) => batches.add('events', shape, item(10 + i)));
    expect(published).toHaveLength(3);
    await Promise.all(full);
  });

  it("sends each item's own message just before its batch and settles once both are confirmed", async () => {
    const order: string[] = [];
    const batches = new TurnBatches((batch, bodies) => {
      order.push(`${batch} of ${bodies.length}`);
      return Promise.resolve();
    });
    let refuse!: (error: Error) => void;
    const own = (name: string, outcome?: Promise<void>) => () => {
      order.push(name);
      return outcome ?? Promise.resolve();
    };
    const a = batches.add('events', every(10), item(1), own('a'));
    const b = batches.add(
      'events',
      every(10),
      item(2),
      own(
        'b',
        new Promise((_, reject) => {
          refuse = reject;
        }),
      ),
    );
    expect(order).toEqual([]);
    await a;
    expect(order).toEqual(['a', 'b', 'events of 2']);
    refuse(new Error('not confirmed'));
    await expect(b).rejects.toThrow('not confirmed');
  });

  it('flush() publishes at once (shutdown)', () => {
    const { batches, published } = recorder();
    void batches.add('events', every(10), item(1));
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
