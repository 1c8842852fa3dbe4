/** What a consumer wants done with a delivery; the client turns it into ack / nack. */
export type ConsumeOutcome =
  | { kind: 'ack' }
  /** nack with requeue: hand the message back (e.g. shutting down). */
  | { kind: 'requeue' }
  /** nack without requeue: the queue's dead-letter exchange receives it. */
  | { kind: 'dead-letter'; reason: string };

export const Ack: ConsumeOutcome = Object.freeze({ kind: 'ack' });
export const Requeue: ConsumeOutcome = Object.freeze({ kind: 'requeue' });

export function DeadLetter(reason: string): ConsumeOutcome {
  return { kind: 'dead-letter', reason };
}

/**
 * Outcome for a handler that threw: one more try on the first delivery (the failure may have
 * been transient), dead-letter on a redelivery so a poison message cannot loop forever.
 */
export function outcomeForHandlerError(redelivered: boolean): ConsumeOutcome {
  return redelivered ? DeadLetter('handler_error_on_redelivery') : Requeue;
}
