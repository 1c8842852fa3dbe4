import { Writable } from 'node:stream';
import type { JobCloudEvent } from '@switchyard/contracts';
import type { AmqpClient } from '@switchyard/messaging';
import { MessagingError } from '@switchyard/messaging';
import { createLogger } from '@switchyard/observability';
import { SEQ_BLOCK, type JobEventSource, type OutboxMessage } from '@switchyard/persistence';
import { AttemptEvents, isoTimes } from './job-events';

function logged() {
  const lines: { level: string; msg: string }[] = [];
  const logger = createLogger(
    'worker',
    'info',
    new Writable({
      write: (chunk: Buffer, _e, done) => {
        lines.push(JSON.parse(chunk.toString()) as { level: string; msg: string });
        done();
      },
    }),
  );
  return { logger, lines };
}

const row: JobEventSource = {
  id: '7f1c7a52-36a4-4c0c-9c3e-1d6f3c1e2a10',
  tenant: 'default',
  type: 'synthetic',
  queue: 'default',
  status: 'running',
  step: null,
  progress: 0,
  message: null,
  attempts: 1,
  event_seq: String(SEQ_BLOCK + 1),
  error: null,
  result_url: null,
  created_at: new Date('2026-12-06T00:00:00Z'),
  started_at: new Date('2026-12-06T00:00:01Z'),
  finished_at: null,
  next_attempt_at: null,
  correlation_id: null,
  flow_id: null,
} as unknown as JobEventSource;

/** A bus whose publishes fail as `failure` says (or succeed), and an outbox that records rows. */
function attempt(failure: Error | undefined, outboxFails = false) {
  const published: JobCloudEvent[] = [];
  const amqp = {
    publish: (_name: string, event: JobCloudEvent) =>
      failure ? Promise.reject(failure) : (published.push(event), Promise.resolve()),
  } as unknown as AmqpClient;
  const outbox: OutboxMessage[] = [];
  let wrote!: () => void;
  const written = new Promise<void>((resolve) => (wrote = resolve));
  const jobs = {
    insertOutbox: (messages: OutboxMessage[]) => {
      wrote();
      if (outboxFails) return Promise.reject(new Error('database down'));
      outbox.push(...messages);
      return Promise.resolve(messages.map((_, i) => String(i + 1)));
    },
  };
  const { logger, lines } = logged();
  return { events: new AttemptEvents(amqp, jobs, logger, row), published, outbox, written, lines };
}

/** Resolves once `lines` holds a line with `msg` (the logger writes asynchronously); fails after 2 s. */
async function loggedLine(lines: { msg: string }[], msg: string): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!lines.some((l) => l.msg === msg)) {
    if (Date.now() > deadline)
      throw new Error(`no "${msg}" logged; saw ${lines.map((l) => l.msg).join(' | ')}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('AttemptEvents', () => {
  it('publishes straight to the bus and writes no outbox row when the broker confirms', async () => {
    const { events, published, outbox } = attempt(undefined);
    events.started();
    await Promise.resolve();
    expect(published.map((e) => [e.type, e.data.seq])).toEqual([['switchyard.job.started', 2]]);
    expect(outbox).toEqual([]);
  });

  it('hands an event no broker confirmed (nacked past the deadline) to the outbox relay, seq and all', async () => {
    const { events, outbox, written, lines } = attempt(new MessagingError('nacked', 'nacked by the broker'));
    events.started();
    await written;
    await loggedLine(lines, 'job event not confirmed by the broker; handed to the outbox relay');
    expect(outbox).toHaveLength(1);
    expect(outbox[0]).toMatchObject({ jobId: row.id, name: 'switchyard.job.started' });
    expect((outbox[0]?.payload as JobCloudEvent).data).toMatchObject({ jobId: row.id, seq: 2 });
  });

  it('logs the event as lost only when the outbox cannot take it either', async () => {
    const { events, written, lines } = attempt(new Error('connection closed'), true);
    events.finished('completed', { ...row, status: 'completed' });
    await written;
    await loggedLine(lines, 'could not publish job event');
    expect(lines.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual([
      'could not publish job event',
    ]);
  });

  it('carries the same times in its events as the rows hold, each formatted once per attempt', () => {
    const { events, published } = attempt(undefined);
    events.started();
    const finishedAt = new Date('2026-12-06T00:00:02.345Z');
    events.finished('completed', {
      ...row,
      status: 'completed',
      event_seq: String(SEQ_BLOCK + 2),
      finished_at: finishedAt,
      event_at: finishedAt,
    });
    expect(
      published.map((e) => [e.type, e.time, e.data.createdAt, e.data.startedAt, e.data.finishedAt]),
    ).toEqual([
      [
        'switchyard.job.started',
        '2026-12-06T00:00:01.000Z',
        '2026-12-06T00:00:00.000Z',
        '2026-12-06T00:00:01.000Z',
        undefined,
      ],
      [
        'switchyard.job.completed',
        '2026-12-06T00:00:02.345Z',
        '2026-12-06T00:00:00.000Z',
        '2026-12-06T00:00:01.000Z',
        '2026-12-06T00:00:02.345Z',
      ],
    ]);
  });
});

describe('isoTimes', () => {
  it('formats each time as toISOString does, whether it has seen it before or not', () => {
    const iso = isoTimes();
    const times = [
      '2026-12-06T00:00:00.000Z',
      '2026-12-06T23:59:59.999Z',
      '2026-12-06T00:00:00.000Z',
      '1999-01-01T00:00:00.001Z',
    ];
    expect(times.map((t) => iso(new Date(t)))).toEqual(times);
  });
});
