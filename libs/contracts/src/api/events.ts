import { Type, type Static } from '@sinclair/typebox';
import { JOB_STATUSES } from '../job-status';
import { JobErrorSchema } from './job';
import { isoTime, literals, nullable } from './schema';

/** The `data:` of SSE job events: a lifecycle CloudEvent (SPEC §5) as the gateway relays it. */
export const JobEventSchema = Type.Object(
  {
    specversion: Type.Literal('1.0'),
    id: Type.String(),
    source: Type.String(),
    type: Type.String({ description: 'switchyard.job.<event>' }),
    subject: Type.String({ description: 'the job id' }),
    time: isoTime(),
    correlationid: Type.String(),
    datacontenttype: Type.Literal('application/json'),
    data: Type.Object({
      jobId: Type.String(),
      tenant: Type.String(),
      type: Type.String(),
      queue: Type.String(),
      status: literals(JOB_STATUSES),
      step: nullable(Type.String()),
      progress: Type.Number(),
      message: nullable(Type.String()),
      attempt: Type.Integer(),
      seq: Type.Integer(),
      error: Type.Optional(JobErrorSchema),
      resultUrl: Type.Optional(Type.String()),
    }),
  },
  { title: 'JobEvent', description: 'A lifecycle CloudEvent (SPEC §5), the `data:` of SSE job events' },
);
export type JobEventBody = Static<typeof JobEventSchema>;
