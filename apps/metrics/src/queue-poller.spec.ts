import { amqpNames } from '@switchyard/contracts';
import { createLogger } from '@switchyard/observability';
import { Registry } from 'prom-client';
import { Writable } from 'node:stream';
import type { QueueStateRow } from '@switchyard/persistence';
import { QueuePoller, type BrokerQueues, type JobQueues, type QueueSettings } from './queue-poller';

const silent = createLogger(
  'test',
  'silent',
  new Writable({
    write: (_chunk, _encoding, done) => done(),
  }),
);
const names = amqpNames('t');

class FakeBroker implements BrokerQueues {
  stats = new Map<string, { messageCount: number; consumerCount: number }>();
  down = false;
  queueStats(queue: string) {
    const stats = this.stats.get(queue);
    if (this.down || !stats) return Promise.reject(new Error(`no queue ${queue}`));
    return Promise.resolve(stats);
  }
}

class FakeJobs implements JobQueues {
  rows: QueueStateRow[] = [];
  deadLettered = 0;
  down = false;
  queueStates() {
    if (this.down) return Promise.reject(new Error('db down'));
    return Promise.resolve({ queues: this.rows, deadLettered: this.deadLettered });
  }
  keys: { key: string; inUse: number }[] = [];
  keysDown = false;
  concurrencyInUse() {
    if (this.keysDown) return Promise.reject(new Error('db down'));
    return Promise.resolve(this.keys);
  }
  holds: { key: string; holds: number }[] = [];
  rateLimitHolds() {
    if (this.keysDown) return Promise.reject(new Error('db down'));
    return Promise.resolve(this.holds);
  }
}

class FakeSettings implements QueueSettings {
  paused = new Set<string>();
  down = false;
  pausedQueues() {
    if (this.down) return Promise.reject(new Error('db down'));
    return Promise.resolve(new Set(this.paused));
  }
}

async function scrape(registry: Registry): Promise<string[]> {
  return (await registry.metrics())
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .sort();
}

describe('QueuePoller', () => {
  let now: number;
  let broker: FakeBroker;
  let jobs: FakeJobs;
  let settings: FakeSettings;
  let registry: Registry;
  let poller: QueuePoller;
  let extra: string[];

  beforeEach(() => {
    now = Date.parse('2030-01-01T00:10:00Z');
    broker = new FakeBroker();
    jobs = new FakeJobs();
    settings = new FakeSettings();
    registry = new Registry();
    extra = [];
    poller = new QueuePoller(
      { intervalMs: 1000, warnDepth: 10, maxDepth: 12, names, extraQueues: () => extra },
      broker,
      jobs,
      settings,
      registry,
      silent,
      () => now,
    );
    broker.stats.set('t.jobs.default', { messageCount: 12, consumerCount: 2 });
    broker.stats.set('t.jobs.analysis', { messageCount: 0, consumerCount: 1 });
    broker.stats.set('t.jobs.generation', { messageCount: 3, consumerCount: 0 });
    broker.stats.set('t.dlq', { messageCount: 4, consumerCount: 0 });
    jobs.deadLettered = 9;
    jobs.rows = [
      {
        queue: 'default',
        backlog: 9,
        released: 3,
        scheduled: 4,
        running: 5,
        retrying: 1,
        oldestQueuedAt: new Date('2030-01-01T00:09:30Z'),
      },
      {
        queue: 'generation',
        backlog: 0,
        released: 0,
        scheduled: 0,
        running: 0,
        retrying: 2,
        oldestQueuedAt: null,
      },
    ];
  });

  it('sets ready and consumers from the broker, the backlog, released, scheduled, running and retrying jobs, the oldest age and the paused flag from PostgreSQL', async () => {
    settings.paused = new Set(['generation']);
    await poller.pollOnce();
    const lines = await scrape(registry);
    expect(lines).toEqual(
      expect.arrayContaining([
        'switchyard_queue_depth{queue="default",state="ready"} 12',
        'switchyard_queue_depth{queue="default",state="running"} 5',
        'switchyard_queue_depth{queue="default",state="retrying"} 1',
        'switchyard_queue_depth{queue="default",state="backlog"} 9',
        'switchyard_queue_depth{queue="default",state="released"} 3',
        'switchyard_queue_depth{queue="default",state="scheduled"} 4',
        'switchyard_queue_depth{queue="analysis",state="backlog"} 0',
        'switchyard_queue_depth{queue="analysis",state="ready"} 0',
        'switchyard_queue_depth{queue="analysis",state="running"} 0',
        'switchyard_queue_depth{queue="generation",state="retrying"} 2',
        'switchyard_queue_depth{queue="dlq",state="ready"} 4',
        'switchyard_queue_depth{queue="dlq",state="dead_lettered"} 9',
        'switchyard_queue_consumers{queue="default"} 2',
        'switchyard_queue_consumers{queue="generation"} 0',
        'switchyard_queue_consumers{queue="dlq"} 0',
        'switchyard_queue_oldest_age_seconds{queue="default"} 30',
        'switchyard_queue_oldest_age_seconds{queue="analysis"} 0',
        'switchyard_queue_oldest_age_seconds{queue="generation"} 0',
        'switchyard_queue_paused{queue="default"} 0',
        'switchyard_queue_paused{queue="analysis"} 0',
        'switchyard_queue_paused{queue="generation"} 1',
      ]),
    );
    expect(lines.filter((l) => l.includes('queue_paused') && l.includes('dlq'))).toEqual([]);
    expect(lines.filter((l) => l.includes('oldest_age') && l.includes('dlq'))).toEqual([]);
  });

  it('reports the level of each work queue: its queued jobs (backlog + released) against the depths', async () => {
    // RabbitMQ's ready count plays no part: it holds the released window only.
    broker.stats.set('t.jobs.generation', { messageCount: 50, consumerCount: 1 });
    jobs.rows.push({
      queue: 'analysis',
      backlog: 6,
      released: 4,
      scheduled: 100,
      running: 0,
      retrying: 0,
      oldestQueuedAt: null,
    });
    await poller.pollOnce();
    const lines = await scrape(registry);
    expect(lines.filter((l) => l.startsWith('switchyard_queue_level'))).toEqual([
      'switchyard_queue_level{queue="analysis"} 1',
      'switchyard_queue_level{queue="default"} 2',
      'switchyard_queue_level{queue="generation"} 0',
    ]);
  });

  it('computes the oldest age at scrape time, so it grows between polls', async () => {
    await poller.pollOnce();
    now += 15_000;
    expect(await scrape(registry)).toContain('switchyard_queue_oldest_age_seconds{queue="default"} 45');
  });

  it('polls queues discovered from events too', async () => {
    extra = ['video'];
    broker.stats.set('t.jobs.video', { messageCount: 7, consumerCount: 1 });
    await poller.pollOnce();
    expect(await scrape(registry)).toContain('switchyard_queue_depth{queue="video",state="ready"} 7');
  });

  it('withdraws the series of a source it cannot read and counts the failed poll', async () => {
    await poller.pollOnce();
    jobs.down = true;
    await poller.pollOnce();
    let lines = await scrape(registry);
    expect(
      lines.filter((l) =>
        /state="(backlog|released|scheduled|running|retrying|dead_lettered)"|oldest_age_seconds\{|queue_level\{/.test(
          l,
        ),
      ),
    ).toEqual([]);
    // The paused flag comes from another table: still there.
    expect(lines).toContain('switchyard_queue_paused{queue="default"} 0');
    expect(lines).toContain('switchyard_queue_depth{queue="default",state="ready"} 12');
    expect(lines).toContain('switchyard_queue_poll_errors_total{source="postgres"} 1');

    jobs.down = false;
    broker.down = true;
    await poller.pollOnce();
    lines = await scrape(registry);
    expect(lines.filter((l) => /state="ready"|queue_consumers\{/.test(l))).toEqual([]);
    expect(lines).toContain('switchyard_queue_depth{queue="default",state="running"} 5');
    expect(lines).toContain('switchyard_queue_poll_errors_total{source="rabbitmq"} 1');

    broker.down = false;
    settings.down = true;
    await poller.pollOnce();
    lines = await scrape(registry);
    expect(lines.filter((l) => l.startsWith('switchyard_queue_paused'))).toEqual([]);
    expect(lines).toContain('switchyard_queue_depth{queue="default",state="backlog"} 9');
    expect(lines).toContain('switchyard_queue_poll_errors_total{source="postgres"} 2');
  });

  it('polls on its own until stopped', async () => {
    let polls = 0;
    jobs.queueStates = () => {
      polls += 1;
      return Promise.resolve({ queues: [], deadLettered: 0 });
    };
    const fast = new QueuePoller(
      { intervalMs: 5, warnDepth: 10, maxDepth: 12, names, extraQueues: () => [] },
      broker,
      jobs,
      settings,
      new Registry(),
      silent,
    );
    fast.start();
    const deadline = Date.now() + 5000;
    while (polls < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await fast.stop();
    const after = polls;
    await new Promise((r) => setTimeout(r, 30));
    expect(after).toBeGreaterThanOrEqual(3);
    expect(polls).toBe(after);
  });
  it('exports the jobs in use per concurrency key and withdraws them when PostgreSQL cannot be read', async () => {
    jobs.keys = [{ key: 'gpu-a', inUse: 2 }];
    await poller.pollOnce();
    expect(await scrape(registry)).toContain('switchyard_concurrency_in_use{key="gpu-a"} 2');
    jobs.keysDown = true;
    await poller.pollOnce();
    expect((await scrape(registry)).some((line) => line.startsWith('switchyard_concurrency_in_use'))).toBe(
      false,
    );
  });

  it('counts the rate-limit holds recorded in PostgreSQL, by their increase between polls', async () => {
    jobs.holds = [{ key: 'provider:a', holds: 3 }];
    await poller.pollOnce();
    expect(await scrape(registry)).toContain('switchyard_rate_limit_holds_total{key="provider:a"} 3');
    jobs.holds = [{ key: 'provider:a', holds: 5 }];
    await poller.pollOnce();
    expect(await scrape(registry)).toContain('switchyard_rate_limit_holds_total{key="provider:a"} 5');
    // An unreadable poll changes nothing; the next one adds what happened meanwhile, once.
    jobs.keysDown = true;
    await poller.pollOnce();
    jobs.keysDown = false;
    jobs.holds = [{ key: 'provider:a', holds: 6 }];
    await poller.pollOnce();
    await poller.pollOnce();
    expect(await scrape(registry)).toContain('switchyard_rate_limit_holds_total{key="provider:a"} 6');
  });
});
