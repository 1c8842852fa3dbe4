export { liveKeys, type LiveKeys } from './live-keys';
export {
  decodeStoredEvent,
  type JobEventInput,
  type LiveProgress,
  type StoredJobEvent,
} from './live-progress';
export {
  DEFAULT_MAX_EVENTS_PER_JOB,
  LiveProgressStore,
  type LiveProgressStoreOptions,
} from './live-progress.store';
export {
  createRedis,
  reconnectDelayMs,
  REDIS_MAX_RETRIES_PER_REQUEST,
  type CreateRedisOptions,
} from './redis';
export {
  AdmissionStore,
  type AdmissionOutcome,
  type AdmissionRequest,
  type AdmissionStoreOptions,
  type Reservation,
} from './admission.store';
export { ChannelSubscriber, type ChannelHandler } from './channel-subscriber';
export { gatewayKeys, type GatewayKeys } from './gateway-keys';
export { TokenBucketLimiter, type BucketPolicy, type RateDecision } from './rate-limiter';
export { CircuitStates, type CircuitStatesOptions, type ReportedCircuitState } from './circuit-states';
export { StreamSlots, type StreamSlotsOptions } from './stream-slots';
export { decodeJobLogEvent, jobLogChannel, publishJobLogs } from './job-log-channel';
export {
  QueueRates,
  RATE_BUCKET_MS,
  RATE_WINDOW_MAX_S,
  rateKindOf,
  type QueueRateCounts,
  type RateKind,
} from './queue-rates';
