import { JOB_DISPATCH, jobDispatch, jobDispatchBatch, type JobDispatch } from '@switchyard/contracts';
import type { OutboxRecord } from '@switchyard/persistence';
import { isMergeableWork, mergeWorkMessages } from './work-messages';

type Job = { id: string; tenant: string; type: string; queue: string };
const job = (id: string, over: Partial<Job> = {}): Job => ({
  id,
  tenant: 't',
  type: 'synthetic',
  queue: 'default',
  ...over,
});

/** A work message's outbox row as an insert writes it: one job, or a batch of them. */
function work(
  rowId: string,
  jobs: Job[],
  priority = 0,
): OutboxRecord & { name: typeof JOB_DISPATCH; payload: JobDispatch } {
  const payload = jobDispatchBatch(jobs);
  return {
    id: rowId,
    jobId: payload.jobId,
    name: JOB_DISPATCH,
    payload,
    options: { priority, correlationId: `c-${rowId}`, messageId: payload.jobId },
  };
}

const sizes = (sizes: Record<string, number>) => (type: string) => sizes[type] ?? 1;

describe('mergeWorkMessages', () => {
  it('keeps a work message that travels alone as it was written', () => {
    const only = work('1', [job('a')]);
    expect(mergeWorkMessages([only], sizes({ synthetic: 16 }))).toEqual([{ message: only, ids: ['1'] }]);
  });

  it('merges the work messages of one queue, priority and type, in commit order, up to the batch size', () => {
    const rows = [
      work('1', [job('a')]),
      work('2', [job('b'), job('c')]),
      work('3', [job('d')]),
      work('4', [job('e')]),
    ];
    const merged = mergeWorkMessages(rows, sizes({ synthetic: 3 }));
    expect(merged.map((m) => m.ids)).toEqual([
      ['1', '2'],
      ['3', '4'],
    ]);
    const [first] = merged;
    expect(first?.message).toEqual({
      jobId: 'a',
      name: JOB_DISPATCH,
      payload: jobDispatchBatch([job('a'), job('b'), job('c')]),
      options: { priority: 0, correlationId: 'c-1', messageId: 'a' },
    });
    expect((merged[1]?.message.payload as JobDispatch).jobs?.map((j) => j.jobId)).toEqual(['d', 'e']);
  });

  it('never merges across queues, priorities or types, nor a long type (batch size 1)', () => {
    const rows = [
      work('1', [job('a')]),
      work('2', [job('b', { queue: 'analysis' })]),
      work('3', [job('c')], 5),
      work('4', [job('d', { type: 'other' })]),
      work('5', [job('e', { type: 'long' })]),
      work('6', [job('f', { type: 'long' })]),
      work('7', [job('g')]),
    ];
    const merged = mergeWorkMessages(rows, sizes({ synthetic: 16, other: 16, long: 1 }));
    expect(merged.map((m) => m.ids)).toEqual([['1', '7'], ['2'], ['3'], ['4'], ['5'], ['6']]);
  });
});

describe('isMergeableWork', () => {
  it('takes work messages without a start time of their own, nothing else', () => {
    expect(isMergeableWork(work('1', [job('a')]))).toBe(true);
    const delayed = work('2', [job('b')]);
    delayed.payload = { ...jobDispatch(job('b'), Date.now() + 1000) };
    expect(isMergeableWork(delayed)).toBe(false);
    const event = {
      id: '3',
      jobId: 'a',
      name: 'switchyard.job.queued',
      payload: {},
      options: {},
    } as unknown as OutboxRecord;
    expect(isMergeableWork(event)).toBe(false);
  });
});
