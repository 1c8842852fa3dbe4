import { Type, type Static } from '@sinclair/typebox';
import { ConcurrencyLimitSchema } from './limits';
import { literals, nullable } from './schema';

export const QUEUE_LEVELS = ['ok', 'warning', 'critical'] as const;
export type QueueLevel = (typeof QUEUE_LEVELS)[number];

/**
 * One row of `GET /queues` (SPEC §4), also the body of pause and resume. `ready` is RabbitMQ's
 * ready count (released jobs the broker holds); `backlog` the queued jobs PostgreSQL holds back.
 */
export const QueueViewSchema = Type.Object(
  {
    queue: Type.String(),
    ready: Type.Integer({ minimum: 0, description: 'ready messages in the RabbitMQ work queue' }),
    inFlight: Type.Integer({ minimum: 0 }),
    consumers: Type.Integer({ minimum: 0 }),
    backlog: Type.Integer({
      minimum: 0,
      description: 'queued jobs in PostgreSQL not released to RabbitMQ yet',
    }),
    released: Type.Integer({ minimum: 0, description: 'jobs released to RabbitMQ and not started yet' }),
    scheduled: Type.Integer({ minimum: 0, description: 'jobs waiting for their runAt' }),
    running: Type.Integer({ minimum: 0 }),
    paused: Type.Boolean({ description: 'a paused queue accepts jobs but starts none' }),
    oldestAgeMs: nullable(Type.Integer({ minimum: 0 })),
    completedPerMinute: Type.Number({ minimum: 0 }),
    estimatedWaitMs: nullable(Type.Integer({ minimum: 0 })),
    level: literals(
      QUEUE_LEVELS,
      'backlog + released against QUEUE_WARN_DEPTH (warning) and QUEUE_MAX_DEPTH (critical)',
    ),
    concurrency: Type.Optional(
      Type.Array(ConcurrencyLimitSchema, {
        description:
          'in `GET /queues`: the concurrency keys of the queue’s jobs in use or waiting, each with its ' +
          'limit and its jobs in use and waiting (across queues)',
      }),
    ),
  },
  { title: 'Queue' },
);
export type QueueView = Static<typeof QueueViewSchema>;

/** `GET /queues`. */
export const QueueListSchema = Type.Object({ items: Type.Array(QueueViewSchema) }, { title: 'QueueList' });
export type QueueList = Static<typeof QueueListSchema>;
