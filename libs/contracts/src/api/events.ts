import { Type, type Static } from '@sinclair/typebox';
import { JobCloudEventSchema } from '../messages/job-event';
import { JobViewSchema } from './job';

/**
 * The `data:` of SSE job events: the lifecycle CloudEvent of the message catalogue (SPEC §5), as
 * the gateway relays it from the broker; one schema for both, so the two cannot drift apart.
 */
export const JobEventSchema = Type.Object(JobCloudEventSchema.properties, {
  title: 'JobEvent',
  description: 'A lifecycle CloudEvent (SPEC §5), the `data:` of SSE job events',
});
export type JobEventBody = Static<typeof JobEventSchema>;

/** The `snapshot` event of `GET /jobs/{id}/events` (and each job of `GET /events`' snapshot). */
export const JobSnapshotSchema = Type.Intersect(
  [
    JobViewSchema,
    Type.Object({ seq: Type.Integer({ minimum: 0, description: 'the last event it reflects' }) }),
  ],
  { title: 'JobSnapshot', description: 'A job now, with the sequence number of the last event it reflects' },
);
export type JobSnapshot = Static<typeof JobSnapshotSchema>;
