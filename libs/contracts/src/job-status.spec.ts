import {
  ACTIVE_STATUSES,
  canTransition,
  isTerminal,
  statusesLeadingTo,
  assertTransition,
  JOB_STATUSES,
} from './job-status';

describe('job state machine', () => {
  it('allows exactly the transitions of SPEC §3', () => {
    const allowed = JOB_STATUSES.flatMap((from) =>
      JOB_STATUSES.filter((to) => canTransition(from, to)).map((to) => `${from}>${to}`),
    ).sort();
    expect(allowed).toEqual(
      [
        'scheduled>queued',
        'scheduled>cancelled',
        'waiting>queued',
        'waiting>failed',
        'waiting>cancelled',
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
        'failed>waiting',
        'cancelled>waiting',
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

  it('lets a scheduled job only become queued at its time, or be cancelled', () => {
    expect(isTerminal('scheduled')).toBe(false);
    expect(JOB_STATUSES.filter((to) => canTransition('scheduled', to)).sort()).toEqual([
      'cancelled',
      'queued',
    ]);
    expect(() => assertTransition('scheduled', 'running')).toThrow('illegal job transition');
    expect(statusesLeadingTo('scheduled')).toEqual([]);
    expect(ACTIVE_STATUSES).not.toContain('scheduled');
  });
});
