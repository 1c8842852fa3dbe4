import { amqpNames, RETRY_DELAY_TIERS_MS } from '@switchyard/contracts';
import {
  declareTopology,
  durableQueueArguments,
  QUORUM_DELIVERY_LIMIT,
  retryDelayTier,
  topologyNames,
  workQueueArguments,
  workQueueNames,
  type TopologyChannel,
} from './topology';

interface Recorded {
  exchanges: Map<string, { type: string; options: unknown }>;
  queues: Map<string, { durable?: boolean; arguments?: Record<string, unknown> }>;
  bindings: { queue: string; exchange: string; pattern: string }[];
}

/** Records declarations the way the broker would see them, without a broker. */
function recordingChannel(): { channel: TopologyChannel; recorded: Recorded } {
  const recorded: Recorded = { exchanges: new Map(), queues: new Map(), bindings: [] };
  const channel = {
    assertExchange: (exchange: string, type: string, options: unknown) => {
      recorded.exchanges.set(exchange, { type, options });
      return Promise.resolve({ exchange });
    },
    assertQueue: (queue: string, options: { durable?: boolean; arguments?: Record<string, unknown> }) => {
      recorded.queues.set(queue, options);
      return Promise.resolve({ queue, messageCount: 0, consumerCount: 0 });
    },
    bindQueue: (queue: string, exchange: string, pattern: string) => {
      recorded.bindings.push({ queue, exchange, pattern });
      return Promise.resolve({});
    },
  } as unknown as TopologyChannel;
  return { channel, recorded };
}

describe('declareTopology', () => {
  const names = amqpNames('p');

  it('declares the SPEC §5 exchanges with their kinds, all durable', async () => {
    const { channel, recorded } = recordingChannel();
    await declareTopology(channel, names, []);
    const kinds = Object.fromEntries([...recorded.exchanges].map(([name, e]) => [name, e.type]));
    expect(kinds).toEqual({
      'p.jobs': 'direct',
      'p.retry': 'direct',
      'p.dlx': 'fanout',
      'p.events': 'topic',
      'p.control': 'fanout',
      'p.intake': 'direct',
      'p.internal': 'direct',
    });
    for (const e of recorded.exchanges.values()) expect(e.options).toEqual({ durable: true });
    for (const q of recorded.queues.values()) expect(q.durable).toBe(true);
  });

  it('declares priority work queues dead-lettering to the dlx, bound by queue name', async () => {
    const { channel, recorded } = recordingChannel();
    await declareTopology(channel, names, ['custom', 'default']);
    for (const q of ['default', 'analysis', 'generation', 'custom']) {
      expect(recorded.queues.get(`p.jobs.${q}`)?.arguments).toEqual({
        'x-max-priority': 9,
        'x-dead-letter-exchange': 'p.dlx',
      });
      expect(recorded.bindings).toContainEqual({ queue: `p.jobs.${q}`, exchange: 'p.jobs', pattern: q });
    }
    expect([...recorded.queues.keys()].filter((q) => q.startsWith('p.jobs.'))).toHaveLength(4);
  });

  it('declares one TTL queue per retry tier, dead-lettering to the jobs exchange without a routing key', async () => {
    const { channel, recorded } = recordingChannel();
    await declareTopology(channel, names, []);
    for (const ms of RETRY_DELAY_TIERS_MS) {
      expect(recorded.queues.get(`p.retry.${ms}`)?.arguments).toEqual({
        'x-message-ttl': ms,
        'x-dead-letter-exchange': 'p.jobs',
      });
      expect(recorded.bindings).toContainEqual({
        queue: `p.retry.${ms}`,
        exchange: 'p.retry',
        pattern: String(ms),
      });
    }
  });

  it('declares dlq, intake and intake.rejected queues with their bindings', async () => {
    const { channel, recorded } = recordingChannel();
    await declareTopology(channel, names, []);
    expect(recorded.bindings).toContainEqual({ queue: 'p.dlq', exchange: 'p.dlx', pattern: '' });
    expect(recorded.bindings).toContainEqual({ queue: 'p.intake', exchange: 'p.intake', pattern: 'submit' });
    expect(recorded.queues.get('p.intake.rejected')).toEqual({ durable: true });
    expect(recorded.queues.get('p.intake')?.arguments).toEqual({
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': 'p.intake.rejected',
    });
  });

  it('declares the tracker and metrics queues, bound to the internal exchange for the event batches only', async () => {
    const { channel, recorded } = recordingChannel();
    await declareTopology(channel, names, []);
    for (const queue of ['p.tracker', 'p.metrics']) {
      expect(recorded.queues.get(queue)).toEqual({ durable: true, arguments: undefined });
      expect(recorded.bindings.filter((b) => b.queue === queue)).toEqual([
        { queue, exchange: 'p.internal', pattern: 'job.event-batch' },
      ]);
    }
  });

  it('sends identical arguments on every declaration', async () => {
    const first = recordingChannel();
    const second = recordingChannel();
    await declareTopology(first.channel, names, ['x']);
    await declareTopology(second.channel, names, ['x']);
    expect([...second.recorded.queues]).toEqual([...first.recorded.queues]);
    expect(workQueueArguments(names)).toEqual(workQueueArguments(amqpNames('p')));
  });

  it('lists exactly what it declares in topologyNames', async () => {
    const { channel, recorded } = recordingChannel();
    await declareTopology(channel, names, ['custom']);
    const listed = topologyNames(names, ['custom']);
    expect([...listed.exchanges].sort()).toEqual([...recorded.exchanges.keys()].sort());
    expect([...listed.queues].sort()).toEqual([...recorded.queues.keys()].sort());
  });
});

describe('declareTopology with AMQP_QUEUE_TYPE=quorum', () => {
  const names = amqpNames('p');

  async function declared() {
    const { channel, recorded } = recordingChannel();
    await declareTopology(channel, names, ['custom'], { queueType: 'quorum', deadLetterMaxLength: 50 });
    return recorded;
  }

  it('declares every queue as a durable quorum queue', async () => {
    const recorded = await declared();
    expect(recorded.queues.size).toBe(topologyNames(names, ['custom']).queues.length);
    for (const [name, q] of recorded.queues) {
      expect([name, q.durable, q.arguments?.['x-queue-type']]).toEqual([name, true, 'quorum']);
    }
  });

  it('gives work queues no x-max-priority, a delivery limit and the dlx', async () => {
    const recorded = await declared();
    for (const q of ['default', 'analysis', 'generation', 'custom']) {
      expect(recorded.queues.get(`p.jobs.${q}`)?.arguments).toEqual({
        'x-queue-type': 'quorum',
        'x-dead-letter-exchange': 'p.dlx',
        'x-delivery-limit': QUORUM_DELIVERY_LIMIT,
      });
    }
  });

  it('dead-letters expired retries and intake messages at least once', async () => {
    const recorded = await declared();
    for (const ms of RETRY_DELAY_TIERS_MS) {
      expect(recorded.queues.get(`p.retry.${ms}`)?.arguments).toEqual({
        'x-queue-type': 'quorum',
        'x-message-ttl': ms,
        'x-dead-letter-exchange': 'p.jobs',
        'x-dead-letter-strategy': 'at-least-once',
        'x-overflow': 'reject-publish',
      });
    }
    expect(recorded.queues.get('p.intake')?.arguments).toEqual({
      'x-queue-type': 'quorum',
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': 'p.intake.rejected',
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
      'x-delivery-limit': QUORUM_DELIVERY_LIMIT,
    });
  });

  it('keeps the capped dlq dropping its oldest copies', async () => {
    const recorded = await declared();
    expect(recorded.queues.get('p.dlq')?.arguments).toEqual({
      'x-queue-type': 'quorum',
      'x-max-length': 50,
      'x-overflow': 'drop-head',
    });
    expect(recorded.queues.get('p.intake.rejected')?.arguments).toEqual({ 'x-queue-type': 'quorum' });
  });

  it('types the services’ own durable queues the same way, and nothing for classic', () => {
    expect(durableQueueArguments('quorum')).toEqual({ 'x-queue-type': 'quorum' });
    expect(durableQueueArguments('classic')).toBeUndefined();
  });
});

describe('workQueueNames', () => {
  it('puts the built-in queues first and drops duplicates', () => {
    expect(workQueueNames(['generation', 'video', 'video'])).toEqual([
      'default',
      'analysis',
      'generation',
      'video',
    ]);
  });
});

describe('retryDelayTier', () => {
  it.each([
    [0, 50],
    [120, 100],
    [1000, 1000],
    [1001, 1000],
    [1999, 1000],
    [45_000, 30_000],
    [3_600_000, 3_600_000],
    [10_000_000, 3_600_000],
  ])('puts a %p ms delay in the %p ms tier', (delay, tier) => expect(retryDelayTier(delay)).toBe(tier));
});
