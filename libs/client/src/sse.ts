/** One Server-Sent Events message. */
export interface SseMessage {
  /** `event:` (`message` when absent). */
  event: string;
  data: string;
  /** `id:` of this message, or the last one seen before it. */
  id: string | undefined;
}

/**
 * Parses a `text/event-stream` body (WHATWG HTML, "Server-sent events"): yields each message,
 * drops comments (`: keep-alive`), keeps the last `id`. Cancels the body when the consumer stops.
 */
export async function* parseEventStream(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  let lastId: string | undefined;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
        if (line === '') {
          if (data.length) yield { event: event || 'message', data: data.join('\n'), id: lastId };
          event = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const raw = colon < 0 ? '' : line.slice(colon + 1);
        const text = raw.startsWith(' ') ? raw.slice(1) : raw;
        if (field === 'event') event = text;
        else if (field === 'data') data.push(text);
        else if (field === 'id' && !text.includes('\0')) lastId = text;
      }
    }
  } finally {
    // Cancelling closes the connection; the server may keep it open after the terminal event.
    await reader.cancel().catch(() => undefined);
  }
}
