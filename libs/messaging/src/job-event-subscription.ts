import { JOB_EVENT_BATCH, JOB_EVENT_TYPES, type JobCloudEvent } from '@switchyard/contracts';
import type { AmqpClient, ConsumerHandle } from './amqp-client';
import type { ConsumeOutcome } from './ack-policy';
import type { InboundMessage } from './inbound-message';

/** What a service does with each lifecycle event it subscribed to, and with a body that is none. */
export interface JobEventHandler {
  onEvent(event: JobCloudEvent): Promise<ConsumeOutcome>;
  onInvalid(message: InboundMessage): ConsumeOutcome;
}

/**
 * Binds `queue` (a service's own, durable, of AMQP_QUEUE_TYPE: events published while the
 * service is down wait in it) to every lifecycle event (`job.#`) on the events exchange, or to the
 * routing keys in `patterns`, and consumes them one CloudEvent per message, as other systems
 * would. The gateway's webhook fan-out subscribes this way.
 */
export async function subscribeJobEvents(
  amqp: AmqpClient,
  queue: string,
  prefetch: number,
  handler: JobEventHandler,
  patterns: readonly string[] = ['job.#'],
): Promise<ConsumerHandle> {
  await amqp.assertDurableQueue(
    queue,
    patterns.map((pattern) => ({ exchange: amqp.names.eventsExchange, pattern })),
  );
  return amqp.consume(queue, JOB_EVENT_TYPES, (event) => handler.onEvent(event), {
    prefetch,
    onInvalid: (message) => handler.onInvalid(message),
  });
}

/** What a service does with the events of one batch message (in publish order), and with a body that is none. */
export interface JobEventBatchHandler {
  onEvents(events: readonly JobCloudEvent[]): Promise<ConsumeOutcome>;
  onInvalid(message: InboundMessage): ConsumeOutcome;
}

/**
 * Consumes the internal lifecycle event batches from `queue` (the tracker's or the metrics
 * service's, which the topology declares and binds to the internal exchange): one message per
 * producer turn, its outcome that of all its events. The queue's binding to every event on the
 * events exchange, which earlier versions declared, is removed; single events still in the queue
 * from those versions are handled as batches of one.
 */
export async function subscribeJobEventBatches(
  amqp: AmqpClient,
  queue: string,
  prefetch: number,
  handler: JobEventBatchHandler,
): Promise<ConsumerHandle> {
  await amqp.setBindings(queue, amqp.names.eventsExchange, [], ['job.#']);
  return amqp.consume(
    queue,
    [JOB_EVENT_BATCH, ...JOB_EVENT_TYPES],
    (body) => handler.onEvents(Array.isArray(body) ? body : [body]),
    { prefetch, onInvalid: (message) => handler.onInvalid(message) },
  );
}
