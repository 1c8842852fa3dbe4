import { Type, type Static } from '@sinclair/typebox';
import { LIMITS } from '../job';

/** At most this many jobs per `POST /dlq/replay`. */
export const BULK_REPLAY_MAX = 100;

/** `POST /dlq/replay`: which dead-lettered jobs to replay; an empty filter needs `all: true`. */
export const ReplayFilterSchema = Type.Object(
  {
    type: Type.Optional(Type.String({ minLength: 1, maxLength: LIMITS.typeLength })),
    errorCode: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: BULK_REPLAY_MAX })),
    all: Type.Optional(
      Type.Boolean({ description: 'required (true) to replay without a type or errorCode' }),
    ),
  },
  { title: 'ReplayFilter', additionalProperties: false },
);
export type ReplayFilter = Static<typeof ReplayFilterSchema>;

export const ReplayResultSchema = Type.Object(
  {
    replayed: Type.Integer({ minimum: 0 }),
    jobs: Type.Array(Type.String({ format: 'uuid' }), { maxItems: BULK_REPLAY_MAX }),
  },
  { title: 'ReplayResult' },
);
export type ReplayResult = Static<typeof ReplayResultSchema>;

/** `GET /dlq/groups`: dead-lettered jobs counted by type and last error code. */
export const DeadLetterGroupsSchema = Type.Object(
  {
    items: Type.Array(
      Type.Object({
        type: Type.String(),
        errorCode: Type.Union([Type.String(), Type.Null()]),
        count: Type.Integer({ minimum: 1 }),
        lastFailedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
      }),
      { maxItems: LIMITS.listLimitMax },
    ),
  },
  { title: 'DeadLetterGroups' },
);
export type DeadLetterGroups = Static<typeof DeadLetterGroupsSchema>;

/** `POST /dlq/discard`: the jobs deleted. */
export const DiscardResultSchema = Type.Object(
  {
    discarded: Type.Integer({ minimum: 0 }),
    jobs: Type.Array(Type.String({ format: 'uuid' }), { maxItems: BULK_REPLAY_MAX }),
  },
  { title: 'DiscardResult' },
);
export type DiscardResult = Static<typeof DiscardResultSchema>;
