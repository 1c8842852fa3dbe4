import type { components, paths } from './openapi';

// The SDK's types are the OpenAPI document's, generated into openapi.d.ts by openapi-typescript
// (e2e/client-sdk.e2e.ts fails when the document changes and this file was not regenerated).
type Schemas = components['schemas'];

export type Job = Schemas['Job'];
export type JobDetail = Schemas['JobDetail'];
export type JobSummary = Schemas['JobSummary'];
export type JobSummaryList = Schemas['JobSummaryList'];
export type JobSubmission = Schemas['JobSubmission'];
export type SubmittedJob = Schemas['SubmittedJob'];
export type BatchResponse = Schemas['BatchResponse'];
export type JobEvent = Schemas['JobEvent'];
export type JobSnapshot = Schemas['JobSnapshot'];
export type UploadedFile = Schemas['File'];
export type JobToken = Schemas['JobToken'];
export type WebhookEndpoint = Schemas['WebhookEndpoint'];
export type WebhookEndpointCreated = Schemas['WebhookEndpointCreated'];
export type WebhookEndpointRequest = Schemas['WebhookEndpointRequest'];
export type WebhookEndpointPatch = Schemas['WebhookEndpointPatch'];
export type WebhookDelivery = Schemas['WebhookDelivery'];
export type WebhookDeliveryList = Schemas['WebhookDeliveryList'];
export type FlowToken = Schemas['FlowToken'];
export type FlowRequest = Schemas['FlowRequest'];
export type FlowJobSubmission = Schemas['FlowJobSubmission'];
export type Flow = Schemas['Flow'];
export type FlowJob = Schemas['FlowJob'];
export type SubmittedFlow = Schemas['SubmittedFlow'];
export type FlowSummary = Schemas['FlowSummary'];
export type FlowList = Schemas['FlowList'];
export type FlowActionResult = Schemas['FlowActionResult'];
export type Schedule = Schemas['Schedule'];
export type ScheduleJob = Schemas['ScheduleJob'];
export type ScheduleRequest = Schemas['ScheduleRequest'];
export type SchedulePatch = Schemas['SchedulePatch'];
export type ScheduleList = Schemas['ScheduleList'];
export type ScheduleTriggerResult = Schemas['ScheduleTriggerResult'];
export type ScheduleBackfill = Schemas['ScheduleBackfill'];
export type ScheduleBackfillResult = Schemas['ScheduleBackfillResult'];
export type ApiErrorBody = Schemas['Error'];

/** Query of `GET /jobs`, as the document declares it (without `cursor`: list() pages itself). */
export type ListQuery = Omit<NonNullable<paths['/api/v1/jobs']['get']['parameters']['query']>, 'cursor'>;

/** Query of `GET /flows` (without `cursor`: flows.list() pages itself). */
export type FlowListQuery = Omit<NonNullable<paths['/api/v1/flows']['get']['parameters']['query']>, 'cursor'>;

/** Query of `GET /schedules` and `GET /schedules/{id}/runs` (without `cursor`). */
export type PageQuery = Omit<NonNullable<paths['/api/v1/schedules']['get']['parameters']['query']>, 'cursor'>;

/** `job.completed` for `switchyard.job.completed`: the SSE event name of a job event type. */
type SseName<T> = T extends `switchyard.${infer Name}` ? Name : never;
/** The SSE event names of a job's lifecycle events (`job.queued`, `job.progress`, …). */
export type JobEventName = SseName<JobEvent['type']>;

/** One event of `watch(id)`: the snapshot first, then the job's lifecycle events. */
export type WatchEvent =
  | { event: 'snapshot'; id: string | undefined; data: JobSnapshot }
  | { event: JobEventName; id: string | undefined; data: JobEvent };

/** One event of `flows.watch(id)`: a snapshot of the flow on each connection, then its jobs' events. */
export type FlowWatchEvent =
  | { event: 'snapshot'; id: string | undefined; data: Flow }
  | { event: JobEventName; id: string | undefined; data: JobEvent };
