// Bounds of issue 13: the job view carries a bounded history with a paged history route, lists
// return summaries, an oversize inline result becomes an artifact, and a handler's poison
// progress text is cleaned at the worker so other jobs' progress still reaches Redis.
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';
import { TEST_SERVICES, TestStack, waitFor, type TestApi } from '@switchyard/testing';
import { decodeStoredEvent } from '@switchyard/live-state';
import { adminApi, adminHeaders, REPO_ROOT } from './fixtures/handlers-support';

jest.setTimeout(120000);

const MODULE = 'e2e/fixtures/handlers/bounds.handler.js';

interface HistoryEntry {
  seq: number;
  event: string;
  message: string | null;
  step: string | null;
}

describe('bounds', () => {
  let stack: TestStack;
  let api: TestApi;
  let db: Client;
  let redis: Redis;

  beforeAll(async () => {
    stack = await TestStack.create();
    await stack.spawn('worker', { WORKER_HANDLER_MODULES: MODULE });
    await stack.start(['gateway', 'progress-tracker']);
    api = adminApi(stack);
    db = new Client({ connectionString: stack.db.url });
    await db.connect();
    redis = new Redis(TEST_SERVICES.redis);
  });

  afterAll(async () => {
    redis?.disconnect();
    await db?.end();
    await stack?.destroy();
    if (stack) await rm(resolve(REPO_ROOT, 'tmp', stack.id), { recursive: true, force: true });
  });

  it('GET /jobs/{id} of a 10,000-event job stays under 64 KiB; paging returns every event once, in order', async () => {
    const id = await api.submit({ type: 'synthetic', payload: { durationMs: 0 } });
    await api.waitForStatus(id, 'completed');
    // 10,000 progress rows, as a chatty handler leaves them (seqs the attempt's block never used).
    await db.query(
      `INSERT INTO job_events (job_id, seq, event, status, step, progress, message, attempt, correlation_id, created_at)
       SELECT $1, 100000 + n, 'progress', 'running', 'generating', n / 100.0,
              'rendered chunk ' || n || ' of 10000', 1, 'e2e', now()
       FROM generate_series(1, 10000) AS n`,
      [id],
    );
    const { rows } = await db.query<{ seq: string }>(
      `SELECT seq FROM job_events WHERE job_id = $1 ORDER BY seq`,
      [id],
    );
    const allSeqs = rows.map((r) => Number(r.seq));
    expect(allSeqs.length).toBeGreaterThanOrEqual(10000);

    const response = await fetch(`${api.baseUrl}/api/v1/jobs/${id}`, {
      headers: adminHeaders,
    });
    const text = await response.text();
    expect(response.status).toBe(200);
    expect(Buffer.byteLength(text)).toBeLessThan(64 * 1024);
    const job = JSON.parse(text) as {
      history: HistoryEntry[];
      historyTruncated: boolean;
      historyNext: string | null;
    };
    expect(job.history).toHaveLength(100);
    expect(job.history.map((h) => h.seq)).toEqual(allSeqs.slice(-100));
    expect(job.historyTruncated).toBe(true);
    expect(job.historyNext).toBe(`/api/v1/jobs/${id}/history?limit=1000`);

    const paged: number[] = [];
    let next: string | null = job.historyNext;
    let pages = 0;
    while (next !== null) {
      const page = await api.get<{ items: HistoryEntry[]; nextCursor: string | null }>(
        next.replace('/api/v1', ''),
      );
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(1000);
      paged.push(...page.body.items.map((h) => h.seq));
      next = page.body.nextCursor
        ? `/api/v1/jobs/${id}/history?limit=1000&cursor=${encodeURIComponent(page.body.nextCursor)}`
        : null;
      pages += 1;
    }
    expect(paged).toEqual(allSeqs);
    expect(pages).toBe(Math.ceil(allSeqs.length / 1000));

    // Small pages agree with large ones; a bad limit or cursor is the spec's 400.
    const small = await api.get<{ items: HistoryEntry[]; nextCursor: string }>(`/jobs/${id}/history?limit=3`);
    expect(small.body.items.map((h) => h.seq)).toEqual(allSeqs.slice(0, 3));
    const after = await api.get<{ items: HistoryEntry[] }>(
      `/jobs/${id}/history?limit=2&cursor=${small.body.nextCursor}`,
    );
    expect(after.body.items.map((h) => h.seq)).toEqual(allSeqs.slice(3, 5));
    for (const query of ['limit=1001', 'limit=0', 'cursor=bm9wZQ']) {
      const bad = await api.get<{ error: { code: string } }>(`/jobs/${id}/history?${query}`);
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('validation_failed');
    }
  });

  it('a short history is whole and not truncated', async () => {
    const id = await api.submit({ type: 'synthetic', payload: { durationMs: 0, steps: 2 } });
    await api.waitForStatus(id, 'completed');
    // History is the tracker's projection of the events: it may land just after the status.
    const job = await waitFor(
      async () => {
        const view = await api.job(id);
        return view.history.some((h) => h.event === 'completed') && view;
      },
      { what: 'the completed event in the job history' },
    );
    expect(job).toMatchObject({ historyTruncated: false, historyNext: null });
    expect(job.history.map((h) => h.event)).toEqual(
      expect.arrayContaining(['queued', 'started', 'completed']),
    );
  });

  it('lists return summaries: payload and result only with include', async () => {
    const id = await api.submit({ type: 'synthetic', payload: { durationMs: 0, steps: 1 } });
    await api.waitForStatus(id, 'completed');
    type Item = { id: string; payload?: unknown; result?: unknown; status: string };
    const find = async (query: string) => {
      const list = await api.get<{ items: Item[] }>(`/jobs?limit=200${query}`);
      expect(list.status).toBe(200);
      const item = list.body.items.find((i) => i.id === id);
      if (!item) throw new Error(`job ${id} not listed`);
      return item;
    };
    const summary = await find('');
    expect(summary.status).toBe('completed');
    expect(summary).not.toHaveProperty('payload');
    expect(summary).not.toHaveProperty('result');
    expect(await find('&include=payload')).toMatchObject({ payload: { durationMs: 0, steps: 1 } });
    expect(await find('&include=payload')).not.toHaveProperty('result');
    expect(await find('&include=payload,result')).toMatchObject({
      payload: { durationMs: 0 },
      result: { ok: true },
    });
    const bad = await api.get<{ error: { code: string } }>('/jobs?include=secrets');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('validation_failed');
  });

  it('an inline result above RESULT_INLINE_MAX_BYTES is stored as an artifact and downloads whole', async () => {
    const small = await api.submit({ type: 'test.big-result', payload: { resultBytes: 1000 } });
    expect(await api.waitForStatus(small, 'completed')).toMatchObject({
      result: { text: 'x'.repeat(1000) },
      resultUrl: null,
    });

    const id = await api.submit({ type: 'test.big-result', payload: { resultBytes: 100000 } });
    const job = await api.waitForStatus(id, 'completed');
    expect(job).toMatchObject({ result: null, resultUrl: `/api/v1/jobs/${id}/result` });
    const download = await fetch(`${api.baseUrl}/api/v1/jobs/${id}/result`, {
      headers: adminHeaders,
    });
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('application/json');
    expect(await download.json()).toEqual({ text: 'x'.repeat(100000) });
  });

  it('a NUL or oversize text in a handler’s progress is cleaned at the worker; other jobs’ progress reaches Redis', async () => {
    const poisoned = await api.submit({ type: 'test.poison-progress', payload: { note: 'n1' } });
    await api.waitForStatus(poisoned, 'completed');
    // The tracker may write the last progress rows just after the completion.
    const history = await waitFor(
      async () => {
        const job = await api.job(poisoned);
        const entries = (job.history as unknown as HistoryEntry[]).filter((h) => h.event === 'progress');
        return entries.length === 3 ? entries : undefined;
      },
      { timeoutMs: 20000, what: 'the poisoned job’s three progress entries' },
    );
    expect(history.map((h) => [h.step, h.message])).toEqual([
      ['nul', 'before\uFFFDafter n1'],
      ['s'.repeat(64), 'm'.repeat(1024)],
      ['done\uFFFD', 'last'],
    ]);

    // Another job's progress still flows to Redis after the poisoned one.
    const other = await api.submit({ type: 'synthetic', payload: { durationMs: 200, steps: 4 } });
    await api.waitForStatus(other, 'completed');
    const live = await waitFor(
      async () => {
        const state = await redis.hgetall(`${stack.redisPrefix}job:${other}:live`);
        return state['status'] === 'completed' ? state : undefined;
      },
      { timeoutMs: 20000, what: 'the other job’s live state in Redis' },
    );
    expect(live['status']).toBe('completed');
    const events = await redis.zrange(`${stack.redisPrefix}job:${other}:events`, 0, -1);
    const progress = events.map((e) => decodeStoredEvent(e)).filter((e) => e?.event === 'progress');
    expect(progress.length).toBeGreaterThanOrEqual(4);
    const poisonedLive = await redis.hgetall(`${stack.redisPrefix}job:${poisoned}:live`);
    expect(poisonedLive['status']).toBe('completed');
  });
});
