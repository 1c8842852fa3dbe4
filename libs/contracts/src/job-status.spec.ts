import { canTransition, isTerminal, statusesLeadingTo, assertTransition, JOB_STATUSES } from './job-status';

describe('job state machine', () => {
  it('allows exactly the transitions of SPEC §3', () => {
    const allowed = JOB_STATUSES.flatMap((from) =>
      JOB_STATUSES.filter((to) => canTransition(from, to)).map((to) => `${from}>${to}`),
    ).sort();
    expect(allowed).toEqual(
      [
        'queued>running',
        'queued>cancelled',
        'running>completed',
        'running>failed',
        'running>cancelled',
        'running>retrying',
        'running>queued',
        'retrying>running',
        'retrying>cancelled',
        'failed>queued',
        'cancelled>queued',
      ].sort(),
    );
  });

  it('never moves a completed job', () => {
    expect(isTerminal('completed')).toBe(true);
    expect(JOB_STATUSES.some((to) => canTransition('completed', to))).toBe(false);
    expect(() => assertTransition('completed', 'running')).toThrow('illegal job transition');
  });

  it('lists the statuses a claim may start from', () => {
    expect(statusesLeadingTo('running').sort()).toEqual(['queued', 'retrying']);
  });
});
