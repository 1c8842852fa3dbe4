import { dispatchedJobs, JOB_DISPATCH } from '@switchyard/contracts';
import { JobsService } from './jobs.service';
import { validSubmission } from './submission.testing';

const submission = (type: string, priority: number) => validSubmission({ type, priority, timeoutMs: 1000 });

function serviceWith(fast: boolean) {
  const dispatcher = {
    reserveFast: () => fast,
    batchSizeOf: (type: string) => (type === 'long' ? 1 : 4),
  };
  const none = {} as never;
  return new JobsService(none, none, none, none, none, dispatcher as never, none);
}

describe('JobsService.prepare: the insert’s own release', () => {
  it('writes one outbox row per work message (K jobs of one priority and type), beside one job.queued per job', () => {
    const submissions = [
      ...Array.from({ length: 6 }, () => submission('noop', 5)),
      submission('noop', 1),
      submission('long', 5),
      submission('long', 5),
    ];
    const { jobs, outbox } = serviceWith(true).prepare(submissions, 'tenant-a');
    expect(jobs.every((j) => j.released)).toBe(true);
    const dispatches = outbox.filter((m) => m.name === JOB_DISPATCH);
    expect(outbox.filter((m) => m.name === 'switchyard.job.queued')).toHaveLength(9);
    // noop at 5: 4 + 2; noop at 1: 1; long: one each.
    expect(dispatches.map((m) => dispatchedJobs(m.payload).length)).toEqual([4, 2, 1, 1, 1]);
    expect(dispatches.map((m) => m.options.priority)).toEqual([5, 5, 1, 5, 5]);
    const carried = dispatches.flatMap((m) => dispatchedJobs(m.payload).map((j) => j.jobId));
    expect(carried.sort()).toEqual(jobs.map((j) => j.id).sort());
  });

  it('writes no work message when the insert may not release its jobs', () => {
    const { outbox } = serviceWith(false).prepare([submission('noop', 5), submission('noop', 5)], 'tenant-a');
    expect(outbox.map((m) => m.name)).toEqual(['switchyard.job.queued', 'switchyard.job.queued']);
  });

  it('puts each job’s priority on its job.queued (the metrics service counts it without a lookup)', () => {
    const { outbox } = serviceWith(false).prepare([submission('noop', 7), submission('noop', 0)], 'tenant-a');
    expect(outbox.map((m) => (m.name === 'switchyard.job.queued' ? m.payload.data.priority : null))).toEqual([
      7, 0,
    ]);
  });
});
