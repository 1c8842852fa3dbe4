import { Type, type Static } from '@sinclair/typebox';
import { jobRefFields } from './job-ref';
import { defineMessage } from './message';

/** Wire name (the AMQP `type` property): other systems match on it, never rename it. */
export const JOB_DISPATCH = 'switchyard.job.dispatch';

/** Most jobs one work message carries (DISPATCH_BATCH_MAX is at most this). */
export const DISPATCH_BATCH_LIMIT = 16;

/** One job of a batched work message: the message's `queue` is every job's queue. */
export const DispatchedJobSchema = Type.Object({
  jobId: Type.String(),
  tenant: Type.String(),
  type: Type.String(),
});
export type DispatchedJob = Static<typeof DispatchedJobSchema>;

/**
 * Work message on `<prefix>.jobs` → `<prefix>.jobs.<queue>`: run this job, or these jobs. The top
 * level names the first (or only) job, as the single-job message always did; a batched message
 * (issue #19 step 3) also lists every job it carries, the first included, in `jobs` — all of one
 * queue, one priority (the message's) and one type. A worker that predates `jobs` runs the first
 * and the others are released again after REDISPATCH_AFTER_MS; a message without `jobs` is one job.
 */
export const JobDispatchSchema = Type.Object({
  ...jobRefFields,
  /** Epoch ms before which a delayed retry must not start (set on retry messages only). */
  notBefore: Type.Optional(Type.Number()),
  /** Every job of a batched message (2 to DISPATCH_BATCH_LIMIT), the top-level one first. */
  jobs: Type.Optional(Type.Array(DispatchedJobSchema, { minItems: 1, maxItems: DISPATCH_BATCH_LIMIT })),
});
export type JobDispatch = Static<typeof JobDispatchSchema>;

export const jobDispatchMessage = defineMessage({
  schema: JobDispatchSchema,
  exchange: (names) => names.jobsExchange,
  // The work queue's name on the direct jobs exchange; on the retry exchange it routes nowhere and
  // the CC key picks the delay tier (see the publisher's delayMs).
  routingKey: (dispatch) => dispatch.queue,
  properties: () => ({ type: JOB_DISPATCH }),
  mandatory: true,
  traced: true,
});

/** The dispatch message of a job: the one place it is built. */
export function jobDispatch(
  job: { id: string; tenant: string; type: string; queue: string },
  notBefore?: number,
): JobDispatch {
  const dispatch: JobDispatch = { jobId: job.id, tenant: job.tenant, type: job.type, queue: job.queue };
  if (notBefore !== undefined) dispatch.notBefore = notBefore;
  return dispatch;
}

/**
 * The work message of several jobs of one queue (and, as the caller groups them, one priority and
 * type): the single-job shape for one job, else the first job at the top level and all in `jobs`.
 */
export function jobDispatchBatch(
  jobs: readonly { id: string; tenant: string; type: string; queue: string }[],
): JobDispatch {
  const first = jobs[0];
  if (!first) throw new RangeError('a work message carries at least one job');
  if (jobs.length > DISPATCH_BATCH_LIMIT)
    throw new RangeError(`a work message carries at most ${DISPATCH_BATCH_LIMIT} jobs, got ${jobs.length}`);
  const dispatch = jobDispatch(first);
  if (jobs.length > 1) {
    if (jobs.some((job) => job.queue !== first.queue))
      throw new RangeError('the jobs of a work message share its queue');
    dispatch.jobs = jobs.map((job) => ({ jobId: job.id, tenant: job.tenant, type: job.type }));
  }
  return dispatch;
}

/** The jobs a work message carries, in order: `jobs`, or the top-level job alone (old shape). */
export function dispatchedJobs(dispatch: JobDispatch): DispatchedJob[] {
  if (dispatch.jobs?.length) return dispatch.jobs;
  return [{ jobId: dispatch.jobId, tenant: dispatch.tenant, type: dispatch.type }];
}
