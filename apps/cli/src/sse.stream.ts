import { parseEventStream, type SseMessage } from '@switchyard/client';

export type { SseMessage };

/**
 * Reads a `text/event-stream` body (with @switchyard/client's parser) until it ends or `onMessage`
 * returns `'stop'`. Keep-alive comments are dropped by the parser.
 */
export async function readSse(
  body: ReadableStream<Uint8Array>,
  onMessage: (message: SseMessage) => 'stop' | void,
): Promise<void> {
  // Leaving the loop cancels the body, which closes the connection (the server may keep it open).
  for await (const message of parseEventStream(body)) {
    if (onMessage(message) === 'stop') return;
  }
}
