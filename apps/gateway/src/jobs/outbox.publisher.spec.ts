import pino from 'pino';
import type { AmqpClient } from '@switchyard/messaging';
import type { JobsRepository, OutboxRecord } from '@switchyard/persistence';
import type { GatewayConfig } from '../gateway.tokens';
import { OutboxPublisher } from './outbox.publisher';

const record = (id: string) =>
  ({ id, name: 'switchyard.job.queued', payload: { id }, options: {} }) as unknown as OutboxRecord;

/** A broker whose confirms the test gives one publish at a time. */
function fakeBroker() {
  const published: string[] = [];
  const confirms: (() => void)[] = [];
  const amqp = {
    publish: (_name: string, payload: { id: string }) => {
      published.push(payload.id);
      return new Promise<void>((resolve) => confirms.push(resolve));
    },
  } as unknown as AmqpClient;
  return { amqp, published, confirms };
}

function publisher(amqp: AmqpClient) {
  const jobs = { deleteOutbox: () => Promise.resolve() } as unknown as JobsRepository;
  return new OutboxPublisher(
    { OUTBOX_MAX_DELAY_MS: 5000 } as GatewayConfig,
    pino({ level: 'silent' }),
    jobs,
    amqp,
  );
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('OutboxPublisher.publishAfterCommit', () => {
  it('answers the caller before it encodes or writes anything, and publishes on the next turn', async () => {
    const { amqp, published, confirms } = fakeBroker();
    const outbox = publisher(amqp);
    // Nothing to wait for, and still this turn: nothing published yet.
    expect(outbox.publishAfterCommit([record('a'), record('b')])).toBeUndefined();
    expect(published).toEqual([]);
    await Promise.resolve();
    expect(published).toEqual([]);
    await nextTurn();
    expect(published).toEqual(['a', 'b']);
    for (const confirm of confirms) confirm();
    await outbox.onApplicationShutdown();
  });

  it('makes the caller wait for its confirms once more than 2,000 messages are unconfirmed', async () => {
    const { amqp, published, confirms } = fakeBroker();
    const outbox = publisher(amqp);
    expect(
      outbox.publishAfterCommit(Array.from({ length: 2000 }, (_, i) => record(`early-${i}`))),
    ).toBeUndefined();
    let answered = false;
    const waiting = outbox.publishAfterCommit([record('late')]);
    expect(waiting).toBeInstanceOf(Promise);
    const late = waiting?.then(() => (answered = true));
    await nextTurn();
    await nextTurn();
    expect(published).toHaveLength(2001);
    expect(answered).toBe(false);
    for (const confirm of confirms) confirm();
    await late;
    expect(answered).toBe(true);
    await outbox.onApplicationShutdown();
  });
});
