import { Type, type Static } from '@sinclair/typebox';
import { literals, nullable } from './schema';

export const QUEUE_LEVELS = ['ok', 'warning', 'critical'] as const;
export type QueueLevel = (typeof QUEUE_LEVELS)[number];

/** One row of `GET /queues` (SPEC §4). */
export const QueueViewSchema = Type.Object({
  queue: Type.String(),
  ready: Type.Integer({ minimum: 0 }),
  inFlight: Type.Integer({ minimum: 0 }),
  consumers: Type.Integer({ minimum: 0 }),
  oldestAgeMs: nullable(Type.Integer({ minimum: 0 })),
  completedPerMinute: Type.Number({ minimum: 0 }),
  estimatedWaitMs: nullable(Type.Integer({ minimum: 0 })),
  level: literals(QUEUE_LEVELS, 'warning at QUEUE_WARN_DEPTH, critical at QUEUE_MAX_DEPTH'),
});
export type QueueView = Static<typeof QueueViewSchema>;

/** `GET /queues`. */
export const QueueListSchema = Type.Object({ items: Type.Array(QueueViewSchema) }, { title: 'QueueList' });
export type QueueList = Static<typeof QueueListSchema>;
