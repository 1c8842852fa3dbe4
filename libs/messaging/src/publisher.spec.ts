import { EventEmitter } from 'node:events';
import type { AmqpConnection, Session } from './connection';
import { Publisher } from './publisher';
import { memoryLogger } from './test-support';

type Confirm = (err: unknown) => void;

/**
 * A confirm channel that keeps its confirm callbacks the way amqplib 0.10 does: a window from the
 * lowest unconfirmed delivery tag, a single out-of-order ack leaving a null gap, and on close the
 * callbacks called in order only up to the first gap (its `while (cb = unconfirmed.shift())`).
 */
class FakeConfirmChannel extends EventEmitter {
  readonly published: string[] = [];
  private unconfirmed: (Confirm | null)[] = [];
  private lwm = 1;

  publish(_exchange: string, routingKey: string, _content: Buffer, _options: unknown, cb: Confirm): boolean {
    this.published.push(routingKey);
    this.unconfirmed.push(cb);
    return true;
  }

  /** The broker confirms one delivery tag (1-based), not "multiple". */
  ack(tag: number): void {
    const index = tag - this.lwm;
    const cb = this.unconfirmed[index];
    if (index === 0) {
      this.unconfirmed.shift();
      this.lwm++;
      while (this.unconfirmed[0] === null) {
        this.unconfirmed.shift();
        this.lwm++;
      }
    } else {
      this.unconfirmed[index] = null;
    }
    cb?.(null);
  }

  /** The connection went away: amqplib's close handling, then the channel's 'close' listeners. */
  lose(): void {
    let cb: Confirm | null | undefined;
    while ((cb = this.unconfirmed.shift())) cb(new Error('channel closed'));
    this.emit('close');
  }
}

/** A connection whose sessions are handed out in turn; each session has one confirm channel. */
function connectionOf(channels: FakeConfirmChannel[]) {
  const sessions: Session[] = channels.map((channel) => ({
    closed: false,
    model: { createConfirmChannel: () => Promise.resolve(channel) } as unknown as Session['model'],
  }));
  const connection = {
    waitForSession: () => {
      const open = sessions.find((s) => !s.closed);
      return open ? Promise.resolve(open) : Promise.reject(new Error('no session'));
    },
  } as unknown as AmqpConnection;
  return { connection, sessions };
}

/** `promise`'s outcome, or 'pending' if it has not settled within `ms`. */
async function outcome(promise: Promise<void>, ms = 1000): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('pending'), ms)));
  const settled = promise.then(
    () => 'confirmed',
    (err: Error) => `failed: ${err.message}`,
  );
  try {
    return await Promise.race([settled, pending]);
  } finally {
    clearTimeout(timer);
  }
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('Publisher', () => {
  it('publishes again on the next connection every message whose confirm the lost channel never gave, even after an out-of-order confirm', async () => {
    const first = new FakeConfirmChannel();
    const second = new FakeConfirmChannel();
    const { connection, sessions } = connectionOf([first, second]);
    const publisher = new Publisher(connection, memoryLogger().logger, 10_000);

    const publishes = ['a', 'b', 'c', 'd'].map((key) => publisher.publish('events', key, { key }));
    await flush();
    expect(first.published).toEqual(['a', 'b', 'c', 'd']);
    // The broker confirms c alone, then the node dies: amqplib fails a and b, not d.
    first.ack(3);
    sessions[0].closed = true;
    first.lose();
    await flush();
    expect(second.published).toEqual(['a', 'b', 'd']);
    second.ack(1);
    second.ack(2);
    second.ack(3);
    expect(await Promise.all(publishes.map((p) => outcome(p)))).toEqual([
      'confirmed',
      'confirmed',
      'confirmed',
      'confirmed',
    ]);
  });

  it('fails a publish still unconfirmed when its channel closes and no connection is left to publish it again', async () => {
    const only = new FakeConfirmChannel();
    const { connection, sessions } = connectionOf([only]);
    const publisher = new Publisher(connection, memoryLogger().logger, 10_000);

    const [x, y, z] = ['x', 'y', 'z'].map((key) => publisher.publish('events', key, {}));
    await flush();
    only.ack(2);
    sessions[0].closed = true;
    only.lose();
    expect([await outcome(x), await outcome(y), await outcome(z)]).toEqual([
      'failed: no session',
      'confirmed',
      'failed: no session',
    ]);
  });
});
