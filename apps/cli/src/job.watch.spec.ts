import { FakeApi } from '../test/fake-api';
import { ApiClient } from './api.client';
import { followsOn, parseEvent, watchJob, type JobProgress } from './job.watch';

describe('parseEvent', () => {
  it('reads the job event fields from a CloudEvent', () => {
    const event = {
      specversion: '1.0',
      type: 'switchyard.job.progress',
      data: {
        jobId: 'j',
        status: 'running',
        step: 'generating',
        progress: 40,
        message: 'half',
        attempt: 2,
        seq: 7,
      },
    };
    expect(parseEvent(JSON.stringify(event))).toEqual({
      seq: 7,
      progress: expect.objectContaining({
        status: 'running',
        step: 'generating',
        progress: 40,
        message: 'half',
        attempt: 2,
        error: null,
      }) as JobProgress,
    });
  });

  it('carries the error of a failed event', () => {
    const data = {
      status: 'failed',
      step: null,
      progress: 50,
      message: null,
      attempt: 3,
      seq: 9,
      error: { code: 'timeout', message: 'took too long', retryable: true },
    };
    expect(parseEvent(JSON.stringify({ data }))?.progress.error).toEqual({
      code: 'timeout',
      message: 'took too long',
      retryable: true,
    });
  });

  it('reads a snapshot that is the job itself, bare or wrapped', () => {
    const job = {
      id: 'j',
      status: 'queued',
      step: null,
      progress: 0,
      message: null,
      attempts: 0,
      estimatedWaitMs: 1200,
    };
    expect(parseEvent(JSON.stringify(job))?.progress).toMatchObject({
      status: 'queued',
      estimatedWaitMs: 1200,
      attempt: 0,
    });
    expect(parseEvent(JSON.stringify({ job }))?.progress.status).toBe('queued');
  });

  it('ignores what it cannot read instead of failing the watch', () => {
    expect(parseEvent('not json')).toBeUndefined();
    expect(parseEvent('{"data":{"status":"exploded"}}')).toBeUndefined();
  });
});

describe('watchJob', () => {
  let api: FakeApi;
  afterEach(() => api.stop());

  it('waits for the job to catch up with a terminal event, so the result is there', async () => {
    api = await new FakeApi({ lagMs: 400 }).start();
    const job = api.addJob({ payload: { steps: 3 } });
    const seen: string[] = [];
    const final = await watchJob(new ApiClient(api.url, undefined), job.id, undefined, {
      onUpdate: (p) => seen.push(`${p.status}:${p.progress}`),
    });
    expect(final.status).toBe('completed');
    expect(final.result).toEqual({ ok: true, attempt: 1 });
    expect(seen).toEqual([
      'queued:0',
      'queued:0',
      'running:0',
      'running:25',
      'running:50',
      'running:75',
      'completed:100',
    ]);
  });

  it('never goes back to queued after it showed the job running (a lagging snapshot)', async () => {
    api = await new FakeApi().start();
    // The stream's snapshot still says queued (attempt 0) while the read said running.
    const job = api.addJob({ payload: { steps: 2, fail: 'permanent' } });
    const seen: string[] = [];
    await watchJob(
      new ApiClient(api.url, undefined),
      job.id,
      { ...job, status: 'running', attempts: 1 },
      {
        onUpdate: (p) => {
          if (seen.at(-1) !== p.status) seen.push(p.status);
        },
      },
    );
    expect(seen).toEqual(['running', 'failed']);
  });

  it('drops events older than the last one shown', async () => {
    api = await new FakeApi({ dropFirstStreamAfter: 2 }).start();
    const job = api.addJob({ payload: { steps: 2 } });
    const seen: number[] = [];
    await watchJob(new ApiClient(api.url, undefined), job.id, undefined, {
      onUpdate: (p) => seen.push(p.progress),
    });
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
  });
});

describe('the states a watch shows', () => {
  const at = (status: JobProgress['status'], attempt?: number): JobProgress => ({
    status,
    step: null,
    progress: 0,
    message: null,
    attempt,
  });

  it('never steps back to a state the job did not pass through (history queued, started, failed)', () => {
    // The read showed running; a lagging snapshot says queued, then the stream replays the rest.
    const updates = [at('running', 1), at('queued', 0), at('running', 1), at('failed', 1)];
    const shown: string[] = [];
    let last: JobProgress | undefined;
    for (const u of updates) {
      if (!followsOn(last, u)) continue;
      last = u;
      if (shown.at(-1) !== u.status) shown.push(u.status);
    }
    expect(shown).toEqual(['running', 'failed']);
  });

  it('still shows a retry: running, retrying, running again, completed', () => {
    const updates = [
      at('queued', 0),
      at('running', 1),
      at('retrying', 1),
      at('running', 2),
      at('completed', 2),
    ];
    let last: JobProgress | undefined;
    for (const u of updates) {
      expect(followsOn(last, u)).toBe(true);
      last = u;
    }
    expect(followsOn(at('running', 2), at('retrying', 1))).toBe(false);
    expect(followsOn(at('failed', 1), at('running', 1))).toBe(false);
    // Without attempts, only a step back to queued is refused.
    expect(followsOn(at('running'), at('queued'))).toBe(false);
    expect(followsOn(at('queued'), at('running'))).toBe(true);
  });
});
