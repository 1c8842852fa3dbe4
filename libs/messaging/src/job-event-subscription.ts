import { JOB_EVENT_TYPES, type JobCloudEvent } from '@switchyard/contracts';
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
 * routing keys in `patterns`, and consumes them. The tracker, the metrics service and the
 * gateway's webhook fan-out each subscribe this way.
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
