export * from './ack-policy';
export * from './amqp-client';
export * from './inbound-message';
export * from './job-event-subscription';
export * from './publish-options';
export {
  DEFAULT_RECONNECT_MAX_MS,
  DEFAULT_RECONNECT_MIN_MS,
  reconnectDelay,
  redactUrl,
} from './reconnect-backoff';
export * from './topology';
export { TurnBatches, type BatchShape, type PublishBatch } from './turn-batches';
