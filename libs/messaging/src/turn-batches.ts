/** Publishes one batch: `bodies` are the encoded items, in the order they were added. */
export type PublishBatch = (batch: string, bodies: readonly Buffer[]) => Promise<void>;

interface OpenBatch {
  readonly bodies: Buffer[];
  readonly max: number;
  readonly published: Promise<void>;
  start(): void;
}

/**
 * Gathers the items a process publishes within one event-loop turn into one message per batch
 * name (split every `max` items), published when the turn ends (setImmediate): a worker's
 * completions, an insert batch's events or an outbox pass become one message rather than one per
 * event, since the broker's cost is mostly per message. Each add() settles with its batch's
 * publish. Memory is bounded by what one turn adds, and the batch is encoded only once.
 */
export class TurnBatches {
  private readonly open = new Map<string, OpenBatch>();
  private scheduled: NodeJS.Immediate | undefined;

  constructor(private readonly publishBatch: PublishBatch) {}

  /** Adds an encoded item to this turn's `batch`; resolves once the broker confirmed that message. */
  add(batch: string, max: number, body: Buffer): Promise<void> {
    let current = this.open.get(batch);
    if (!current) {
      current = this.openBatch(batch, max);
      this.open.set(batch, current);
      this.scheduled ??= setImmediate(() => this.flush());
    }
    current.bodies.push(body);
    if (current.bodies.length >= current.max) {
      this.open.delete(batch);
      current.start();
    }
    return current.published;
  }

  /** Publishes what this turn gathered now (before shutting down). */
  flush(): void {
    clearImmediate(this.scheduled);
    this.scheduled = undefined;
    const batches = [...this.open.values()];
    this.open.clear();
    for (const batch of batches) batch.start();
  }

  private openBatch(batch: string, max: number): OpenBatch {
    const bodies: Buffer[] = [];
    let start!: () => void;
    const published = new Promise<void>((resolve, reject) => {
      start = () => {
        try {
          this.publishBatch(batch, bodies).then(resolve, reject);
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      };
    });
    return { bodies, max, published, start };
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
