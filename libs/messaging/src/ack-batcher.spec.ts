import type { Message } from 'amqplib';
import { AckBatcher, type AckChannel } from './ack-batcher';

function message(tag: number): Message {
  return { fields: { deliveryTag: tag }, properties: {}, content: Buffer.alloc(0) } as unknown as Message;
}

/** A channel that records the acks as `tag` (single) or `≤tag` (multiple). */
function recordingChannel(): { channel: AckChannel; sent: string[] } {
  const sent: string[] = [];
  return {
    sent,
    channel: { ack: (m, allUpTo) => void sent.push(`${allUpTo ? '≤' : ''}${m.fields.deliveryTag}`) },
  };
}

/** A batcher whose scheduled flushes run when the test says. */
function manualBatcher(channel: AckChannel): {
  batcher: AckBatcher;
  run: () => void;
  scheduled: () => number;
} {
  let pending: (() => void)[] = [];
  const batcher = new AckBatcher(channel, {
    schedule: (flush) => {
      pending.push(flush);
      return () => (pending = pending.filter((f) => f !== flush));
    },
  });
  return {
    batcher,
    scheduled: () => pending.length,
    run: () => {
      const due = pending;
      pending = [];
      for (const flush of due) flush();
    },
  };
}

describe('AckBatcher', () => {
  it('acks a prefix of acked deliveries with one multiple ack, scheduled once', () => {
    const { channel, sent } = recordingChannel();
    const { batcher, run, scheduled } = manualBatcher(channel);
    const messages = [1, 2, 3, 4, 5].map(message);
    for (const m of messages) batcher.delivered(m);
    for (const m of [...messages].reverse()) batcher.ack(m);
    expect(scheduled()).toBe(1);
    expect(sent).toEqual([]);
    run();
    expect(sent).toEqual(['≤5']);
    expect(batcher.size).toBe(0);
  });

  it('acks deliveries behind a still running one singly, at the same flush', () => {
    const { channel, sent } = recordingChannel();
    const { batcher, run } = manualBatcher(channel);
    const messages = [1, 2, 3, 4, 5, 6].map(message);
    for (const m of messages) batcher.delivered(m);
    // 3 is still being handled.
    for (const tag of [1, 2, 4, 6]) batcher.ack(messages[tag - 1]);
    run();
    expect(sent).toEqual(['≤2', '4', '6']);
    expect(batcher.size).toBe(2);
    // Once 3 is done, it and 5 go out together.
    batcher.ack(messages[4]);
    batcher.ack(messages[2]);
    run();
    expect(sent).toEqual(['≤2', '4', '6', '≤5']);
    expect(batcher.size).toBe(0);
  });

  it('a single acked delivery at the head is a plain ack', () => {
    const { channel, sent } = recordingChannel();
    const { batcher, run } = manualBatcher(channel);
    const [first, second] = [1, 2].map(message);
    batcher.delivered(first);
    batcher.delivered(second);
    batcher.ack(first);
    run();
    expect(sent).toEqual(['1']);
  });

  it('a multiple ack spans deliveries that were nacked and forgotten', () => {
    const { channel, sent } = recordingChannel();
    const { batcher, run } = manualBatcher(channel);
    const messages = [1, 2, 3, 4].map(message);
    for (const m of messages) batcher.delivered(m);
    batcher.ack(messages[0]);
    batcher.forget(messages[1]); // nacked on the wire already
    batcher.ack(messages[3]);
    expect(batcher.pendingAcks).toBe(2);
    run();
    // 3 is still open, so 4 cannot be covered by a multiple ack.
    expect(sent).toEqual(['1', '4']);
    batcher.ack(messages[2]);
    run();
    expect(sent).toEqual(['1', '4', '3']);
  });

  it('forgetting an acked delivery withdraws its ack', () => {
    const { channel, sent } = recordingChannel();
    const { batcher, run } = manualBatcher(channel);
    const m = message(7);
    batcher.delivered(m);
    batcher.ack(m);
    batcher.ack(m);
    expect(batcher.pendingAcks).toBe(1);
    batcher.forget(m);
    run();
    expect(sent).toEqual([]);
  });

  it('flush() sends at once and cancels the scheduled flush', () => {
    const { channel, sent } = recordingChannel();
    const { batcher, scheduled } = manualBatcher(channel);
    const messages = [1, 2].map(message);
    for (const m of messages) batcher.delivered(m);
    for (const m of messages) batcher.ack(m);
    batcher.flush();
    expect(sent).toEqual(['≤2']);
    expect(scheduled()).toBe(0);
  });

  it('drop() forgets everything without sending', () => {
    const { channel, sent } = recordingChannel();
    const { batcher, run, scheduled } = manualBatcher(channel);
    const messages = [1, 2, 3].map(message);
    for (const m of messages) batcher.delivered(m);
    batcher.ack(messages[0]);
    batcher.ack(messages[1]);
    expect(batcher.drop()).toBe(2);
    expect(scheduled()).toBe(0);
    run();
    expect(sent).toEqual([]);
    expect(batcher.size).toBe(0);
  });

  it('a failing scheduled flush drops the state and reports it', () => {
    const errors: [unknown, number][] = [];
    let pending: (() => void) | undefined;
    const batcher = new AckBatcher(
      {
        ack: () => {
          throw new Error('Channel closed');
        },
      },
      { schedule: (flush) => ((pending = flush), () => undefined), onError: (e, n) => errors.push([e, n]) },
    );
    const m = message(1);
    batcher.delivered(m);
    batcher.ack(m);
    pending?.();
    expect(errors).toHaveLength(1);
    expect(batcher.size).toBe(0);
  });

  it('flushes on setImmediate by default, once for a whole tick of acks', async () => {
    const { channel, sent } = recordingChannel();
    const batcher = new AckBatcher(channel);
    const messages = Array.from({ length: 100 }, (_, i) => message(i + 1));
    for (const m of messages) batcher.delivered(m);
    await Promise.all(messages.map(async (m) => batcher.ack(await Promise.resolve(m))));
    expect(sent).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toEqual(['≤100']);
  });
});
