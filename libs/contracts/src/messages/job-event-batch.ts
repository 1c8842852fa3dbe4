import { Type, type Static } from '@sinclair/typebox';
import { EVENT_BATCH_ROUTING_KEY } from '../routing';
import { JobCloudEventSchema } from './job-event';
import { defineMessage } from './message';

/** Wire name (the AMQP `type` property) of a batch of lifecycle events: never rename it. */
export const JOB_EVENT_BATCH = 'switchyard.job.event-batch';

/** CloudEvents 1.0 batched mode (AMQP binding: a JSON array of structured-mode events). */
export const CLOUDEVENTS_BATCH_CONTENT_TYPE = 'application/cloudevents-batch+json';

/**
 * Events per batch message at most; a producer turn with more publishes several. It bounds what a
 * consumer holds: its prefetch (in messages) times this many events.
 */
export const JOB_EVENT_BATCH_MAX = 200;

/**
 * While a producer keeps publishing lifecycle events, at most one batch message per this many
 * milliseconds (a batch opened after a quiet spell still goes out when its turn ends): at low
 * rates a worker's or a gateway's turns hold one or two events each, and each message costs the
 * broker two persistent deliveries and acks. It bounds what it adds to an event's way to the
 * tracker and the metrics service (whose own write batches wait up to TRACKER_FLUSH_MS, 50 ms, and
 * 20 ms) and to other systems (each event's own message goes out with its batch). 25 rather than
 * 10 ms: at 300 single submissions a second RabbitMQ's CPU per job fell by a fifth and the
 * stack's by 5–10 %, and the throughput run's by 6–7 % (docs/performance.md, 2026-12-07 14:30).
 */
export const JOB_EVENT_BATCH_LINGER_MS = 25;

/**
 * The lifecycle events one producer published in one event-loop turn (an insert batch, an outbox
 * pass, a worker's completions), in publish order, for Switchyard's own consumers: the tracker and
 * the metrics service each get one message per turn instead of one per event. Other systems get
 * the same events one by one on `<prefix>.events`.
 */
export const JobEventBatchSchema = Type.Array(JobCloudEventSchema, {
  minItems: 1,
  maxItems: JOB_EVENT_BATCH_MAX,
});
export type JobEventBatch = Static<typeof JobEventBatchSchema>;

export const jobEventBatchMessage = defineMessage({
  schema: JobEventBatchSchema,
  exchange: (names) => names.internalExchange,
  routingKey: () => EVENT_BATCH_ROUTING_KEY,
  properties: () => ({ type: JOB_EVENT_BATCH, contentType: CLOUDEVENTS_BATCH_CONTENT_TYPE }),
  mandatory: false,
});
