import pino from 'pino';
import { JOB_DISPATCH, jobDispatch, type JobDispatch } from '@switchyard/contracts';
import type { AmqpClient } from '@switchyard/messaging';
import type { JobsRepository, OutboxRecord } from '@switchyard/persistence';
import type { GatewayConfig } from '../gateway.tokens';
import { OutboxPublisher } from './outbox.publisher';

const record = (id: string) =>
  ({ id, name: 'switchyard.job.queued', payload: { id }, options: {} }) as unknown as OutboxRecord;

const LINGER_MS = 10;

/** A broker whose confirms the test gives one publish at a time. */
function fakeBroker() {
  const published: string[] = [];
  const messages: { name: string; payload: unknown }[] = [];
  const confirms: (() => void)[] = [];
  const amqp = {
    publish: (name: string, payload: { id?: string; jobId?: string }) => {
      published.push(payload.id ?? payload.jobId ?? '');
      messages.push({ name, payload });
      return new Promise<void>((resolve) => confirms.push(resolve));
    },
  } as unknown as AmqpClient;
  return { amqp, published, messages, confirms };
}

function publisher(amqp: AmqpClient, deleted: string[] = [], linger = LINGER_MS) {
  const jobs = {
    deleteOutbox: (ids: string[]) => {
      deleted.push(...ids);
      return Promise.resolve();
    },
  } as unknown as JobsRepository;
  return new OutboxPublisher(
    { OUTBOX_MAX_DELAY_MS: 5000, DISPATCH_LINGER_MS: linger } as GatewayConfig,
    pino({ level: 'silent' }),
    jobs,
    amqp,
    { batchSizeOf: () => 16 },
  );
}

/** A work message's outbox row as a single submission's insert writes it. */
const workRecord = (rowId: string, jobId: string) =>
  ({
    id: rowId,
    jobId,
    name: JOB_DISPATCH,
    payload: jobDispatch({ id: jobId, tenant: 't', type: 'synthetic', queue: 'default' }),
    options: { priority: 0, correlationId: `c-${jobId}`, messageId: jobId },
  }) as OutboxRecord;

const until = async (check: () => boolean, ms = 1000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
};

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

describe('OutboxPublisher work messages', () => {
  /** A publisher on a fake broker and the rows it deleted; `settle` confirms all and shuts it down. */
  function lingering(linger = LINGER_MS) {
    const broker = fakeBroker();
    const deleted: string[] = [];
    const outbox = publisher(broker.amqp, deleted, linger);
    const settle = async () => {
      for (const confirm of broker.confirms) confirm();
      await outbox.onApplicationShutdown();
    };
    return { ...broker, deleted, outbox, settle };
  }

  it('publishes a work message committed after a quiet spell on the next turn, as written', async () => {
    const { outbox, messages, deleted, settle } = lingering();
    void outbox.publishAfterCommit([workRecord('1', 'a')]);
    await nextTurn();
    expect(messages).toEqual([{ name: JOB_DISPATCH, payload: workRecord('1', 'a').payload }]);
    await settle();
    expect(deleted).toEqual(['1']);
  });

  it('merges the work messages committed while it lingers after a publish, and deletes every row once confirmed', async () => {
    const { outbox, messages, deleted, settle } = lingering();
    void outbox.publishAfterCommit([workRecord('1', 'a')]);
    await nextTurn();
    const lingerStarted = performance.now();
    void outbox.publishAfterCommit([workRecord('2', 'b')]);
    await nextTurn();
    void outbox.publishAfterCommit([workRecord('3', 'c')]);
    // Inside the linger: only the first message is out.
    expect(messages).toHaveLength(1);
    await until(() => messages.length === 2);
    expect(performance.now() - lingerStarted).toBeGreaterThanOrEqual(LINGER_MS - 2);
    const merged = messages[1]?.payload as JobDispatch;
    expect(merged.jobId).toBe('b');
    expect(merged.jobs?.map((j) => j.jobId)).toEqual(['b', 'c']);
    await settle();
    expect(deleted.sort()).toEqual(['1', '2', '3']);
  });

  it('publishes held work messages at shutdown without waiting for the linger', async () => {
    const { outbox, messages, confirms } = lingering();
    void outbox.publishAfterCommit([workRecord('1', 'a')]);
    await nextTurn();
    void outbox.publishAfterCommit([workRecord('2', 'b')]);
    const stopping = outbox.onApplicationShutdown();
    expect(messages).toHaveLength(2);
    for (const confirm of confirms) confirm();
    await stopping;
  });

  it('publishes every insert’s work message at once with DISPATCH_LINGER_MS=0', async () => {
    const { outbox, messages, settle } = lingering(0);
    for (const [row, job] of [
      ['1', 'a'],
      ['2', 'b'],
      ['3', 'c'],
    ] as const) {
      void outbox.publishAfterCommit([workRecord(row, job)]);
      await nextTurn();
    }
    expect(messages.map((m) => (m.payload as JobDispatch).jobId)).toEqual(['a', 'b', 'c']);
    await settle();
  });

  it('merges nothing with DISPATCH_LINGER_MS=0, not even the work messages committed in one turn', async () => {
    const { outbox, messages, settle } = lingering(0);
    void outbox.publishAfterCommit([workRecord('1', 'a')]);
    void outbox.publishAfterCommit([workRecord('2', 'b')]);
    await nextTurn();
    expect(messages.map((m) => (m.payload as JobDispatch).jobs)).toEqual([undefined, undefined]);
    await settle();
  });
});
