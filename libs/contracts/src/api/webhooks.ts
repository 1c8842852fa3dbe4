import { Type, type Static } from '@sinclair/typebox';
import { isoTime, literals, nextCursor, nullable } from './schema';

/**
 * Lifecycle events a webhook endpoint may subscribe to (the CloudEvent `type`); the delivered body
 * is that CloudEvent. Never rename them: they are stored on endpoints.
 */
export const WEBHOOK_EVENT_TYPES = [
  'switchyard.job.completed',
  'switchyard.job.failed',
  'switchyard.job.cancelled',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Endpoints one tenant may register. */
export const WEBHOOK_MAX_ENDPOINTS = 20;
export const WEBHOOK_DELIVERY_PAGE_MAX = 200;

const url = Type.String({
  minLength: 1,
  maxLength: 2000,
  description:
    'http(s) URL; private, loopback and link-local targets are refused unless WEBHOOK_ALLOW_PRIVATE',
});
const description = Type.String({ maxLength: 500 });
const eventTypes = Type.Array(literals(WEBHOOK_EVENT_TYPES), { minItems: 1, maxItems: 3, uniqueItems: true });
const jobTypes = Type.Array(Type.String({ minLength: 1, maxLength: 100 }), {
  maxItems: 50,
  uniqueItems: true,
  description: 'only jobs of these types; empty = every type',
});

/** `POST /webhooks`. */
export const WebhookEndpointRequestSchema = Type.Object(
  {
    url,
    description: Type.Optional(description),
    eventTypes: Type.Optional({ ...eventTypes, description: 'default: every terminal event' }),
    jobTypes: Type.Optional(jobTypes),
  },
  { title: 'WebhookEndpointRequest', additionalProperties: false },
);
export type WebhookEndpointRequest = Static<typeof WebhookEndpointRequestSchema>;

/** `PATCH /webhooks/{id}`: absent fields keep their value; `enabled: true` re-enables a disabled endpoint. */
export const WebhookEndpointPatchSchema = Type.Object(
  {
    url: Type.Optional(url),
    description: Type.Optional(nullable(description)),
    eventTypes: Type.Optional(eventTypes),
    jobTypes: Type.Optional(jobTypes),
    enabled: Type.Optional(Type.Boolean()),
  },
  { title: 'WebhookEndpointPatch', additionalProperties: false },
);
export type WebhookEndpointPatch = Static<typeof WebhookEndpointPatchSchema>;

const endpointFields = {
  id: Type.String({ format: 'uuid' }),
  tenant: Type.String(),
  url: Type.String(),
  description: nullable(Type.String()),
  eventTypes: Type.Array(literals(WEBHOOK_EVENT_TYPES)),
  jobTypes: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  disabledReason: nullable(Type.String({ description: 'why Switchyard disabled it (failing for 24 h)' })),
  failingSince: nullable(isoTime('every delivery since this time failed')),
  createdAt: isoTime(),
  updatedAt: isoTime(),
};

export const WebhookEndpointSchema = Type.Object(endpointFields, { title: 'WebhookEndpoint' });
export type WebhookEndpointView = Static<typeof WebhookEndpointSchema>;

/** `POST /webhooks` and `POST /webhooks/{id}/rotate-secret`: the one answer that carries the secret. */
export const WebhookEndpointCreatedSchema = Type.Object(
  {
    ...endpointFields,
    secret: Type.String({ description: '`whsec_…`, shown once: verify the `webhook-signature` with it' }),
  },
  { title: 'WebhookEndpointCreated' },
);
export type WebhookEndpointCreated = Static<typeof WebhookEndpointCreatedSchema>;

export const WebhookEndpointListSchema = Type.Object(
  { items: Type.Array(WebhookEndpointSchema, { maxItems: WEBHOOK_MAX_ENDPOINTS }) },
  { title: 'WebhookEndpointList' },
);
export type WebhookEndpointList = Static<typeof WebhookEndpointListSchema>;

/** `POST /webhooks/{id}/rotate-secret`. */
export const WebhookSecretRotationSchema = Type.Object(
  {
    overlapSeconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 604800,
        description: 'the old secret keeps signing (a second signature) this long; default 86400',
      }),
    ),
  },
  { title: 'WebhookSecretRotation', additionalProperties: false },
);
export type WebhookSecretRotation = Static<typeof WebhookSecretRotationSchema>;

export const WEBHOOK_DELIVERY_STATUSES = ['pending', 'succeeded', 'failed'] as const;

export const WebhookDeliverySchema = Type.Object(
  {
    id: Type.String({ format: 'uuid', description: 'also the `webhook-id` header of every attempt' }),
    eventId: Type.String({ description: 'the CloudEvent id' }),
    eventType: literals(WEBHOOK_EVENT_TYPES),
    jobId: Type.String({ format: 'uuid' }),
    url: Type.Optional(
      Type.String({
        description: 'where this delivery goes when not to the endpoint’s URL: the job’s `webhookUrl`',
      }),
    ),
    status: literals(WEBHOOK_DELIVERY_STATUSES),
    attempts: Type.Integer({ minimum: 0 }),
    nextAttemptAt: nullable(isoTime('while pending')),
    lastAttemptAt: nullable(isoTime()),
    lastResponseStatus: nullable(
      Type.Integer({ description: 'HTTP status of the last attempt; null on a network error' }),
    ),
    lastError: nullable(Type.String()),
    createdAt: isoTime(),
  },
  { title: 'WebhookDelivery' },
);
export type WebhookDeliveryView = Static<typeof WebhookDeliverySchema>;

export const WebhookDeliveryPageSchema = Type.Object(
  {
    items: Type.Array(WebhookDeliverySchema, { maxItems: WEBHOOK_DELIVERY_PAGE_MAX }),
    nextCursor: nextCursor(),
  },
  { title: 'WebhookDeliveryList' },
);
export type WebhookDeliveryPage = Static<typeof WebhookDeliveryPageSchema>;

/** `POST /jobs/{id}/tokens` and `POST /flows/{id}/tokens`. */
export const JobTokenRequestSchema = Type.Object(
  {
    ttlSeconds: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 86400, description: 'lifetime; default 900 (15 min)' }),
    ),
  },
  { title: 'JobTokenRequest', additionalProperties: false },
);
export type JobTokenRequest = Static<typeof JobTokenRequestSchema>;

export const JobTokenSchema = Type.Object(
  {
    token: Type.String({
      description:
        'pass as `?token=` on GET /jobs/{id}, /jobs/{id}/events and /jobs/{id}/result of this job only',
    }),
    jobId: Type.String({ format: 'uuid' }),
    expiresAt: isoTime(),
  },
  { title: 'JobToken' },
);
export type JobToken = Static<typeof JobTokenSchema>;

export const FlowTokenSchema = Type.Object(
  {
    token: Type.String({
      description: 'pass as `?token=` on GET /flows/{id} and /flows/{id}/events of this flow only',
    }),
    flowId: Type.String({ format: 'uuid' }),
    expiresAt: isoTime(),
  },
  { title: 'FlowToken' },
);
export type FlowToken = Static<typeof FlowTokenSchema>;
