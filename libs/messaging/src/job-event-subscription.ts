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
 * service is down wait in it) to every lifecycle event (`job.#`) on the events exchange, and consumes them. The tracker
 * and the metrics service each subscribe this way.
 */
export async function subscribeJobEvents(
  amqp: AmqpClient,
  queue: string,
  prefetch: number,
  handler: JobEventHandler,
): Promise<ConsumerHandle> {
  await amqp.assertDurableQueue(queue, [{ exchange: amqp.names.eventsExchange, pattern: 'job.#' }]);
  return amqp.consume(queue, JOB_EVENT_TYPES, (event) => handler.onEvent(event), {
    prefetch,
    onInvalid: (message) => handler.onInvalid(message),
  });
}
