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
export type ApiErrorBody = Schemas['Error'];

/** Query of `GET /jobs`, as the document declares it (without `cursor`: list() pages itself). */
export type ListQuery = Omit<NonNullable<paths['/api/v1/jobs']['get']['parameters']['query']>, 'cursor'>;

/** One event of `watch(id)`: the snapshot first, then the job's lifecycle events. */
export type WatchEvent =
  | { event: 'snapshot'; id: string | undefined; data: JobSnapshot }
  | { event: Exclude<JobEvent['type'], never>; id: string | undefined; data: JobEvent };
