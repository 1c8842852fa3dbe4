import { createParser, type EventSourceMessage } from 'eventsource-parser';
import Redis from 'ioredis';
import { TestStack, TEST_SERVICES, waitFor, type TestApi, type TestJob } from '@switchyard/testing';

jest.setTimeout(120000);

interface Stream {
  messages: EventSourceMessage[];
  comments: string[];
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  close(): void;
}

/** Opens an SSE stream and records every message until the server closes it (or close()). */
async function open(url: string, key: string, lastEventId?: string): Promise<Stream> {
  const controller = new AbortController();
  const headers: Record<string, string> = { authorization: `Bearer ${key}`, accept: 'text/event-stream' };
  if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
  const response = await fetch(url, { headers, signal: controller.signal });
  if (response.status !== 200 || !response.body)
    throw new Error(`stream answered ${response.status}: ${await response.text()}`);
  expect(response.headers.get('content-type')).toContain('text/event-stream');
  const messages: EventSourceMessage[] = [];
  const comments: string[] = [];
  const parser = createParser({
    onEvent: (m) => messages.push(m),
    onComment: (c) => comments.push(c.trim()),
  });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  const ended = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        parser.feed(decoder.decode(value, { stream: true }));
      }
    } catch (error) {
      if (!controller.signal.aborted) throw error;
    }
  })();
  return { messages, comments, ended, close: () => controller.abort() };
}

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`expected ${what} within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

describe('gateway Server-Sent Events', () => {
  let stack: TestStack;
  let gateway: string;
  let key: string;
  let api: TestApi;

  beforeAll(async () => {
    stack = await TestStack.create({ SSE_KEEPALIVE_MS: '300', SHUTDOWN_GRACE_MS: '500' });
    await stack.start(['gateway', 'worker', 'progress-tracker']);
    gateway = `${stack.service('gateway').url}/api/v1`;
    key = (await stack.createApiKey('watchers')).key;
    api = stack.api(key);
  });

  afterAll(async () => {
    await stack?.destroy();
  });

  it('sends the snapshot, then progress and the terminal event in seq order, then closes', async () => {
    const id = await api.submit({
      type: 'synthetic',
      payload: { durationMs: 1500, steps: 5 },
      dedupe: false,
    });
    const stream = await open(`${gateway}/jobs/${id}/events`, key);
    await within(stream.ended, 20000, 'the stream to close after the terminal event');
    const [snapshot, ...events] = stream.messages;
    expect(snapshot?.event).toBe('snapshot');
    expect(JSON.parse(snapshot.data)).toMatchObject({
      id,
      type: 'synthetic',
      seq: expect.any(Number) as unknown,
    });
    const names = events.map((e) => e.event);
    expect(names.filter((n) => n === 'job.progress').length).toBeGreaterThanOrEqual(3);
    expect(names[names.length - 1]).toBe('job.completed');
    const ids = events.map((e) => Number(e.id));
    expect(ids.every(Number.isInteger)).toBe(true);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    const last = JSON.parse(events[events.length - 1].data) as {
      specversion: string;
      type: string;
      data: { status: string; seq: number; progress: number };
    };
    expect(last).toMatchObject({
      specversion: '1.0',
      type: 'switchyard.job.completed',
      data: { status: 'completed', progress: 100 },
    });
    expect(last.data.seq).toBe(ids[ids.length - 1]);
    expect(stream.comments).toContain('keep-alive');
  });

  it('replays only what a client missed when it reconnects with Last-Event-ID', async () => {
    const id = await api.submit({
      type: 'synthetic',
      payload: { durationMs: 3000, steps: 6 },
      dedupe: false,
    });
    const first = await open(`${gateway}/jobs/${id}/events`, key);
    await waitFor(() => first.messages.filter((m) => m.event === 'job.progress').length >= 2, {
      timeoutMs: 15000,
      what: 'two progress events',
    });
    first.close();
    const seen = first.messages.filter((m) => m.id !== undefined).map((m) => Number(m.id));
    const lastSeen = seen[seen.length - 1];
    const done = await api.waitForStatus(id, 'completed');
    // The completion writes its own history row; the tracker adds the progress reports, which may
    // land after it: the history is whole once the handler's last report (100 %) is in it too.
    const history = await waitFor(
      async () => {
        const job = await api.job<TestJob>(id);
        const whole =
          job.history.some((h) => h.event === 'completed') &&
          job.history.some((h) => h.event === 'progress' && h.progress === 100);
        return whole ? job.history : undefined;
      },
      { what: 'the full history' },
    );
    expect(done.status).toBe('completed');

    const resumed = await open(`${gateway}/jobs/${id}/events`, key, String(lastSeen));
    await within(resumed.ended, 10000, 'the resumed stream to close');
    const replayed = resumed.messages.filter((m) => m.event !== 'snapshot');
    expect(resumed.messages[0]?.event).toBe('snapshot');
    expect(replayed.map((m) => Number(m.id))).toEqual(
      history.filter((h) => h.seq > lastSeen).map((h) => h.seq),
    );
    expect(replayed.every((m) => !seen.includes(Number(m.id)))).toBe(true);
    expect(replayed[replayed.length - 1]?.event).toBe('job.completed');
  });

  it('answers 404 for an unknown job, and a finished job’s stream is its snapshot', async () => {
    const missing = await fetch(`${gateway}/jobs/00000000-0000-4000-8000-000000000000/events`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(missing.status).toBe(404);
    const id = await api.submit({ type: 'synthetic', payload: { steps: 1 }, dedupe: false });
    await api.waitForStatus(id, 'completed');
    const stream = await open(`${gateway}/jobs/${id}/events`, key);
    await within(stream.ended, 5000, 'the stream of a finished job to close');
    expect(stream.messages.map((m) => m.event)).toEqual(['snapshot']);
    expect(JSON.parse(stream.messages[0].data)).toMatchObject({ id, status: 'completed' });
  });

  it('streams every event of the caller’s jobs on GET /events, and none of another tenant’s', async () => {
    const otherKey = (await stack.createApiKey('strangers')).key;
    const mine = await open(`${gateway}/events?type=synthetic`, key);
    await waitFor(() => mine.messages.length >= 1, { what: 'the snapshot' });
    expect(mine.messages[0]?.event).toBe('snapshot');
    expect(JSON.parse(mine.messages[0].data)).toHaveProperty('jobs');
    const own = await api.submit({ type: 'synthetic', payload: { steps: 2 }, dedupe: false });
    const foreign = await stack
      .api(otherKey)
      .submit({ type: 'synthetic', payload: { steps: 2 }, dedupe: false });
    await waitFor(
      () =>
        mine.messages.some(
          (m) => m.event === 'job.completed' && (JSON.parse(m.data) as { subject: string }).subject === own,
        ),
      { timeoutMs: 15000, what: 'the completion of the caller’s job' },
    );
    await api.waitForStatus(own, 'completed');
    await stack.api(otherKey).waitForStatus(foreign, 'completed');
    mine.close();
    const subjects = mine.messages.slice(1).map((m) => (JSON.parse(m.data) as { subject: string }).subject);
    expect(subjects).toContain(own);
    expect(subjects).not.toContain(foreign);
    expect(
      mine.messages
        .slice(1)
        .every((m) => m.id?.startsWith(`${(JSON.parse(m.data) as { subject: string }).subject}:`)),
    ).toBe(true);
  });

  it('serves 200 concurrent clients of one job over the gateway’s two Redis connections', async () => {
    const id = await api.submit({
      type: 'synthetic',
      payload: { durationMs: 2500, steps: 4 },
      dedupe: false,
    });
    const streams = await Promise.all(
      Array.from({ length: 200 }, () => open(`${gateway}/jobs/${id}/events`, key)),
    );
    const redis = new Redis(TEST_SERVICES.redis);
    try {
      const clients = (await redis.client('LIST')) as string;
      const gatewayConnections = clients
        .split('\n')
        .filter((line) => line.includes(` name=${stack.redisPrefix}gateway`));
      expect(gatewayConnections.length).toBeLessThanOrEqual(2);
    } finally {
      redis.disconnect();
    }
    await within(Promise.all(streams.map((s) => s.ended)), 30000, 'every stream to close');
    for (const stream of streams) {
      expect(stream.messages[0]?.event).toBe('snapshot');
      expect(stream.messages[stream.messages.length - 1]?.event).toBe('job.completed');
    }
  });
});
