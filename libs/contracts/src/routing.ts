/**
 * RabbitMQ names of SPEC §5. Other systems bind to these: never rename them. Every name starts
 * with the configured prefix (`AMQP_PREFIX`, default `switchyard`).
 */
export const BUILT_IN_QUEUES = ['default', 'analysis', 'generation'] as const;
export type BuiltInQueue = (typeof BUILT_IN_QUEUES)[number];

/** Lifecycle event names; the routing key is `job.<event>`, the CloudEvent type `switchyard.job.<event>`. */
export const JOB_EVENTS = [
  'queued',
  'started',
  'progress',
  'retrying',
  'completed',
  'failed',
  'cancelled',
] as const;
export type JobEventName = (typeof JOB_EVENTS)[number];

/**
 * Events whose producer writes the job's history row (`job_events`, same seq and fields as the
 * event) together with the status change the event reports: in the statement that changes the job
 * row, or in the transaction that writes the event to the outbox. Their history never depends on
 * the event being delivered. The progress-tracker writes history only for the other events:
 * `progress`, which it coalesces into the job row latest-wins.
 */
export const HISTORY_WRITTEN_BY_PRODUCER = [
  'queued',
  'started',
  'retrying',
  'completed',
  'failed',
  'cancelled',
] as const satisfies readonly JobEventName[];

const producerWritten: ReadonlySet<string> = new Set(HISTORY_WRITTEN_BY_PRODUCER);

/** Whether `event`'s producer wrote its history row (the tracker then writes none). */
export function historyWrittenByProducer(event: JobEventName): boolean {
  return producerWritten.has(event);
}
/** A lifecycle CloudEvent's `type`. */
export type JobEventType = `switchyard.job.${JobEventName}`;

/** Routing key of the lifecycle event batches on the internal exchange. */
export const EVENT_BATCH_ROUTING_KEY = 'job.event-batch';

/** Intake routing key on the intake exchange. */
export const INTAKE_ROUTING_KEY = 'submit';

/**
 * Retry delay tiers in ms: one TTL queue each, so a short delay never waits behind a long one. A
 * delay is served in hops through the largest tier that fits; the worker sends a message that
 * comes back before its `notBefore` on for the remainder.
 */
export const RETRY_DELAY_TIERS_MS = [
  50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000, 300000, 900000, 3600000,
] as const;

export interface AmqpNames {
  readonly prefix: string;
  readonly jobsExchange: string;
  workQueue(queue: string): string;
  readonly retryExchange: string;
  retryQueue(delayMs: number): string;
  readonly deadLetterExchange: string;
  readonly deadLetterQueue: string;
  readonly eventsExchange: string;
  readonly controlExchange: string;
  readonly intakeExchange: string;
  readonly intakeQueue: string;
  readonly intakeRejectedQueue: string;
  /** A worker's own queue on the control fanout (exclusive, auto-deleted). */
  controlQueue(workerId: string): string;
  /**
   * Traffic between Switchyard's own services (direct): the producers' batches of lifecycle
   * events for the tracker and the metrics service. Not for other systems: its messages may change.
   */
  readonly internalExchange: string;
  /** The progress-tracker's durable queue of event batches (on the internal exchange). */
  readonly trackerQueue: string;
  /** The metrics service's durable queue of event batches (on the internal exchange). */
  readonly metricsQueue: string;
  /** The gateways' shared durable queue of the events webhooks deliver (terminal job events). */
  readonly webhooksQueue: string;
  /** A service's connection name (RabbitMQ management UI, Redis CLIENT LIST): `<prefix>/<service>[/<instance>]`. */
  connectionName(service: string, instance?: string): string;
}

export function amqpNames(prefix = 'switchyard'): AmqpNames {
  return {
    prefix,
    jobsExchange: `${prefix}.jobs`,
    workQueue: (queue) => `${prefix}.jobs.${queue}`,
    retryExchange: `${prefix}.retry`,
    retryQueue: (delayMs) => `${prefix}.retry.${delayMs}`,
    deadLetterExchange: `${prefix}.dlx`,
    deadLetterQueue: `${prefix}.dlq`,
    eventsExchange: `${prefix}.events`,
    controlExchange: `${prefix}.control`,
    intakeExchange: `${prefix}.intake`,
    intakeQueue: `${prefix}.intake`,
    intakeRejectedQueue: `${prefix}.intake.rejected`,
    internalExchange: `${prefix}.internal`,
    controlQueue: (workerId) => `${prefix}.control.${workerId}`,
    trackerQueue: `${prefix}.tracker`,
    metricsQueue: `${prefix}.metrics`,
    webhooksQueue: `${prefix}.webhooks`,
    connectionName: (service, instance) =>
      instance === undefined ? `${prefix}/${service}` : `${prefix}/${service}/${instance}`,
  };
}

export function eventRoutingKey(event: JobEventName): string {
  return `job.${event}`;
}

export function eventCloudType(event: JobEventName): JobEventType {
  return `switchyard.job.${event}`;
}
