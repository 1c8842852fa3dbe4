import { createParser, type EventSourceMessage } from 'eventsource-parser';

export type SseMessage = EventSourceMessage;

/**
 * Reads a `text/event-stream` body until it ends or `onMessage` returns `'stop'`. Keep-alive
 * comments are dropped by the parser.
 */
export async function readSse(
  body: ReadableStream<Uint8Array>,
  onMessage: (message: SseMessage) => 'stop' | void,
): Promise<void> {
  let stopped = false;
  const parser = createParser({
    onEvent: (message) => {
      if (stopped) return;
      if (onMessage(message) === 'stop') stopped = true;
    },
  });
  const reader = body.getReader();
  const decoder = new TextDecoder();
  try {
    while (!stopped) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(decoder.decode(value, { stream: true }));
    }
  } finally {
    // Cancelling closes the connection; the server may keep it open after the terminal event.
    await reader.cancel().catch(() => undefined);
  }
}
