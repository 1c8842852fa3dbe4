// The metrics service reads the jobs table and the queue settings only through these repositories
// (no SQL in the app).
export {
  JobMetricsRepository as JobStore,
  QueueSettingsRepository as QueueSettingsStore,
  type JobQueueStates,
  type QueueStateRow,
} from '@switchyard/persistence';
