import {
  createJobEvent,
  isJobCloudEvent,
  jobEventBatchMessage,
  type JobCloudEvent,
  type JobEventData,
  type JobEventName,
} from '@switchyard/contracts';
import { Ack, type AmqpClient, type InboundMessage } from '@switchyard/messaging';
import { createLogger } from '@switchyard/observability';
import { Registry } from 'prom-client';
import { EventConsumer, type PriorityLookup } from './event-consumer';
import { EventRecorder } from './event-recorder';
import { createJobMetrics } from './job-metrics';

const logger = createLogger('metrics-test', 'silent');

function event(name: JobEventName, data: Partial<JobEventData>): JobCloudEvent {
  return createJobEvent(
    'test',
    name,
    {
      jobId: 'job',
      tenant: 'acme',
      type: 'synthetic',
      queue: 'default',
      status: 'queued',
      step: null,
      progress: 0,
      message: null,
      attempt: 0,
      seq: 1,
      createdAt: new Date().toISOString(),
      ...data,
    },
    'corr',
  );
}

function message(name: JobEventName, data: Partial<JobEventData>): InboundMessage {
  return raw(event(name, data));
}

function raw(content: unknown): InboundMessage {
  return {
    body: Buffer.from(JSON.stringify(content)),
    content,
    properties: {} as InboundMessage['properties'],
    fields: { routingKey: 'job.queued' } as InboundMessage['fields'],
    redelivered: false,
    headers: {},
  };
}

/**
 * What the bus does with a delivery: a batch's events to onEvents, a single event (left from an
 * earlier version) as a batch of one, anything else to onInvalid.
 */
function deliver(consumer: EventConsumer, message: InboundMessage) {
  const body = message.content;
  if (jobEventBatchMessage.check.Check(body)) return consumer.onEvents(body);
  return isJobCloudEvent(body) ? consumer.onEvents([body]) : Promise.resolve(consumer.onInvalid(message));
}

async function counter(registry: Registry, name: string): Promise<Record<string, number>> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const out: Record<string, number> = {};
  for (const v of (metric?.values ?? []) as { labels: Record<string, string | number>; value: number }[]) {
    out[Object.values(v.labels).join(',')] = v.value;
  }
  return out;
}

function setUp(priorities: PriorityLookup, maxBatch = 100) {
  const registry = new Registry();
  const metrics = createJobMetrics(registry);
  const consumer = new EventConsumer(
    { queue: 'q', prefetch: 2 * maxBatch, batchWindowMs: 5, maxBatch },
    {} as AmqpClient,
    new EventRecorder(metrics),
    priorities,
    metrics,
    logger,
  );
  return { registry, consumer };
}

describe('EventConsumer', () => {
  it('records the acceptances of one window as one batch: one priority lookup, then all acked together', async () => {
    const lookups: string[][] = [];
    const { registry, consumer } = setUp((ids) => {
      lookups.push(ids);
      return Promise.resolve(new Map([['a', 3]]));
    });
    const outcomes = [
      deliver(consumer, message('queued', { jobId: 'a' })),
      deliver(consumer, message('queued', { jobId: 'b' })),
      deliver(consumer, message('started', { jobId: 'a', seq: 2, attempt: 1, status: 'running' })),
      deliver(consumer, raw({ not: 'an event' })),
    ];
    // One promise per batch of acceptances, not per delivery.
    expect(outcomes[1]).toBe(outcomes[0]);
    expect(await Promise.all(outcomes)).toEqual([Ack, Ack, Ack, Ack]);
    expect(lookups).toEqual([['a', 'b']]);
    expect(await counter(registry, 'switchyard_jobs_submitted_total')).toEqual({
      'synthetic,default,3': 1,
      'synthetic,default,unknown': 1,
    });
    expect(await counter(registry, 'switchyard_metrics_events_dropped_total')).toEqual({
      duplicate: 0,
      invalid: 1,
    });
  });

  it('closes a batch at maxBatch deliveries without waiting for the window', async () => {
    const lookups: string[][] = [];
    const { consumer } = setUp((ids) => {
      lookups.push(ids);
      return Promise.resolve(new Map<string, number>());
    }, 2);
    const first = deliver(consumer, message('queued', { jobId: 'a' }));
    const second = deliver(consumer, message('queued', { jobId: 'b' }));
    const third = deliver(consumer, message('queued', { jobId: 'c' }));
    expect(first).toBe(second);
    expect(third).not.toBe(first);
    await Promise.all([first, third]);
    expect(lookups).toEqual([['a', 'b'], ['c']]);
  });

  it('counts the batch with priority "unknown" when the lookup fails, and still acks it', async () => {
    const { registry, consumer } = setUp(() => Promise.reject(new Error('database down')));
    expect(await deliver(consumer, message('queued', { jobId: 'a' }))).toEqual(Ack);
    expect(await counter(registry, 'switchyard_jobs_submitted_total')).toEqual({
      'synthetic,default,unknown': 1,
    });
  });

  it('records and acks the events that need no lookup on arrival, without holding the delivery', async () => {
    const lookup = jest.fn<ReturnType<PriorityLookup>, Parameters<PriorityLookup>>();
    const { registry, consumer } = setUp(lookup);
    const completed = deliver(consumer, message('completed', { seq: 3, status: 'completed' }));
    const started = deliver(consumer, message('started', { seq: 2, attempt: 1, status: 'running' }));
    const invalid = deliver(consumer, raw({ not: 'an event' }));
    // Counted before any timer or lookup, and acked with one shared, already settled promise.
    expect(await counter(registry, 'switchyard_jobs_completed_total')).toEqual({ synthetic: 1 });
    expect(await counter(registry, 'switchyard_metrics_events_dropped_total')).toEqual({
      duplicate: 0,
      invalid: 1,
    });
    expect(started).toBe(completed);
    expect(await invalid).toEqual(Ack);
    expect(await completed).toEqual(Ack);
    expect(lookup).not.toHaveBeenCalled();
  });

  it("counts an acceptance that carries its priority (the gateway's job.queued) at once, without a lookup", async () => {
    const lookup = jest.fn<ReturnType<PriorityLookup>, Parameters<PriorityLookup>>();
    const { registry, consumer } = setUp(lookup);
    const queued = deliver(consumer, message('queued', { jobId: 'a', priority: 8 }));
    expect(await counter(registry, 'switchyard_jobs_submitted_total')).toEqual({ 'synthetic,default,8': 1 });
    expect(await queued).toEqual(Ack);
    expect(lookup).not.toHaveBeenCalled();
  });

  it('records a batch message: its events that need no lookup at once, its acceptances with one lookup', async () => {
    const lookups: string[][] = [];
    const { registry, consumer } = setUp((ids) => {
      lookups.push(ids);
      return Promise.resolve(new Map([['a', 7]]));
    });
    const outcome = deliver(
      consumer,
      raw([
        event('queued', { jobId: 'a' }),
        event('started', { jobId: 'a', seq: 2, attempt: 1, status: 'running' }),
        event('queued', { jobId: 'b' }),
        event('completed', { jobId: 'a', seq: 3, attempt: 1, status: 'completed' }),
      ]),
    );
    expect(await counter(registry, 'switchyard_jobs_completed_total')).toEqual({ synthetic: 1 });
    expect(await outcome).toEqual(Ack);
    expect(lookups).toEqual([['a', 'b']]);
    expect(await counter(registry, 'switchyard_jobs_submitted_total')).toEqual({
      'synthetic,default,7': 1,
      'synthetic,default,unknown': 1,
    });
  });

  it('settles a message whose acceptances span two lookup batches only once both are recorded', async () => {
    let releaseFirst!: () => void;
    const lookups: string[][] = [];
    const { registry, consumer } = setUp((ids) => {
      lookups.push(ids);
      if (lookups.length > 1) return Promise.resolve(new Map<string, number>());
      return new Promise((resolve) => (releaseFirst = () => resolve(new Map<string, number>())));
    }, 2);
    let settled = false;
    const outcome = deliver(consumer, raw(['a', 'b', 'c'].map((jobId) => event('queued', { jobId })))).then(
      (o) => ((settled = true), o),
    );
    // The second batch (c) closes on the window and is recorded; the first (a, b) still waits.
    const deadline = Date.now() + 2000;
    while (lookups.length < 2 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 2));
    await new Promise((resolve) => setImmediate(resolve));
    expect(lookups).toEqual([['a', 'b'], ['c']]);
    expect(settled).toBe(false);
    releaseFirst();
    expect(await outcome).toEqual(Ack);
    expect(await counter(registry, 'switchyard_jobs_submitted_total')).toEqual({
      'synthetic,default,unknown': 3,
    });
  });

  it('stop() records the acceptances still waiting for their batch', async () => {
    const { registry, consumer } = setUp(() => Promise.resolve(new Map([['a', 1]])));
    const outcome = deliver(consumer, message('queued', { jobId: 'a' }));
    await consumer.stop();
    expect(await outcome).toEqual(Ack);
    expect(await counter(registry, 'switchyard_jobs_submitted_total')).toEqual({ 'synthetic,default,1': 1 });
  });
});
