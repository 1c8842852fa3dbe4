import {
  INTAKE_REJECTED,
  type ApiError,
  type ApiErrorDetail,
  type IntakeRejectionCode,
} from '@switchyard/contracts';
import { parseJsonBody, type InboundMessage, type PublishOptions } from '@switchyard/messaging';

/** Why an intake message was moved to `<prefix>.intake.rejected` (SPEC §5). */
export interface IntakeRejection {
  code: IntakeRejectionCode;
  /** One line for people: the `x-rejection-reason` header and the reply's `error.message`. */
  reason: string;
  details?: ApiErrorDetail[];
}

/** Headers a rejected copy carries (AMQP header names are case-sensitive: lower case, as SPEC §5). */
export const REJECTION_HEADERS = {
  code: 'x-rejection-code',
  reason: 'x-rejection-reason',
  /** JSON array of `{field, message}` (validation problems), when there are any. */
  details: 'x-rejection-details',
  /** Where the message was published: exchange (`''` for straight to the queue) and routing key. */
  exchange: 'x-original-exchange',
  routingKey: 'x-original-routing-key',
  /** The original `content_encoding`, which the copy cannot carry as a property. */
  contentEncoding: 'x-original-content-encoding',
  rejectedAt: 'x-rejected-at',
} as const;

/**
 * Headers never copied to a rejected message, compared in lower case: the API key (a secret that
 * anyone reading the rejected queue would otherwise learn), and stale rejection headers of a
 * message that was rejected before and published again.
 */
const NEVER_COPIED = new Set(['x-api-key', 'authorization', ...Object.values(REJECTION_HEADERS)]);

/** Header values are bounded: a reason or details list can quote user input. */
const MAX_REASON_CHARS = 1000;
const MAX_DETAILS = 20;

export function rejectionFromApiError(error: ApiError): IntakeRejection {
  // REST answers a body it cannot take with 415 unsupported_media_type; SPEC §5 names the AMQP code.
  const code: IntakeRejectionCode =
    error.code === 'unsupported_media_type' ? 'unsupported_content_type' : error.code;
  return { code, reason: error.message, ...(error.details.length ? { details: error.details } : {}) };
}

/**
 * The publish options of the rejected copy: the original body is published as it is, with the
 * original message_id, correlation_id, content type, type, reply_to and headers (without the API
 * key), plus the rejection headers. The original expiration and priority are not copied: a
 * rejected message must wait in its queue until someone looks at it. `originalHeaders: false`
 * leaves the original headers out (for a header that cannot be encoded again).
 */
export function rejectedCopyOptions(
  message: InboundMessage,
  rejection: IntakeRejection,
  correlationId: string,
  now: Date,
  { originalHeaders = true }: { originalHeaders?: boolean } = {},
): PublishOptions {
  const { properties } = message;
  const headers: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(originalHeaders ? message.headers : {})) {
    if (!NEVER_COPIED.has(name.toLowerCase())) headers[name] = value;
  }
  headers[REJECTION_HEADERS.code] = rejection.code;
  headers[REJECTION_HEADERS.reason] = truncate(rejection.reason, MAX_REASON_CHARS);
  if (rejection.details?.length) {
    headers[REJECTION_HEADERS.details] = JSON.stringify(
      rejection.details.slice(0, MAX_DETAILS).map((d) => ({
        ...(d.field === undefined ? {} : { field: d.field }),
        message: truncate(d.message, 200),
      })),
    );
  }
  headers[REJECTION_HEADERS.exchange] = message.fields.exchange;
  headers[REJECTION_HEADERS.routingKey] = message.fields.routingKey;
  const encoding = textProperty(properties.contentEncoding);
  if (encoding !== undefined) headers[REJECTION_HEADERS.contentEncoding] = encoding;
  headers[REJECTION_HEADERS.rejectedAt] = now.toISOString();

  return {
    messageId: textProperty(properties.messageId),
    correlationId: textProperty(properties.correlationId) ?? correlationId,
    contentType: textProperty(properties.contentType) ?? guessContentType(message.body),
    type: textProperty(properties.type) ?? INTAKE_REJECTED,
    replyTo: textProperty(properties.replyTo),
    headers,
  };
}

/** The reply to `reply_to` (SPEC §5): `{jobId, status}` on success, `{error: {code, message}}` otherwise. */
export type IntakeReply =
  { jobId: string; status: string } | { error: { code: IntakeRejectionCode; message: string } };

export function errorReply(rejection: IntakeRejection): IntakeReply {
  return { error: { code: rejection.code, message: rejection.reason } };
}

/**
 * The content type of a copy whose original had none: the publisher always sets one, so say
 * truthfully what the body is rather than calling bytes JSON.
 */
function guessContentType(body: Buffer): string {
  return parseJsonBody(body) === undefined ? 'application/octet-stream' : 'application/json';
}

function textProperty(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
