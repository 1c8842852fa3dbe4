export * from './data-source';
export {
  DataRejected,
  FlowIdempotencyKeyTaken,
  IdempotencyKeyTaken,
  ScheduleNameTaken,
  ScheduleQuotaExceeded,
  ScheduleTickTaken,
} from './errors';
export * from './job-row';
export * from './jobs.repository';
export * from './job-messages';
export * from './lifecycle.repository';
export * from './api-keys.repository';
export * from './files.repository';
export * from './job-queries.repository';
export * from './result-cache.repository';
export * from './job-types.repository';
export * from './projection.repository';
export * from './retention.repository';
export * from './job-metrics.repository';
export * from './dispatch.repository';
export * from './queue-settings.repository';
export * from './schedules.repository';
export * from './flows.repository';
export { settleDependants, type FinishedUpstream, type SettledDependants } from './flow-dependants';
export * from './webhooks.repository';
export * from './job-logs.repository';
export * from './usage.repository';
export * from './tenant-budgets.repository';
export * from './limits.repository';
export * from './maintenance.repository';
