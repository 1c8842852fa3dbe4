import type { TSchema } from '@sinclair/typebox';
import { JobSubmissionSchema } from '../job';
import {
  ApiKeyCreatedSchema,
  ApiKeyListSchema,
  ApiKeyRequestSchema,
  CleanupRequestSchema,
  CleanupResultSchema,
} from './admin';
import { DeadLetterGroupsSchema, DiscardResultSchema, ReplayFilterSchema, ReplayResultSchema } from './dlq';
import { SessionRequestSchema, SessionSchema } from './session';
import { ApiErrorBodySchema } from './error';
import { JobEventSchema, JobSnapshotSchema } from './events';
import { FileViewSchema } from './files';
import {
  FlowActionResultSchema,
  FlowJobSubmissionSchema,
  FlowJobViewSchema,
  FlowPageSchema,
  flowRequestSchema,
  FlowSummarySchema,
  FlowViewSchema,
  SubmittedFlowSchema,
} from './flows';
import { HealthSchema, LivenessSchema, ReadinessSchema } from './health';
import {
  batchRequestSchema,
  BatchResponseSchema,
  JobDetailSchema,
  JobErrorSchema,
  JobHistoryEntrySchema,
  JobHistoryPageSchema,
  JobPageSchema,
  JobSummaryPageSchema,
  JobSummarySchema,
  JobViewSchema,
  SubmittedJobSchema,
} from './job';
import { JobTypeListSchema } from './job-types';
import {
  ConcurrencyLimitRequestSchema,
  ConcurrencyLimitSchema,
  LimitListSchema,
  RateLimitRequestSchema,
  RateLimitSchema,
} from './limits';
import { QueueListSchema, QueueViewSchema } from './queues';
import {
  ScheduleBackfillResultSchema,
  ScheduleBackfillSchema,
  ScheduleCreateSchema,
  ScheduleJobSchema,
  ScheduleNoteSchema,
  SchedulePageSchema,
  SchedulePatchSchema,
  ScheduleTriggerResultSchema,
  ScheduleViewSchema,
} from './schedules';
import { StatsViewSchema } from './stats';
import {
  JobTokenRequestSchema,
  JobTokenSchema,
  FlowTokenSchema,
  WebhookDeliveryPageSchema,
  WebhookDeliverySchema,
  WebhookEndpointCreatedSchema,
  WebhookEndpointListSchema,
  WebhookEndpointPatchSchema,
  WebhookEndpointRequestSchema,
  WebhookEndpointSchema,
  WebhookSecretRotationSchema,
} from './webhooks';
import {
  JobLogLineSchema,
  JobLogPageSchema,
  TenantSettingsRequestSchema,
  TenantSettingsSchema,
  UsageReportSchema,
} from './usage';

export * from './admin';
export * from './dlq';
export * from './error';
export * from './events';
export * from './files';
export * from './flows';
export * from './health';
export * from './job';
export * from './job-types';
export * from './limits';
export * from './queues';
export * from './schedules';
export * from './session';
export * from './stats';
export * from './webhooks';
export * from './usage';

/**
 * Every named body of the REST API, by the name the OpenAPI document gives it (component names
 * are public: clients generate types named after them). BATCH_MAX_ITEMS bounds the batch body.
 */
export function apiBodySchemas(batchMaxItems: number, flowMaxJobs = 500) {
  return {
    Job: JobViewSchema,
    JobError: JobErrorSchema,
    HistoryEntry: JobHistoryEntrySchema,
    JobDetail: JobDetailSchema,
    SubmittedJob: SubmittedJobSchema,
    JobList: JobPageSchema,
    JobSummary: JobSummarySchema,
    JobSummaryList: JobSummaryPageSchema,
    HistoryPage: JobHistoryPageSchema,
    JobSubmission: JobSubmissionSchema,
    BatchRequest: batchRequestSchema(batchMaxItems),
    BatchResponse: BatchResponseSchema,
    Error: ApiErrorBodySchema,
    ApiKeyRequest: ApiKeyRequestSchema,
    ApiKeyCreated: ApiKeyCreatedSchema,
    ApiKeyList: ApiKeyListSchema,
    CleanupRequest: CleanupRequestSchema,
    CleanupResult: CleanupResultSchema,
    ReplayFilter: ReplayFilterSchema,
    ReplayResult: ReplayResultSchema,
    DeadLetterGroups: DeadLetterGroupsSchema,
    DiscardResult: DiscardResultSchema,
    File: FileViewSchema,
    JobTypeList: JobTypeListSchema,
    Queue: QueueViewSchema,
    QueueList: QueueListSchema,
    Stats: StatsViewSchema,
    Health: HealthSchema,
    Liveness: LivenessSchema,
    Readiness: ReadinessSchema,
    JobEvent: JobEventSchema,
    JobSnapshot: JobSnapshotSchema,
    Schedule: ScheduleViewSchema,
    ScheduleJob: ScheduleJobSchema,
    ScheduleRequest: ScheduleCreateSchema,
    SchedulePatch: SchedulePatchSchema,
    ScheduleNote: ScheduleNoteSchema,
    ScheduleList: SchedulePageSchema,
    ScheduleTriggerResult: ScheduleTriggerResultSchema,
    ScheduleBackfill: ScheduleBackfillSchema,
    ScheduleBackfillResult: ScheduleBackfillResultSchema,
    FlowJobSubmission: FlowJobSubmissionSchema,
    FlowRequest: flowRequestSchema(flowMaxJobs),
    FlowJob: FlowJobViewSchema,
    Flow: FlowViewSchema,
    SubmittedFlow: SubmittedFlowSchema,
    FlowSummary: FlowSummarySchema,
    FlowList: FlowPageSchema,
    FlowActionResult: FlowActionResultSchema,
    // Webhooks and job tokens (browser access).
    WebhookEndpointRequest: WebhookEndpointRequestSchema,
    WebhookEndpointPatch: WebhookEndpointPatchSchema,
    WebhookEndpoint: WebhookEndpointSchema,
    WebhookEndpointCreated: WebhookEndpointCreatedSchema,
    WebhookEndpointList: WebhookEndpointListSchema,
    WebhookSecretRotation: WebhookSecretRotationSchema,
    WebhookDelivery: WebhookDeliverySchema,
    WebhookDeliveryList: WebhookDeliveryPageSchema,
    JobTokenRequest: JobTokenRequestSchema,
    JobToken: JobTokenSchema,
    FlowToken: FlowTokenSchema,
    // The console's session (issue 20).
    SessionRequest: SessionRequestSchema,
    Session: SessionSchema,
    JobLogLine: JobLogLineSchema,
    JobLogPage: JobLogPageSchema,
    UsageReport: UsageReportSchema,
    TenantSettingsRequest: TenantSettingsRequestSchema,
    TenantSettings: TenantSettingsSchema,
    // Flow control.
    ConcurrencyLimitRequest: ConcurrencyLimitRequestSchema,
    ConcurrencyLimit: ConcurrencyLimitSchema,
    LimitList: LimitListSchema,
    RateLimitRequest: RateLimitRequestSchema,
    RateLimit: RateLimitSchema,
  } satisfies Record<string, TSchema>;
}
export type ApiBodyName = keyof ReturnType<typeof apiBodySchemas>;
