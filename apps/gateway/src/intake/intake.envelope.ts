import type { InboundMessage } from '@switchyard/messaging';
import type { IntakeRejection } from './intake.rejections';

/** The header that carries the API key on intake messages (SPEC §5); the same keys as REST. */
export const API_KEY_HEADER = 'x-api-key';
/**
 * A correlation id in a header, for clients that cannot set the `correlation_id` property (e.g.
 * `amqp-publish` from amqp-tools); the property wins when both are present.
 */
export const CORRELATION_ID_HEADER = 'x-correlation-id';

/**
 * Content encodings that leave the body as it is. `utf-8` is not an AMQP content encoding, but
 * common clients (kombu/Celery, some pika examples) send it for plain JSON, so it is accepted.
 */
const IDENTITY_ENCODINGS = new Set(['identity', 'utf-8', 'utf8']);
const UTF8_CHARSETS = new Set(['utf-8', 'utf8']);

/** What an intake message says about itself once it passed the checks that need no service. */
export interface IntakeEnvelope {
  body: unknown;
  apiKey: string | undefined;
  /** `message_id`: the idempotency key when the body has none. */
  messageId: string | undefined;
  /** `correlation_id`, else the `x-correlation-id` header, as sent (not yet sanitised). */
  correlationId: string | undefined;
  replyTo: string | undefined;
}

export type EnvelopeResult =
  { ok: true; envelope: IntakeEnvelope } | { ok: false; rejection: IntakeRejection };

/**
 * The checks that need neither the database nor Redis, in the order REST applies them before the
 * API key (Fastify refuses an oversized or unparsable body before any guard runs): size, content
 * type, JSON. They decide alone, so a malformed message is rejected even while a dependency is down.
 */
export function readEnvelope(message: InboundMessage, bodyLimitBytes: number): EnvelopeResult {
  const reject = (rejection: IntakeRejection): EnvelopeResult => ({ ok: false, rejection });
  if (message.body.length > bodyLimitBytes) {
    return reject({
      code: 'payload_too_large',
      reason: `the body is ${message.body.length} bytes; at most ${bodyLimitBytes} (BODY_LIMIT_BYTES) are accepted`,
    });
  }
  const unsupported = unsupportedContent(
    stringProperty(message.properties.contentType),
    stringProperty(message.properties.contentEncoding),
  );
  if (unsupported !== undefined) return reject({ code: 'unsupported_content_type', reason: unsupported });
  // InboundMessage.content is the body parsed once by the messaging library; undefined = not JSON.
  if (message.content === undefined) {
    return reject({
      code: 'invalid_json',
      reason: message.body.length === 0 ? 'the body is empty' : 'the body is not valid JSON (UTF-8)',
    });
  }
  return {
    ok: true,
    envelope: {
      body: message.content,
      apiKey: headerText(message.headers, API_KEY_HEADER),
      messageId: nonEmpty(stringProperty(message.properties.messageId)),
      correlationId: sentCorrelationId(message),
      replyTo: nonEmpty(stringProperty(message.properties.replyTo)),
    },
  };
}

/**
 * Why a content type / encoding is refused, or undefined when the body may be read as JSON:
 * `application/json` (any parameters; a charset must be UTF-8) or no content type at all (many
 * clients send none; the body must then parse as JSON).
 */
export function unsupportedContent(
  contentType: string | undefined,
  contentEncoding: string | undefined,
): string | undefined {
  if (contentEncoding !== undefined && !IDENTITY_ENCODINGS.has(contentEncoding.trim().toLowerCase())) {
    return `content_encoding "${contentEncoding}" is not supported; send the JSON uncompressed`;
  }
  if (contentType === undefined || contentType.trim() === '') return undefined;
  const [mediaType = '', ...parameters] = contentType.split(';').map((part) => part.trim().toLowerCase());
  if (mediaType !== 'application/json') {
    return `content_type "${contentType}" is not supported; send application/json`;
  }
  for (const parameter of parameters) {
    const [name, value = ''] = parameter.split('=').map((part) => part.trim());
    if (name === 'charset' && !UTF8_CHARSETS.has(value.replace(/^"|"$/g, ''))) {
      return `charset "${value}" is not supported; JSON must be UTF-8`;
    }
  }
  return undefined;
}

/** `correlation_id`, else the `x-correlation-id` header, as the publisher sent it. */
export function sentCorrelationId(message: InboundMessage): string | undefined {
  return (
    nonEmpty(stringProperty(message.properties.correlationId)) ??
    nonEmpty(headerText(message.headers, CORRELATION_ID_HEADER))
  );
}

/** A header's value as text: AMQP long strings decode as strings, byte arrays as Buffers. */
export function headerText(headers: Record<string, unknown>, name: string): string | undefined {
  // AMQP header names are case-sensitive, but HTTP habits (X-API-Key) are common: match any case.
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue;
    const text =
      typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('utf8') : undefined;
    const trimmed = text?.trim();
    if (trimmed) return trimmed;
  }
  return undefined;
}

function stringProperty(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
