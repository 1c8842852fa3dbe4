import { randomUUID } from 'node:crypto';
import { MAX_PRIORITY, MIN_PRIORITY } from '@switchyard/contracts';
import type { Options } from 'amqplib';

export interface PublishOptions {
  messageId?: string;
  correlationId?: string;
  type?: string;
  priority?: number;
  headers?: Record<string, unknown>;
  contentType?: string;
  expiration?: string;
  replyTo?: string;
  /** Extra routing keys (the CC header); dead-lettering keeps them, see the delayMs of AmqpClient.publish. */
  cc?: string[];
  /**
   * Reject the publish when no queue is bound for the routing key, instead of the broker
   * silently dropping the message.
   */
  mandatory?: boolean;
}

export const JSON_CONTENT_TYPE = 'application/json';

export function encodeBody(body: unknown): Buffer {
  if (Buffer.isBuffer(body)) return body;
  const json = JSON.stringify(body);
  if (json === undefined) throw new TypeError('message body is not JSON-serialisable');
  return Buffer.from(json, 'utf8');
}

/** amqplib publish options for SPEC §5: persistent, with id, timestamp, content type and type. */
export function toPublishProperties(
  options: PublishOptions,
  nowMs: number,
): Options.Publish & { messageId: string } {
  const { priority } = options;
  if (
    priority !== undefined &&
    (!Number.isInteger(priority) || priority < MIN_PRIORITY || priority > MAX_PRIORITY)
  ) {
    throw new RangeError(`priority must be an integer ${MIN_PRIORITY}–${MAX_PRIORITY}, got ${priority}`);
  }
  const properties: Options.Publish & { messageId: string } = {
    persistent: true,
    messageId: options.messageId ?? randomUUID(),
    // AMQP timestamps are whole seconds since the epoch.
    timestamp: Math.floor(nowMs / 1000),
    contentType: options.contentType ?? JSON_CONTENT_TYPE,
    mandatory: options.mandatory ?? false,
  };
  if (options.correlationId !== undefined) properties.correlationId = options.correlationId;
  if (options.type !== undefined) properties.type = options.type;
  if (priority !== undefined) properties.priority = priority;
  if (options.headers !== undefined) properties.headers = options.headers;
  if (options.expiration !== undefined) properties.expiration = options.expiration;
  if (options.replyTo !== undefined) properties.replyTo = options.replyTo;
  if (options.cc !== undefined && options.cc.length > 0) properties.CC = options.cc;
  return properties;
}
