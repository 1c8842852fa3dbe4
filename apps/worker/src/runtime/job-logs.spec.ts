import { Writable } from 'node:stream';
import type { JobLogEvent } from '@switchyard/contracts';
import { createLogger } from '@switchyard/observability';
import type { NewJobLogLine } from '@switchyard/persistence';
import { JobLogWriter } from './job-logs';

const quiet = createLogger('worker', 'silent', new Writable({ write: (_c, _e, done) => done() }));

function writer(options: Partial<ConstructorParameters<typeof JobLogWriter>[3]> = {}, failing = false) {
  const stored: NewJobLogLine[] = [];
  const overflow: { jobId: string; attempt: number; dropped: number }[] = [];
  const announced: JobLogEvent[] = [];
  const store = {
    append: (lines: readonly NewJobLogLine[]) =>
      failing ? Promise.reject(new Error('database down')) : (stored.push(...lines), Promise.resolve()),
    recordOverflow: (entries: readonly { jobId: string; attempt: number; dropped: number }[]) => {
      overflow.push(...entries);
      return Promise.resolve();
    },
  };
  const logs = new JobLogWriter(store, (events) => (announced.push(...events), Promise.resolve()), quiet, {
    maxLines: 5,
    lineMaxChars: 10,
    flushMs: 10_000,
    ...options,
  });
  return { logs, stored, overflow, announced };
}

describe('JobLogWriter', () => {
  it('keeps JOB_LOG_MAX_LINES per attempt, counts the rest, and writes them with the attempt', async () => {
    const { logs, stored, overflow, announced } = writer();
    const log = logs.attempt('job-1', 2);
    for (let i = 1; i <= 8; i++) log.info(`line ${i}`);
    expect(stored).toEqual([]); // nothing from the handler's call
    await logs.finish(log);
    expect(stored.map((l) => l.message)).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5']);
    expect(stored[0]).toMatchObject({ jobId: 'job-1', attempt: 2, level: 'info', fields: null });
    expect(overflow).toEqual([{ jobId: 'job-1', attempt: 2, dropped: 3 }]);
    expect(announced.map((e) => e.jobId)).toEqual(['job-1']);
    expect(announced[0]?.lines).toHaveLength(5);
  });

  it('cuts long messages, makes text and fields storable, and bounds fields', async () => {
    const { logs, stored } = writer();
    const log = logs.attempt('job-1', 1);
    log.warn('0123456789abcdef', { note: 'nul\u0000here' });
    log.error('x', { big: 'y'.repeat(10_000) });
    log.info('nul\u0000', 'not an object' as unknown as Record<string, unknown>);
    await logs.finish(log);
    expect(stored[0]).toMatchObject({
      level: 'warn',
      message: '0123456789',
      fields: { note: 'nul\uFFFDhere' },
    });
    expect(stored[1]?.fields).toMatchObject({ truncated: true });
    expect(Number(stored[1]?.fields?.['bytes'])).toBeGreaterThan(8192);
    expect(stored[2]).toMatchObject({ message: 'nul\uFFFD', fields: { value: 'not an ob' + 'ject' } });
  });

  it('costs an attempt that logged nothing no wait, and writes a full batch at once', async () => {
    const { logs, stored } = writer({ batchLines: 3, maxLines: 100 });
    expect(logs.finish(logs.attempt('quiet', 1))).toBeUndefined();
    const log = logs.attempt('job-2', 1);
    log.info('a');
    log.info('b');
    log.info('c');
    await logs.flush();
    expect(stored.map((l) => l.message)).toEqual(['a', 'b', 'c']);
  });

  it('drops lines beyond its buffer, counted, and survives a failed write', async () => {
    const full = writer({ maxBuffered: 2, maxLines: 100 });
    const log = full.logs.attempt('job-3', 1);
    for (let i = 0; i < 4; i++) log.info(String(i));
    expect(log.dropped).toBe(2);
    await full.logs.finish(log);
    expect(full.overflow).toEqual([{ jobId: 'job-3', attempt: 1, dropped: 2 }]);

    const failing = writer({}, true);
    const lost = failing.logs.attempt('job-4', 1);
    lost.info('gone');
    await expect(failing.logs.finish(lost)).resolves.toBeUndefined();
    expect(lost.unwritten).toBe(0);
    expect(failing.announced).toEqual([]);
  });
});
