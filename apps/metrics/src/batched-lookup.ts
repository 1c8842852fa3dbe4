/**
 * Coalesces single-key lookups made in the same turn of the event loop into one batch query
 * (the deliveries of one socket read arrive together), so a burst of N events costs one round
 * trip instead of N. A failed batch answers undefined for its keys and reports the error.
 */
export class BatchedLookup<V> {
  private pending = new Map<string, ((value: V | undefined) => void)[]>();
  private scheduled = false;

  constructor(
    private readonly fetch: (keys: string[]) => Promise<Map<string, V>>,
    private readonly onError: (error: unknown, keys: number) => void,
    private readonly maxBatch = 1000,
  ) {}

  get(key: string): Promise<V | undefined> {
    return new Promise((resolve) => {
      const waiters = this.pending.get(key);
      if (waiters) waiters.push(resolve);
      else this.pending.set(key, [resolve]);
      if (this.pending.size >= this.maxBatch) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    if (!this.pending.size) return;
    const batch = this.pending;
    this.pending = new Map();
    this.fetch([...batch.keys()]).then(
      (found) => {
        for (const [key, waiters] of batch) for (const resolve of waiters) resolve(found.get(key));
      },
      (error: unknown) => {
        this.onError(error, batch.size);
        for (const waiters of batch.values()) for (const resolve of waiters) resolve(undefined);
      },
    );
  }
}
