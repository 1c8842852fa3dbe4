interface Waiting<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

/**
 * Holding a batch back for items known to be on their way: while `while()` is true the pending
 * items wait, at most `ms`, for more to join them; `expired()` is told when the wait ran out.
 */
export interface GroupHold {
  while: () => boolean;
  ms: number;
  expired?: () => void;
}

/**
 * Group commit for one statement: items submitted in the same tick, or while the previous
 * statement is in flight, go out together as one call of `run` (at most `maxBatch` items, one
 * call in flight at a time). `run` returns one result per item, in order. When a batch fails, its
 * items are retried one by one, so that one bad item (or a deadlock between two batches) fails
 * only its own caller. With a `hold`, a batch waits (at most `hold.ms`) while `hold.while()` says
 * more items are on their way.
 */
export class GroupCommit<I, O> {
  private pending: Waiting<I, O>[] = [];
  private inFlight = false;
  private scheduled = false;
  private holdTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly maxBatch: number,
    private readonly hold?: GroupHold,
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
      this.flush(false);
    });
  }

  private flush(held: boolean): void {
    if (this.inFlight || !this.pending.length) return;
    // A full batch never waits.
    if (!held && this.pending.length < this.maxBatch && this.hold?.while()) {
      this.holdTimer ??= setTimeout(() => {
        this.holdTimer = undefined;
        this.hold?.expired?.();
        this.flush(true);
      }, this.hold.ms);
      return;
    }
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    this.inFlight = true;
    const batch = this.pending.splice(0, Math.max(1, this.maxBatch));
    void this.execute(batch).finally(() => {
      this.inFlight = false;
      this.schedule();
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
