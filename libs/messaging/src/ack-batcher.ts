import type { Message } from 'amqplib';

/** The part of an amqplib channel the batcher uses. */
export interface AckChannel {
  ack(message: Message, allUpTo?: boolean): void;
}

export interface AckBatcherOptions {
  /** Runs flush() later; once per round of acks. Default setImmediate. */
  schedule?: (flush: () => void) => () => void;
  /** A scheduled flush failed (the channel closed under it: the broker redelivers). */
  onError?: (err: unknown, messages: number) => void;
}

interface Outstanding {
  readonly message: Message;
  acked: boolean;
}

const scheduleImmediate = (flush: () => void): (() => void) => {
  const handle = setImmediate(flush);
  return () => clearImmediate(handle);
};

/**
 * The acks of one consumer channel, sent once per flush instead of one frame per message.
 *
 * Tracks the deliveries not yet settled on the wire, oldest first (delivery tags increase on a
 * channel). flush() sends one multiple ack for the longest prefix of acked deliveries, and a
 * single ack for each acked delivery behind one still being handled: a long-running message holding
 * the oldest tag never keeps later ones unacked (and prefetch full) past one flush. Nacks are not
 * batched; the caller sends them at once and calls forget().
 */
export class AckBatcher {
  /** delivery tag → delivery; a Map iterates in insertion order, which is tag order. */
  private readonly outstanding = new Map<number, Outstanding>();
  private acked = 0;
  private cancelScheduled?: () => void;
  private readonly schedule: (flush: () => void) => () => void;
  private readonly onError?: (err: unknown, messages: number) => void;

  constructor(
    private readonly channel: AckChannel,
    options: AckBatcherOptions = {},
  ) {
    this.schedule = options.schedule ?? scheduleImmediate;
    this.onError = options.onError;
  }

  /** Deliveries not settled on the wire yet. */
  get size(): number {
    return this.outstanding.size;
  }

  /** Acks waiting for the next flush. */
  get pendingAcks(): number {
    return this.acked;
  }

  delivered(message: Message): void {
    this.outstanding.set(message.fields.deliveryTag, { message, acked: false });
  }

  /** Marks a delivery acked; the ack goes out at the next flush. */
  ack(message: Message): void {
    const entry = this.outstanding.get(message.fields.deliveryTag);
    if (entry === undefined) {
      // Not tracked (delivered before tracking began): ack it alone rather than never.
      this.channel.ack(message);
      return;
    }
    if (entry.acked) return;
    entry.acked = true;
    this.acked++;
    this.cancelScheduled ??= this.schedule(() => {
      this.cancelScheduled = undefined;
      try {
        this.flush();
      } catch (err) {
        this.onError?.(err, this.drop());
      }
    });
  }

  /** The delivery was settled on its own (nack): a later multiple ack must not cover it. */
  forget(message: Message): void {
    const entry = this.outstanding.get(message.fields.deliveryTag);
    if (entry === undefined) return;
    this.outstanding.delete(message.fields.deliveryTag);
    if (entry.acked) this.acked--;
  }

  /** Sends the pending acks now. */
  flush(): void {
    this.cancelScheduled?.();
    this.cancelScheduled = undefined;
    if (this.acked === 0) return;
    let prefixEnd: Message | undefined;
    let prefixLength = 0;
    let inPrefix = true;
    for (const [tag, entry] of this.outstanding) {
      if (this.acked === 0) break;
      if (!entry.acked) {
        if (inPrefix) {
          inPrefix = false;
          this.sendPrefix(prefixEnd, prefixLength);
        }
        continue;
      }
      this.outstanding.delete(tag);
      this.acked--;
      if (inPrefix) {
        prefixEnd = entry.message;
        prefixLength++;
      } else {
        this.channel.ack(entry.message);
      }
    }
    if (inPrefix) this.sendPrefix(prefixEnd, prefixLength);
  }

  /** Forgets everything (the channel is gone and the broker redelivers); returns how many acks were pending. */
  drop(): number {
    this.cancelScheduled?.();
    this.cancelScheduled = undefined;
    const pending = this.acked;
    this.outstanding.clear();
    this.acked = 0;
    return pending;
  }

  private sendPrefix(last: Message | undefined, length: number): void {
    if (last !== undefined) this.channel.ack(last, length > 1);
  }
}
