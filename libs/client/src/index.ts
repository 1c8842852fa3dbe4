export { Switchyard, SDK_ROUTES } from './client';
export type { JobResult, Query, RequestOptions, SwitchyardOptions, WatchOptions } from './client';
export { SwitchyardConnectionError, SwitchyardError, WebhookVerificationError } from './errors';
export type { ErrorDetail } from './errors';
export { parseEventStream } from './sse';
export type { SseMessage } from './sse';
export { verifyWebhook } from './webhooks';
export type { VerifyOptions } from './webhooks';
export type * from './types';
