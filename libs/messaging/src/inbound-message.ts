import type { Message, MessageFields, MessageProperties } from 'amqplib';

export interface InboundMessage {
  body: Buffer;
  /** The body parsed as JSON, or undefined when it is not valid JSON. */
  content: unknown;
  properties: MessageProperties;
  fields: MessageFields;
  redelivered: boolean;
  headers: Record<string, unknown>;
}

export function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

export function toInboundMessage(message: Message): InboundMessage {
  return {
    body: message.content,
    content: parseJsonBody(message.content),
    properties: message.properties,
    fields: message.fields,
    redelivered: message.fields.redelivered,
    headers: message.properties.headers ?? {},
  };
}
