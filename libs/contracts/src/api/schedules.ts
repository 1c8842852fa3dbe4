import { Type, type Static } from '@sinclair/typebox';
import { JobSubmissionSchema, LIMITS } from '../job';
import { isoTime, literals, nextCursor, nullable } from './schema';

// Schedule bodies of the REST API (SPEC §11). Field names are public contract: never rename them.

export const SCHEDULE_OVERLAPS = ['skip', 'buffer_one', 'allow', 'cancel_previous'] as const;
export type ScheduleOverlap = (typeof SCHEDULE_OVERLAPS)[number];

/** What became of one tick: `schedule_runs_total{outcome}`. */
export const SCHEDULE_RUN_OUTCOMES = ['created', 'skipped_overlap', 'missed'] as const;
export type ScheduleRunOutcome = (typeof SCHEDULE_RUN_OUTCOMES)[number];

export const SCHEDULE_LIMITS = {
  nameLength: 100,
  cronLength: 200,
  timezoneLength: 64,
  noteLength: 1000,
  /** The shortest interval: one tick a second, like a six-field cron. */
  everyMsMin: 1000,
  /** About 24.8 days, like `delayMs`. */
  everyMsMax: 2147483647,
  catchupWindowMsMax: 2147483647,
  jitterMsMax: 86400000,
  /** Ticks one backfill may cover. */
  backfillTicksMax: 1000,
  defaultCatchupWindowMs: 60000,
} as const;

/** The job each run submits: the fields of `POST /jobs` that describe the work. */
export const ScheduleJobSchema = Type.Pick(
  JobSubmissionSchema,
  ['type', 'payload', 'priority', 'timeoutMs', 'maxAttempts', 'metadata', 'concurrencyKey', 'webhookUrl'],
  {
    title: 'ScheduleJob',
    additionalProperties: false,
    description:
      'the job each run submits, as POST /jobs takes it; a run’s idempotency is its (scheduleId, scheduledFor)',
  },
);
export type ScheduleJob = Static<typeof ScheduleJobSchema>;

const scheduleFields = {
  name: Type.String({
    minLength: 1,
    maxLength: SCHEDULE_LIMITS.nameLength,
    description: 'unique per tenant',
  }),
  cron: Type.String({
    minLength: 1,
    maxLength: SCHEDULE_LIMITS.cronLength,
    description: '5 fields (minute first) or 6 (second first), or an alias such as @hourly; not with everyMs',
  }),
  everyMs: Type.Integer({
    minimum: SCHEDULE_LIMITS.everyMsMin,
    maximum: SCHEDULE_LIMITS.everyMsMax,
    description: 'a tick every this many ms, aligned to the Unix epoch; not with cron',
  }),
  timezone: Type.String({
    minLength: 1,
    maxLength: SCHEDULE_LIMITS.timezoneLength,
    description: 'IANA time zone the cron expression is read in (default UTC)',
  }),
  job: ScheduleJobSchema,
  overlap: literals(
    SCHEDULE_OVERLAPS,
    'what a tick does while an earlier run is not finished (default skip)',
  ),
  catchupWindowMs: Type.Integer({
    minimum: 0,
    maximum: SCHEDULE_LIMITS.catchupWindowMsMax,
    description: 'after downtime, missed ticks this recent run once each; older ones are counted as missed',
  }),
  jitterMs: Type.Integer({
    minimum: 0,
    maximum: SCHEDULE_LIMITS.jitterMsMax,
    description: 'each run starts up to this much after its tick',
  }),
  startAt: isoTime('no tick before this time'),
  endAt: isoTime('no tick after this time'),
  paused: Type.Boolean(),
  note: Type.String({ maxLength: SCHEDULE_LIMITS.noteLength, description: 'why it was paused or changed' }),
};

/** `POST /schedules`. */
export const ScheduleCreateSchema = Type.Object(
  {
    name: scheduleFields.name,
    cron: Type.Optional(scheduleFields.cron),
    everyMs: Type.Optional(scheduleFields.everyMs),
    timezone: Type.Optional(scheduleFields.timezone),
    job: scheduleFields.job,
    overlap: Type.Optional(scheduleFields.overlap),
    catchupWindowMs: Type.Optional(scheduleFields.catchupWindowMs),
    jitterMs: Type.Optional(scheduleFields.jitterMs),
    startAt: Type.Optional(scheduleFields.startAt),
    endAt: Type.Optional(scheduleFields.endAt),
    paused: Type.Optional(scheduleFields.paused),
    note: Type.Optional(scheduleFields.note),
  },
  { title: 'ScheduleRequest', additionalProperties: false, description: 'exactly one of cron and everyMs' },
);
export type ScheduleCreate = Static<typeof ScheduleCreateSchema>;

/** `PATCH /schedules/{id}`: the fields to change; null clears startAt, endAt, jitterMs or note. */
export const SchedulePatchSchema = Type.Object(
  {
    name: Type.Optional(scheduleFields.name),
    cron: Type.Optional(scheduleFields.cron),
    everyMs: Type.Optional(scheduleFields.everyMs),
    timezone: Type.Optional(scheduleFields.timezone),
    job: Type.Optional(scheduleFields.job),
    overlap: Type.Optional(scheduleFields.overlap),
    catchupWindowMs: Type.Optional(scheduleFields.catchupWindowMs),
    jitterMs: Type.Optional(scheduleFields.jitterMs),
    startAt: Type.Optional(nullable(scheduleFields.startAt)),
    endAt: Type.Optional(nullable(scheduleFields.endAt)),
    note: Type.Optional(nullable(scheduleFields.note)),
  },
  {
    title: 'SchedulePatch',
    additionalProperties: false,
    description: 'cron replaces everyMs and the other way round; pause and resume have their own routes',
  },
);
export type SchedulePatch = Static<typeof SchedulePatchSchema>;

/** `POST /schedules/{id}/pause` and `/resume`. */
export const ScheduleNoteSchema = Type.Object(
  { note: Type.Optional(scheduleFields.note) },
  { title: 'ScheduleNote', additionalProperties: false },
);
export type ScheduleNote = Static<typeof ScheduleNoteSchema>;

/** A schedule as the API returns it. */
export const ScheduleViewSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    tenant: Type.String(),
    name: Type.String(),
    cron: nullable(Type.String()),
    everyMs: nullable(Type.Integer()),
    timezone: Type.String(),
    job: ScheduleJobSchema,
    overlap: literals(SCHEDULE_OVERLAPS),
    catchupWindowMs: Type.Integer({ minimum: 0 }),
    jitterMs: Type.Integer({ minimum: 0 }),
    startAt: nullable(isoTime()),
    endAt: nullable(isoTime()),
    paused: Type.Boolean(),
    note: nullable(Type.String()),
    nextRunAt: nullable(isoTime('the next tick (null once endAt is past)')),
    lastRunAt: nullable(isoTime('the tick of the last run created')),
    bufferedFor: nullable(isoTime('buffer_one: the tick waiting for the active run to finish')),
    lastError: nullable(Type.String({ description: 'why the last tick created no run, if it failed' })),
    createdAt: isoTime(),
    updatedAt: isoTime(),
  },
  { title: 'Schedule' },
);
export type ScheduleView = Static<typeof ScheduleViewSchema>;

export const SchedulePageSchema = Type.Object(
  { items: Type.Array(ScheduleViewSchema, { maxItems: LIMITS.listLimitMax }), nextCursor: nextCursor() },
  { title: 'ScheduleList' },
);
export type SchedulePage = Static<typeof SchedulePageSchema>;

/** `POST /schedules/{id}/trigger`: what the run now became (the overlap policy applies). */
export const ScheduleTriggerResultSchema = Type.Object(
  {
    outcome: literals(['created', 'skipped_overlap', 'buffered'] as const),
    scheduledFor: isoTime('the tick this trigger stands for (now)'),
    jobId: nullable(Type.String({ format: 'uuid', description: 'the run created' })),
  },
  { title: 'ScheduleTriggerResult' },
);
export type ScheduleTriggerResult = Static<typeof ScheduleTriggerResultSchema>;

/** `POST /schedules/{id}/backfill`. */
export const ScheduleBackfillSchema = Type.Object(
  {
    from: isoTime('first tick time included'),
    to: isoTime('last tick time included'),
  },
  {
    title: 'ScheduleBackfill',
    additionalProperties: false,
    description: `at most ${SCHEDULE_LIMITS.backfillTicksMax} ticks; each tick runs once, whatever the overlap policy`,
  },
);
export type ScheduleBackfill = Static<typeof ScheduleBackfillSchema>;

export const ScheduleBackfillResultSchema = Type.Object(
  {
    ticks: Type.Integer({ minimum: 0, description: 'ticks in the range' }),
    created: Type.Integer({ minimum: 0, description: 'runs created now' }),
    existing: Type.Integer({ minimum: 0, description: 'ticks that already had a run (created none)' }),
  },
  { title: 'ScheduleBackfillResult' },
);
export type ScheduleBackfillResult = Static<typeof ScheduleBackfillResultSchema>;
