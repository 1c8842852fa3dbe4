interface Waiting<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for one statement: items submitted in the same tick, or while the previous
 * statement is in flight, go out together as one call of `run` (at most `maxBatch` items, one
 * call in flight at a time). `run` returns one result per item, in order. When a batch fails, its
 * items are retried one by one, so that one bad item (or a deadlock between two batches) fails
 * only its own caller.
 */
export class GroupCommit<I, O> {
  private pending: Waiting<I, O>[] = [];
  private inFlight = false;
  private scheduled = false;

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly maxBatch: number,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight || !this.pending.length) return;
    this.scheduled = true;
    // setImmediate rather than a microtask: every delivery read from the socket in this tick joins.
    setImmediate(() => {
      this.scheduled = false;
      if (this.inFlight || !this.pending.length) return;
      this.inFlight = true;
      const batch = this.pending.splice(0, Math.max(1, this.maxBatch));
      void this.execute(batch).finally(() => {
        this.inFlight = false;
        this.schedule();
      });
    });
  }

  private async execute(batch: Waiting<I, O>[]): Promise<void> {
    let results: O[];
    try {
      results = await this.run(batch.map((w) => w.item));
    } catch (error) {
      if (batch.length === 1) {
        batch[0].reject(error);
        return;
      }
      await Promise.all(
        batch.map((w) =>
          this.run([w.item]).then(
            ([result]) => w.resolve(result),
            (itemError: unknown) => w.reject(itemError),
          ),
        ),
      );
      return;
    }
    batch.forEach((w, i) => w.resolve(results[i]));
  }
}
