// SSE streams are bounded per tenant across every gateway (issue 13): two gateway processes share
// SSE_MAX_STREAMS_PER_TENANT through Redis, whichever API key of the tenant opens the stream.
import { TestStack, waitFor } from '@switchyard/testing';

jest.setTimeout(120000);

const LIMIT = 2;

interface OpenStream {
  status: number;
  retryAfter: string | null;
  body: string;
  close(): void;
}

/** Opens `GET /api/v1/events`; on 200 the stream stays open until close(). */
async function openEvents(gatewayUrl: string, key: string): Promise<OpenStream> {
  const controller = new AbortController();
  const response = await fetch(`${gatewayUrl}/api/v1/events`, {
    headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream' },
    signal: controller.signal,
  });
  const close = () => controller.abort();
  if (response.status === 200) {
    // Read until the snapshot arrived, so the slot is surely held.
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes('event: snapshot')) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    return { status: 200, retryAfter: null, body: text, close };
  }
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    body: await response.text(),
    close,
  };
}

describe('SSE streams per tenant across gateways', () => {
  let stack: TestStack;
  let first: string;
  let second: string;
  const open: OpenStream[] = [];

  beforeAll(async () => {
    stack = await TestStack.create();
    const env = { SSE_MAX_STREAMS_PER_TENANT: String(LIMIT) };
    await stack.start(['gateway'], env);
    first = stack.service('gateway').url;
    second = (await stack.spawn('gateway', env)).url;
  });

  afterAll(async () => {
    for (const s of open) s.close();
    await stack?.destroy();
  });

  it('shares the limit between gateways and keys of one tenant; 429 beyond it; other tenants unaffected', async () => {
    const keyA1 = (await stack.createApiKey('sse-a')).key;
    const keyA2 = (await stack.createApiKey('sse-a')).key;
    const keyB = (await stack.createApiKey('sse-b')).key;

    const s1 = await openEvents(first, keyA1);
    open.push(s1);
    expect(s1.status).toBe(200);
    const s2 = await openEvents(second, keyA2);
    open.push(s2);
    expect(s2.status).toBe(200);

    for (const [gateway, key] of [
      [first, keyA1],
      [second, keyA2],
    ] as const) {
      const refused = await openEvents(gateway, key);
      expect(refused.status).toBe(429);
      expect(refused.retryAfter).not.toBeNull();
      expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'rate_limited' } });
    }

    const other = await openEvents(first, keyB);
    open.push(other);
    expect(other.status).toBe(200);

    // Closing a stream on one gateway frees a slot for the tenant on the other.
    s1.close();
    const reopened = await waitFor(
      async () => {
        const attempt = await openEvents(second, keyA1);
        if (attempt.status === 200) return attempt;
        expect(attempt.status).toBe(429);
        return undefined;
      },
      { timeoutMs: 10000, intervalMs: 100, what: 'the closed stream’s slot to be released' },
    );
    open.push(reopened);
    expect(reopened.status).toBe(200);
  });
});
