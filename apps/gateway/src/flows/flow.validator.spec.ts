import { ApiError, BUILT_IN_QUEUES } from '@switchyard/contracts';
import { HandlerRegistry } from '@switchyard/handler-sdk';
import { BUILT_IN_JOB_TYPES } from '@switchyard/handlers';
import { SubmissionValidator } from '../jobs/submission.validator';
import { DEPENDS_ON_MAX, dependencyOrder, validateFlow } from './flow.validator';
import { flowStatusOf } from './flows.service';

const validator = new SubmissionValidator(new HandlerRegistry(BUILT_IN_JOB_TYPES, BUILT_IN_QUEUES), {
  defaultTimeoutMs: 600000,
  maxTimeoutMs: 86400000,
});
const check = (body: unknown, index: number) => validator.check(body, index);
const job = (ref: string, dependsOn?: string[], extra: Record<string, unknown> = {}) => ({
  ref,
  type: 'synthetic',
  payload: {},
  ...(dependsOn ? { dependsOn } : {}),
  ...extra,
});

function problems(
  body: unknown,
  max = 500,
): { code: string; details: { index?: number; field?: string; message?: string }[] } {
  try {
    validateFlow(body, max, check);
  } catch (error) {
    if (error instanceof ApiError) return { code: error.code, details: error.details };
    throw error;
  }
  throw new Error('the flow was accepted');
}

describe('validateFlow', () => {
  it('accepts a diamond with defaults filled in and the rule defaulting to fail', () => {
    const flow = validateFlow(
      {
        name: 'd',
        jobs: [
          job('A'),
          job('B', ['A']),
          job('C', ['A'], { onDependencyFailure: 'skip' }),
          job('D', ['B', 'C']),
        ],
      },
      500,
      check,
    );
    expect(flow.name).toBe('d');
    expect(flow.items.map((i) => [i.ref, i.dependsOn, i.onDependencyFailure])).toEqual([
      ['A', [], 'fail'],
      ['B', ['A'], 'fail'],
      ['C', ['A'], 'skip'],
      ['D', ['B', 'C'], 'fail'],
    ]);
    expect(flow.items[0]?.submission.payload).toEqual({ durationMs: 0, steps: 0 });
  });

  it('names every job on a cycle', () => {
    const found = problems({ jobs: [job('a', ['c']), job('b', ['a']), job('c', ['b']), job('free')] });
    expect(found.code).toBe('flow_invalid');
    expect(found.details.map((d) => d.index).sort()).toEqual([0, 1, 2]);
  });

  it('names an unknown ref, a self-dependency, a repeated ref and a bad payload by index', () => {
    const found = problems({
      jobs: [
        job('a', ['nope']),
        job('b', ['b']),
        job('a'),
        { ref: 'd', type: 'synthetic', payload: { durationMs: -1 } },
        { ref: 'bad ref!', type: 'synthetic', payload: {} },
        job('f', ['a'], { onDependencyFailure: 'maybe' }),
        job('g', ['a'], { delayMs: 1000 }),
      ],
    });
    expect(found.code).toBe('flow_invalid');
    expect(found.details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ index: 0, field: 'dependsOn' }),
        expect.objectContaining({ index: 1, field: 'dependsOn' }),
        expect.objectContaining({ index: 2, field: 'ref' }),
        expect.objectContaining({ index: 3, field: 'payload.durationMs' }),
        expect.objectContaining({ index: 4, field: 'ref' }),
        expect.objectContaining({ index: 5, field: 'onDependencyFailure' }),
        expect.objectContaining({ index: 6, field: 'runAt' }),
      ]),
    );
  });

  it('requires fromDependency to name one of the job’s dependencies', () => {
    const found = problems({
      jobs: [
        { ref: 'gen', type: 'audio.generate', payload: { prompt: 'x', durationSec: 1 } },
        { ref: 'an', type: 'audio.analyze', payload: { fromDependency: 'gen' }, dependsOn: [] },
      ],
    });
    expect(found.details).toEqual([expect.objectContaining({ index: 1, field: 'payload.fromDependency' })]);
  });

  it('refuses a body that is no flow, or has more than FLOW_MAX_JOBS jobs, with flow_invalid (SPEC §11)', () => {
    expect(problems(null)).toEqual({
      code: 'flow_invalid',
      details: [expect.objectContaining({ field: 'jobs' })],
    });
    expect(problems({ jobs: [] }).code).toBe('flow_invalid');
    const tooMany = problems({ jobs: [job('a'), job('b')] }, 1);
    expect(tooMany).toEqual({ code: 'flow_invalid', details: [expect.objectContaining({ field: 'jobs' })] });
    expect(tooMany.details[0]?.message).toContain('FLOW_MAX_JOBS; has 2');
    expect(problems({ jobs: [job('a')], extra: 1 })).toEqual({
      code: 'flow_invalid',
      details: [expect.objectContaining({ field: 'extra' })],
    });
    expect(problems({ jobs: [job('a')], metadata: 'x' })).toEqual({
      code: 'flow_invalid',
      details: [expect.objectContaining({ field: 'metadata' })],
    });
  });

  it('bounds dependsOn at DEPENDS_ON_MAX refs per job', () => {
    const roots = Array.from({ length: DEPENDS_ON_MAX + 1 }, (_, i) => job(`r${i}`));
    const refs = roots.map((r) => r.ref);
    expect(validateFlow({ jobs: [...roots, job('all', refs.slice(1))] }, 5000, check).items).toHaveLength(
      DEPENDS_ON_MAX + 2,
    );
    const found = problems({ jobs: [...roots, job('all', refs)] }, 5000);
    expect(found.details).toEqual([
      expect.objectContaining({ index: DEPENDS_ON_MAX + 1, field: 'dependsOn' }),
    ]);
  });
});

describe('dependencyOrder', () => {
  it('puts every job after the jobs it depends on, keeping the given order otherwise', () => {
    const jobs = [
      { ref: 'D', deps: ['B', 'C'] },
      { ref: 'x', deps: [] },
      { ref: 'B', deps: ['A'] },
      { ref: 'C', deps: ['A'] },
      { ref: 'A', deps: [] },
    ];
    const order = dependencyOrder(
      jobs,
      (j) => j.ref,
      (j) => j.deps,
    ).map((j) => j.ref);
    expect(order).toHaveLength(5);
    for (const j of jobs)
      for (const dep of j.deps) expect(order.indexOf(dep)).toBeLessThan(order.indexOf(j.ref));
  });
});

describe('flowStatusOf', () => {
  const tally = (counts: Record<string, number>) => ({ counts, total: 0, lastFinishedAt: null });
  it('is running while a job is unfinished, then failed, cancelled or completed', () => {
    expect(flowStatusOf(tally({ completed: 2, waiting: 1 }))).toBe('running');
    expect(flowStatusOf(tally({ completed: 2, failed: 1, cancelled: 1 }))).toBe('failed');
    expect(flowStatusOf(tally({ completed: 2, cancelled: 1 }))).toBe('cancelled');
    expect(flowStatusOf(tally({ completed: 3 }))).toBe('completed');
  });
});
