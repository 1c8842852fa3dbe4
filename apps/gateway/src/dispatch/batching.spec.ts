import { dispatchedJobs, jobDispatchBatch } from '@switchyard/contracts';
import { batchSizeOf, dispatchBatches, SHORT_TIMEOUT_MAX_MS } from './batching';
import { dispatchBatchSize } from './dispatch.module';

describe('batchSizeOf: K per job type', () => {
  it('gives a short type the maximum, capped at 16', () => {
    expect(batchSizeOf({}, 8)).toBe(8);
    expect(batchSizeOf({ timeoutMs: SHORT_TIMEOUT_MAX_MS }, 8)).toBe(8);
    expect(batchSizeOf({}, 64)).toBe(16);
    expect(batchSizeOf({}, 0)).toBe(1);
  });

  it('gives a long, keyed, rated or unknown type one job per message', () => {
    expect(batchSizeOf(undefined, 8)).toBe(1);
    expect(batchSizeOf({ long: true }, 8)).toBe(1);
    expect(batchSizeOf({ timeoutMs: SHORT_TIMEOUT_MAX_MS + 1 }, 8)).toBe(1);
    expect(batchSizeOf({ concurrencyKey: 'model:x' }, 8)).toBe(1);
    expect(batchSizeOf({ rateKey: () => 'provider:p' }, 8)).toBe(1);
  });

  it('takes DISPATCH_BATCH_MAX, at most WORKER_CONCURRENCY, from the gateway config and the registry', () => {
    const registry = {
      get: (type: string) =>
        ({ noop: { defaults: {} }, 'audio.analyze': { defaults: { timeoutMs: 120000 } } })[type] as never,
    };
    const of = (max: number, concurrency: number) =>
      dispatchBatchSize({ DISPATCH_BATCH_MAX: max, WORKER_CONCURRENCY: concurrency }, registry);
    expect(of(16, 8)('noop')).toBe(8);
    expect(of(4, 8)('noop')).toBe(4);
    expect(of(1, 8)('noop')).toBe(1);
    expect(of(16, 8)('audio.analyze')).toBe(1);
    expect(of(16, 8)('not-registered')).toBe(1);
  });
});

describe('dispatchBatches', () => {
  const job = (id: string, type: string, effectivePriority: number, queue = 'default') => ({
    id,
    type,
    effectivePriority,
    queue,
  });
  const ids = (batches: { id: string }[][]) => batches.map((b) => b.map((j) => j.id));

  it('groups jobs of one priority and type, at most K per message, in release order', () => {
    const jobs = [
      job('a', 'noop', 9),
      job('b', 'noop', 9),
      job('c', 'noop', 5),
      job('d', 'noop', 9),
      job('e', 'noop', 9),
      job('f', 'other', 9),
      job('g', 'noop', 5),
    ];
    expect(ids(dispatchBatches(jobs, () => 3))).toEqual([['a', 'b', 'd'], ['c', 'g'], ['e'], ['f']]);
  });

  it('never puts jobs of two queues in one message (a re-release spans queues)', () => {
    const jobs = [job('a', 'noop', 1, 'q1'), job('b', 'noop', 1, 'q2'), job('c', 'noop', 1, 'q1')];
    expect(ids(dispatchBatches(jobs, () => 16))).toEqual([['a', 'c'], ['b']]);
  });

  it('sends long types and jobs that must go alone one per message', () => {
    const jobs = [job('a', 'long', 1), job('b', 'long', 1), job('c', 'noop', 1), job('d', 'noop', 1)];
    const sizeOf = (type: string) => (type === 'long' ? 1 : 16);
    expect(ids(dispatchBatches(jobs, sizeOf, (j) => j.id === 'c'))).toEqual([['a'], ['b'], ['c'], ['d']]);
  });
});

describe('the batched work message', () => {
  const row = (id: string) => ({ id, tenant: 't', type: 'noop', queue: 'default' });

  it('keeps the single-job shape for one job, and lists every job (the first at the top) for several', () => {
    expect(jobDispatchBatch([row('a')])).toEqual({ jobId: 'a', tenant: 't', type: 'noop', queue: 'default' });
    const batch = jobDispatchBatch([row('a'), row('b')]);
    expect(batch).toMatchObject({ jobId: 'a', queue: 'default' });
    expect(dispatchedJobs(batch).map((j) => j.jobId)).toEqual(['a', 'b']);
    // A message of the old shape (in a queue during a rolling upgrade) is one job.
    expect(dispatchedJobs({ jobId: 'x', tenant: 't', type: 'noop', queue: 'default' })).toEqual([
      { jobId: 'x', tenant: 't', type: 'noop' },
    ]);
  });

  it('refuses an empty batch, more than 16 jobs, or jobs of two queues', () => {
    expect(() => jobDispatchBatch([])).toThrow(RangeError);
    expect(() => jobDispatchBatch(Array.from({ length: 17 }, (_, i) => row(String(i))))).toThrow(RangeError);
    expect(() => jobDispatchBatch([row('a'), { ...row('b'), queue: 'analysis' }])).toThrow(RangeError);
  });
});
