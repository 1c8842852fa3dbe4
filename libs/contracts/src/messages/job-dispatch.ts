import { Type, type Static } from '@sinclair/typebox';
import { jobRefFields } from './job-ref';
import { defineMessage } from './message';

/** Wire name (the AMQP `type` property): other systems match on it, never rename it. */
export const JOB_DISPATCH = 'switchyard.job.dispatch';

/** Work message on `<prefix>.jobs` → `<prefix>.jobs.<queue>`: run this job. */
export const JobDispatchSchema = Type.Object({
  ...jobRefFields,
  /** Epoch ms before which a delayed retry must not start (set on retry messages only). */
  notBefore: Type.Optional(Type.Number()),
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
