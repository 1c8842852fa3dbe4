import {
  BUILT_IN_QUEUES,
  EVENT_BATCH_ROUTING_KEY,
  INTAKE_ROUTING_KEY,
  MAX_PRIORITY,
  RETRY_DELAY_TIERS_MS,
  type AmqpNames,
} from '@switchyard/contracts';
import type { Channel } from 'amqplib';

/** The part of an amqplib channel that declaring topology needs. */
export type TopologyChannel = Pick<Channel, 'assertExchange' | 'assertQueue' | 'bindQueue'>;

// RabbitMQ refuses (PRECONDITION_FAILED) to re-declare a queue with different arguments, and
// arguments cannot change once a queue exists: every declaration of these queues must go through
// these functions so that all services always send identical arguments.

/**
 * AMQP_QUEUE_TYPE. `classic` queues live on one node; `quorum` queues are replicated over the
 * nodes of a cluster (Raft) and survive the loss of a minority of them (docs/scaling.md).
 */
export type QueueType = 'classic' | 'quorum';

/**
 * Quorum queues count the deliveries of each message (requeues, and deliveries returned because
 * their consumer or its node went away) and dead-letter a message past this limit. The services'
 * own requeues during an outage (a worker's held claim at most every 5 s, the intake's every 30 s)
 * stay far below it for hours, so it only ends a message that takes its consumer down again and
 * again. PostgreSQL stays the record: a job whose dispatch message is dropped this way is released
 * again by the dispatcher (REDISPATCH_AFTER_MS).
 */
export const QUORUM_DELIVERY_LIMIT = 1000;

/**
 * Arguments every durable queue of `queueType` carries. Exclusive and auto-delete queues (a
 * worker's control queue) cannot be quorum queues and are always classic.
 */
export function durableQueueArguments(queueType: QueueType = 'classic'): Record<string, unknown> | undefined {
  return queueType === 'quorum' ? { 'x-queue-type': 'quorum' } : undefined;
}

/**
 * Quorum dead-lettering that cannot lose a message: RabbitMQ keeps it in the source queue until
 * the target queues confirm it (which requires overflow `reject-publish`; these queues have no
 * length limit, so nothing is ever rejected for it).
 */
const AT_LEAST_ONCE_DEAD_LETTERING = {
  'x-dead-letter-strategy': 'at-least-once',
  'x-overflow': 'reject-publish',
};

/**
 * Classic work queues order the few released messages by the dispatcher's effective priority
 * (`x-max-priority`); quorum queues have no per-message priority in this RabbitMQ (3.10), and need
 * none: the dispatcher releases the backlog from PostgreSQL in priority order, a small window at a
 * time (docs/architecture.md, "The dispatcher").
 */
export function workQueueArguments(
  names: AmqpNames,
  queueType: QueueType = 'classic',
): Record<string, unknown> {
  if (queueType === 'quorum') {
    return {
      'x-queue-type': 'quorum',
      'x-dead-letter-exchange': names.deadLetterExchange,
      'x-delivery-limit': QUORUM_DELIVERY_LIMIT,
    };
  }
  return { 'x-max-priority': MAX_PRIORITY, 'x-dead-letter-exchange': names.deadLetterExchange };
}

/**
 * `<prefix>.dlq` holds a copy of each dead-lettered message for inspection; PostgreSQL (GET /dlq)
 * is the record of dead-lettered jobs. Capped at `maxLength` messages, dropping the oldest
 * (drop-head) so the newest failures stay visible; `0` leaves it unbounded.
 */
export function deadLetterQueueArguments(
  maxLength: number,
  queueType: QueueType = 'classic',
): Record<string, unknown> | undefined {
  const cap = maxLength > 0 ? { 'x-max-length': maxLength, 'x-overflow': 'drop-head' } : undefined;
  const typed = durableQueueArguments(queueType);
  return typed || cap ? { ...typed, ...cap } : undefined;
}

export interface TopologyOptions {
  /** DLQ_MAX_LENGTH; default 0 (unbounded). */
  deadLetterMaxLength?: number;
  /**
   * The DLQ exists with other arguments (created by an earlier version or another cap): bind it
   * as it is rather than re-declare it, which RabbitMQ would refuse (PRECONDITION_FAILED).
   */
  keepExistingDeadLetterQueue?: boolean;
  /** AMQP_QUEUE_TYPE; default classic. */
  queueType?: QueueType;
}

/**
 * No `x-dead-letter-routing-key`: an expired message is dead-lettered with its own routing keys,
 * so a retry published with the work queue name as routing key returns to that work queue.
 */
export function retryQueueArguments(
  names: AmqpNames,
  delayMs: number,
  queueType: QueueType = 'classic',
): Record<string, unknown> {
  const common = { 'x-message-ttl': delayMs, 'x-dead-letter-exchange': names.jobsExchange };
  return queueType === 'quorum'
    ? { 'x-queue-type': 'quorum', ...common, ...AT_LEAST_ONCE_DEAD_LETTERING }
    : common;
}

/**
 * An intake message that a consumer dead-letters (its handler kept throwing) goes to the
 * rejected queue through the default exchange, so intake messages are never silently dropped.
 */
export function intakeQueueArguments(
  names: AmqpNames,
  queueType: QueueType = 'classic',
): Record<string, unknown> {
  const common = { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': names.intakeRejectedQueue };
  if (queueType === 'classic') return common;
  return {
    'x-queue-type': 'quorum',
    ...common,
    ...AT_LEAST_ONCE_DEAD_LETTERING,
    'x-delivery-limit': QUORUM_DELIVERY_LIMIT,
  };
}

/** Built-in work queues plus the extra ones, without duplicates, in a stable order. */
export function workQueueNames(extra: readonly string[] = []): string[] {
  return [...new Set<string>([...BUILT_IN_QUEUES, ...extra])];
}

/**
 * The largest retry tier ≤ delayMs (the smallest tier when delayMs is below all of them), so a
 * hop never overshoots the delay; what remains is served by further hops.
 */
export function retryDelayTier(delayMs: number): number {
  let tier: number = RETRY_DELAY_TIERS_MS[0];
  for (const t of RETRY_DELAY_TIERS_MS) if (t <= delayMs) tier = t;
  return tier;
}

/**
 * Declares the SPEC §5 topology. Idempotent: safe to call from every service at every
 * (re)connection, as long as the arguments above never change.
 */
export async function declareTopology(
  channel: TopologyChannel,
  names: AmqpNames,
  workQueues: readonly string[] = [],
  options: TopologyOptions = {},
): Promise<void> {
  const queueType = options.queueType ?? 'classic';
  await channel.assertExchange(names.deadLetterExchange, 'fanout', { durable: true });
  if (!options.keepExistingDeadLetterQueue) {
    const dlqArguments = deadLetterQueueArguments(options.deadLetterMaxLength ?? 0, queueType);
    await channel.assertQueue(
      names.deadLetterQueue,
      dlqArguments ? { durable: true, arguments: dlqArguments } : { durable: true },
    );
  }
  await channel.bindQueue(names.deadLetterQueue, names.deadLetterExchange, '');

  await channel.assertExchange(names.jobsExchange, 'direct', { durable: true });
  for (const queue of workQueueNames(workQueues)) {
    const name = names.workQueue(queue);
    await channel.assertQueue(name, { durable: true, arguments: workQueueArguments(names, queueType) });
    await channel.bindQueue(name, names.jobsExchange, queue);
  }

  await channel.assertExchange(names.retryExchange, 'direct', { durable: true });
  for (const delayMs of RETRY_DELAY_TIERS_MS) {
    const name = names.retryQueue(delayMs);
    await channel.assertQueue(name, {
      durable: true,
      arguments: retryQueueArguments(names, delayMs, queueType),
    });
    await channel.bindQueue(name, names.retryExchange, String(delayMs));
  }

  await channel.assertExchange(names.eventsExchange, 'topic', { durable: true });
  await channel.assertExchange(names.controlExchange, 'fanout', { durable: true });

  await channel.assertQueue(names.intakeRejectedQueue, {
    durable: true,
    arguments: durableQueueArguments(queueType),
  });
  await channel.assertExchange(names.intakeExchange, 'direct', { durable: true });
  await channel.assertQueue(names.intakeQueue, {
    durable: true,
    arguments: intakeQueueArguments(names, queueType),
  });
  await channel.bindQueue(names.intakeQueue, names.intakeExchange, INTAKE_ROUTING_KEY);

  // The internal event batches: declared by every service, so a batch published before the
  // tracker or the metrics service first started waits for it.
  await channel.assertExchange(names.internalExchange, 'direct', { durable: true });
  for (const queue of eventBatchQueues(names)) {
    await channel.assertQueue(queue, { durable: true, arguments: durableQueueArguments(queueType) });
    await channel.bindQueue(queue, names.internalExchange, EVENT_BATCH_ROUTING_KEY);
  }
}

/** The queues of the services that consume the internal lifecycle event batches. */
export function eventBatchQueues(names: AmqpNames): string[] {
  return [names.trackerQueue, names.metricsQueue];
}

/** Every exchange and queue declareTopology declares; used to tear test topologies down. */
export function topologyNames(
  names: AmqpNames,
  workQueues: readonly string[] = [],
): { exchanges: string[]; queues: string[] } {
  return {
    exchanges: [
      names.deadLetterExchange,
      names.jobsExchange,
      names.retryExchange,
      names.eventsExchange,
      names.controlExchange,
      names.intakeExchange,
      names.internalExchange,
    ],
    queues: [
      names.deadLetterQueue,
      ...workQueueNames(workQueues).map((q) => names.workQueue(q)),
      ...RETRY_DELAY_TIERS_MS.map((ms) => names.retryQueue(ms)),
      names.intakeQueue,
      names.intakeRejectedQueue,
      ...eventBatchQueues(names),
    ],
  };
}
