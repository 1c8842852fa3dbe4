import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import { TestStack, waitFor, type TestApi } from '@switchyard/testing';

jest.setTimeout(120000);

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

interface FileBody {
  fileId: string;
  size: number;
  sha256: string;
  contentType: string;
  name: string | null;
}
interface ErrorBody {
  error: { code: string; details: { field?: string }[] };
}

describe('gateway files, results and read-only views', () => {
  let stack: TestStack;
  let gateway: string;
  let key: string;
  let api: TestApi;
  let other: TestApi;

  beforeAll(async () => {
    stack = await TestStack.create({ SHUTDOWN_GRACE_MS: '500' });
    await stack.start(['gateway', 'worker', 'progress-tracker']);
    gateway = `${stack.service('gateway').url}/api/v1`;
    key = (await stack.createApiKey('uploader')).key;
    api = stack.api(key);
    other = stack.api((await stack.createApiKey('someone-else')).key);
  });

  afterAll(async () => {
    await stack?.destroy();
  });

  const upload = (body: RequestInit['body'], headers: Record<string, string> = {}) =>
    fetch(`${gateway}/files`, {
      method: 'POST',
      body,
      headers: { authorization: `Bearer ${key}`, ...headers },
    });

  it('refuses a 25 MiB upload with 413 and keeps nothing', async () => {
    const response = await upload(randomBytes(25 * 1024 * 1024), {
      'content-type': 'application/octet-stream',
    });
    expect(response.status).toBe(413);
    expect(((await response.json()) as ErrorBody).error.code).toBe('payload_too_large');
    // Without a declared length, the limit holds while streaming.
    const chunks = (function* () {
      for (let i = 0; i < 22; i++) yield randomBytes(1024 * 1024);
    })();
    const streamed = await fetch(`${gateway}/files`, {
      method: 'POST',
      body: ReadableStream.from(chunks),
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/octet-stream' },
      duplex: 'half',
    });
    expect(streamed.status).toBe(413);
    const uploads = join(__dirname, '..', stack.env['UPLOADS_DIR']);
    expect(await readdir(uploads).catch(() => [])).toEqual([]);
  });

  it('round-trips a 1 MiB raw upload by SHA-256, visible to its tenant only', async () => {
    const bytes = randomBytes(1024 * 1024);
    const response = await upload(bytes, {
      'content-type': 'audio/wav',
      'content-disposition': 'attachment; filename="take1.wav"',
    });
    expect(response.status).toBe(201);
    const file = (await response.json()) as FileBody;
    expect(file).toMatchObject({
      size: bytes.length,
      sha256: sha256(bytes),
      contentType: 'audio/wav',
      name: 'take1.wav',
    });
    expect((await api.get<FileBody>(`/files/${file.fileId}`)).body).toMatchObject({
      fileId: file.fileId,
      sha256: sha256(bytes),
    });
    expect((await other.get(`/files/${file.fileId}`)).status).toBe(404);
    // Jobs reference it as fileId; another tenant cannot.
    expect(
      (await api.post('/jobs', { type: 'audio.analyze', payload: { fileId: file.fileId } })).status,
    ).toBe(202);
    const foreign = await other.post<ErrorBody>('/jobs', {
      type: 'audio.analyze',
      payload: { fileId: file.fileId },
    });
    expect([foreign.status, foreign.body.error.details[0]?.field]).toEqual([400, 'payload.fileId']);
  });

  it('accepts multipart/form-data and refuses JSON and empty uploads', async () => {
    const bytes = randomBytes(200000);
    const form = new FormData();
    form.append('file', new Blob([bytes], { type: 'image/png' }), 'sprite.png');
    const response = await upload(form);
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({
      size: bytes.length,
      sha256: sha256(bytes),
      contentType: 'image/png',
      name: 'sprite.png',
    });
    expect((await upload('{"a":1}', { 'content-type': 'application/json' })).status).toBe(415);
    expect((await upload(new Uint8Array(0), { 'content-type': 'application/octet-stream' })).status).toBe(
      400,
    );
    // Multipart anywhere else is 415.
    const jobs = await fetch(`${gateway}/jobs`, {
      method: 'POST',
      body: form,
      headers: { authorization: `Bearer ${key}` },
    });
    expect(jobs.status).toBe(415);
  });

  it('downloads a job’s artifact with its content type and length, and inline results as JSON', async () => {
    const artifactJob = await api.submit({ type: 'synthetic', payload: { resultBytes: 300000 } });
    const inlineJob = await api.submit({ type: 'synthetic', payload: { steps: 1 } });
    const done = await api.waitForStatus(artifactJob, 'completed');
    expect(done).toMatchObject({ result: expect.anything() as unknown });
    const response = await fetch(`${gateway}/jobs/${artifactJob}/result`, {
      headers: { authorization: `Bearer ${key}`, 'accept-encoding': 'gzip' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    expect(response.headers.get('content-length')).toBe('300000');
    const bytes = Buffer.from(await response.arrayBuffer());
    expect(bytes.length).toBe(300000);
    expect(response.headers.get('etag')).toBe(`"${sha256(bytes)}"`);
    await api.waitForStatus(inlineJob, 'completed');
    const inline = await api.get(`/jobs/${inlineJob}/result`);
    expect(inline.status).toBe(200);
    expect(inline.headers.get('content-type')).toContain('application/json');
    expect(inline.body).toEqual({ ok: true, attempt: 1 });
    const slow = await api.submit({ type: 'synthetic', payload: { durationMs: 30000 } });
    const early = await api.get<ErrorBody>(`/jobs/${slow}/result`);
    expect([early.status, early.body.error.code]).toEqual([409, 'not_completed']);
  });

  it('lists job types with JSON Schemas, queues with levels, stats and health', async () => {
    const types = await api.get<{
      items: { type: string; queue: string; payloadSchema: { type?: string }; defaults: object }[];
    }>('/job-types');
    expect(types.body.items.map((t) => t.type)).toEqual(
      expect.arrayContaining(['synthetic', 'audio.analyze']),
    );
    const synthetic = types.body.items.find((t) => t.type === 'synthetic')!;
    expect(synthetic).toMatchObject({
      queue: 'default',
      payloadSchema: { type: 'object' },
      defaults: { cacheable: 'computed' },
    });
    const queues = await api.get<{ items: Record<string, unknown>[] }>('/queues');
    expect(queues.body.items.map((q) => q['queue'])).toEqual(
      expect.arrayContaining(['default', 'analysis', 'generation']),
    );
    for (const q of queues.body.items) {
      expect(Object.keys(q).sort()).toEqual(
        [
          'backlog',
          'completedPerMinute',
          'concurrency',
          'consumers',
          'estimatedWaitMs',
          'inFlight',
          'level',
          'oldestAgeMs',
          'paused',
          'queue',
          'ready',
          'released',
          'running',
          'scheduled',
        ].sort(),
      );
    }
    // The jobs completed above reach the queue's completion rate through the tracker's counters
    // in Redis, which the gateway reads every 2 s.
    const perMinute = await waitFor(
      async () => {
        const { body } = await api.get<{ items: { queue: string; completedPerMinute: number }[] }>('/queues');
        const rate = body.items.find((q) => q.queue === 'default')?.completedPerMinute ?? 0;
        return rate > 0 && rate;
      },
      { timeoutMs: 15000, intervalMs: 250, what: 'a completion rate for the default queue' },
    );
    expect(perMinute).toBeGreaterThan(0);
    const stats = await api.get<{
      counts: { byStatus: Record<string, number>; byType: Record<string, unknown> };
      durationMs: object;
    }>('/stats');
    expect(stats.body.counts.byStatus['completed']).toBeGreaterThanOrEqual(2);
    expect(stats.body.counts.byType).toHaveProperty('synthetic');
    const health = await fetch(`${gateway}/health`);
    const report = (await health.json()) as { status: string; checks: Record<string, { status: string }> };
    expect(['healthy', 'degraded']).toContain(report.status);
    expect(Object.keys(report.checks).sort()).toEqual([
      'broker',
      'circuits',
      'database',
      'disk',
      'redis',
      'workers',
    ]);
    expect(report.checks['database']?.status).toBe('up');
  });

  it('gives queued jobs an estimatedWaitMs and compresses large responses with gzip', async () => {
    // Fill the worker (concurrency 8) so that a new job waits.
    for (let i = 0; i < 10; i++)
      await api.submit({ type: 'synthetic', payload: { durationMs: 4000 + i }, dedupe: false });
    const queued = await api.post<{ status: string; estimatedWaitMs?: number }>('/jobs', {
      type: 'synthetic',
      payload: { durationMs: 1 },
      priority: 'low',
      dedupe: false,
    });
    expect(queued.status).toBe(202);
    expect(typeof queued.body.estimatedWaitMs).toBe('number');
    const { status, headers } = await rawGet(`${gateway}/jobs?limit=50`, {
      authorization: `Bearer ${key}`,
      'accept-encoding': 'gzip',
    });
    expect(status).toBe(200);
    expect(headers['content-encoding']).toBe('gzip');
  });
});

/** A GET whose response headers are exactly what the server sent (fetch hides compression). */
function rawGet(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}
