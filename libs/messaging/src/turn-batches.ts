/** Publishes one batch: `bodies` are the items (encoded, for events), in the order they were added. */
export type PublishBatch<T = Buffer> = (batch: string, bodies: readonly T[]) => Promise<void>;

/** How one batch name is gathered. */
export interface BatchShape {
  /** Items per message at most: a fuller batch is published at once. */
  readonly max: number;
  /**
   * The least time between the starts of two messages of this batch name. A batch opened longer
   * than this after the previous one started goes out when its turn ends (setImmediate); one opened
   * sooner waits for the rest of this time, gathering what the next turns add. 0: every turn.
   */
  readonly lingerMs: number;
}

interface OpenBatch<T> {
  readonly bodies: T[];
  /** Publishes sent along with the batch (each item's own message), started just before it. */
  readonly alongside: (() => void)[];
  readonly published: Promise<void>;
  cancel?: () => void;
  start(): void;
}

/**
 * Gathers the items a process publishes into one message per batch name: a worker's completions,
 * an insert batch's events or an outbox pass become one message rather than one per event, since
 * the broker's cost is mostly per message. A batch opened while the process is quiet goes out when
 * its event-loop turn ends; while items keep coming, at most one message per `lingerMs` goes out
 * (split every `max` items), so at low rates the turns of a few milliseconds share one message
 * instead of each sending its own. An item's own message (`alongside`) is published with its batch,
 * just before it, so both leave in one socket write. Each add() settles once the broker confirmed
 * its batch and its own message. Memory is bounded by what one linger adds, and the batch is
 * encoded only once. The items are encoded events by default; the gateway gathers its fast path's
 * work messages (outbox rows) the same way.
 */
export class TurnBatches<T = Buffer> {
  private readonly open = new Map<string, OpenBatch<T>>();
  /** When (performance.now()) the last message of each batch name started. */
  private readonly lastStart = new Map<string, number>();

  constructor(private readonly publishBatch: PublishBatch<T>) {}

  /**
   * Adds an encoded item to the open `batch`; resolves once the broker confirmed that message and
   * the item's own (`alongside`, if any).
   */
  add(batch: string, shape: BatchShape, body: T, alongside?: () => Promise<void>): Promise<void> {
    let opened = this.open.get(batch);
    if (!opened) {
      opened = this.openBatch(batch);
      this.open.set(batch, opened);
      this.schedule(batch, opened, shape.lingerMs);
    }
    const current = opened;
    current.bodies.push(body);
    let own: Promise<void> | undefined;
    if (alongside) {
      const send = alongside;
      own = new Promise<void>((resolve) => current.alongside.push(() => resolve(send())));
    }
    const published = current.published;
    if (current.bodies.length >= shape.max) this.startBatch(batch, current);
    // The item's own message is sent with the batch; the add settles once both are confirmed.
    return own ? Promise.all([published, own]).then(() => undefined) : published;
  }

  /** Publishes everything gathered now (before shutting down). */
  flush(): void {
    for (const [batch, open] of [...this.open]) this.startBatch(batch, open);
  }

  private schedule(batch: string, open: OpenBatch<T>, lingerMs: number): void {
    const wait = lingerMs - (performance.now() - (this.lastStart.get(batch) ?? -Infinity));
    if (wait <= 0) {
      const handle = setImmediate(() => this.startBatch(batch, open));
      open.cancel = () => clearImmediate(handle);
    } else {
      const handle = setTimeout(() => this.startBatch(batch, open), Math.ceil(wait));
      open.cancel = () => clearTimeout(handle);
    }
  }

  private startBatch(batch: string, open: OpenBatch<T>): void {
    if (this.open.get(batch) !== open) return;
    this.open.delete(batch);
    open.cancel?.();
    this.lastStart.set(batch, performance.now());
    open.start();
  }

  private openBatch(batch: string): OpenBatch<T> {
    const bodies: T[] = [];
    const alongside: (() => void)[] = [];
    let start!: () => void;
    const published = new Promise<void>((resolve, reject) => {
      start = () => {
        for (const send of alongside) send();
        try {
          this.publishBatch(batch, bodies).then(resolve, reject);
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      };
    });
    return { bodies, alongside, published, start };
  }
}

/** A JSON array of already encoded JSON values, without decoding them again. */
export function jsonArray(bodies: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [OPEN];
  bodies.forEach((body, i) => {
    if (i > 0) parts.push(COMMA);
    parts.push(body);
  });
  parts.push(CLOSE);
  return Buffer.concat(parts);
}

const OPEN = Buffer.from('[');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']');
