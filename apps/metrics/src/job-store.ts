// The metrics service reads the jobs table only through this repository (no SQL in the app).
export {
  JobMetricsRepository as JobStore,
  type JobQueueStates,
  type QueueStateRow,
} from '@switchyard/persistence';
