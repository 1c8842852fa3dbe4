import { Registry } from 'prom-client';
import { loadConfig, TrackerConfigSchema } from '@switchyard/config';
import { createLogger } from '@switchyard/observability';
import type { PurgedJobs, RetentionRepository } from '@switchyard/persistence';
import { RetentionService, retentionOptions } from './retention.service';

/** A repository that records each purge and purges nothing. */
function fakeRepository() {
  const calls: { kind: string; days: number; at: number }[] = [];
  const repository = {
    underLock: async <T>(work: () => Promise<T>) => ({ ran: true as const, value: await work() }),
    purgeJobs: (days: number): Promise<PurgedJobs> => {
      calls.push({ kind: 'jobs', days, at: Date.now() });
      return Promise.resolve({ jobs: [], events: 0 });
    },
    purgeUploads: (days: number) => {
      calls.push({ kind: 'uploads', days, at: Date.now() });
      return Promise.resolve([]);
    },
    purgeParkedEvents: (days: number) => {
      calls.push({ kind: 'parked', days, at: Date.now() });
      return Promise.resolve(0);
    },
    purgeFlows: (days: number) => {
      calls.push({ kind: 'flows', days, at: Date.now() });
      return Promise.resolve(0);
    },
  };
  return { calls, repository: repository as unknown as RetentionRepository };
}

const noStore = { remove: () => Promise.resolve() };

describe('retention settings', () => {
  beforeEach(() => jest.useFakeTimers({ now: 0 }));
  afterEach(() => jest.useRealTimers());

  it('defaults to 7 days every hour', () => {
    const options = retentionOptions(loadConfig(TrackerConfigSchema, {}));
    expect(options).toMatchObject({ retentionDays: 7, intervalMs: 3_600_000 });
  });

  it('purges with JOB_RETENTION_DAYS every CLEANUP_INTERVAL_MS', async () => {
    const config = loadConfig(TrackerConfigSchema, {
      JOB_RETENTION_DAYS: '3',
      CLEANUP_INTERVAL_MS: '5000',
      ARTIFACTS_DIR: '/nonexistent/artifacts',
      UPLOADS_DIR: '/nonexistent/uploads',
    });
    const options = retentionOptions(config);
    expect(options.tempDirs).toEqual(['/nonexistent/artifacts', '/nonexistent/uploads']);
    const { calls, repository } = fakeRepository();
    const service = new RetentionService(
      // No folders to sweep: the timing below then depends on fake timers only.
      { ...options, tempDirs: [] },
      repository,
      noStore,
      noStore,
      null,
      createLogger('test', 'silent'),
      new Registry(),
    );
    service.start();
    await jest.advanceTimersByTimeAsync(4999);
    expect(calls).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    expect(calls.filter((c) => c.kind === 'jobs')).toEqual([{ kind: 'jobs', days: 3, at: 5000 }]);
    await jest.advanceTimersByTimeAsync(4999);
    expect(calls.filter((c) => c.kind === 'jobs')).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(calls.filter((c) => c.kind === 'jobs').map((c) => c.at)).toEqual([5000, 10000]);
    expect(calls.every((c) => c.days === 3)).toBe(true);
    await service.stop();
    await jest.advanceTimersByTimeAsync(20000);
    expect(calls.filter((c) => c.kind === 'jobs')).toHaveLength(2);
  });

  it('rejects a CLEANUP_INTERVAL_MS that setTimeout cannot hold', () => {
    expect(() => loadConfig(TrackerConfigSchema, { CLEANUP_INTERVAL_MS: String(2 ** 31) })).toThrow(
      /CLEANUP_INTERVAL_MS/,
    );
  });
});
