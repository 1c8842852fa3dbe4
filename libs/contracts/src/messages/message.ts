import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { AmqpNames } from '../routing';

/** AMQP properties a message takes from its payload (the publisher adds id, timestamp, persistence). */
export interface MessageProperties {
  /** The AMQP `type` property: the message's wire name. */
  type: string;
  messageId?: string;
  correlationId?: string;
  contentType?: string;
}

/**
 * One wire message: its schema, where it is published and the properties it carries. Adding a
 * message means one file under messages/ and one line in catalogue.ts.
 */
export interface MessageDefinition<S extends TSchema = TSchema> {
  readonly schema: S;
  /** Compiled once: consumers validate every delivery with it. */
  readonly check: TypeCheck<S>;
  exchange(names: AmqpNames): string;
  routingKey(payload: Static<S>): string;
  properties(payload: Static<S>): MessageProperties;
  /** The broker returns the message when no queue is bound for it, and the publish rejects. */
  readonly mandatory: boolean;
  /**
   * Carries the W3C trace context (`traceparent`, `tracestate` headers) while tracing is on: the
   * publisher injects the active span's, the consumer handles the message in a span under it.
   */
  readonly traced?: boolean;
}

export function defineMessage<S extends TSchema>(
  definition: Omit<MessageDefinition<S>, 'check'>,
): MessageDefinition<S> {
  return { ...definition, check: TypeCompiler.Compile(definition.schema) };
}
