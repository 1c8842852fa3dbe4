import { BUILT_IN_QUEUES } from '@switchyard/contracts';
import { HandlerRegistry, PermanentError, type SpawnedJob } from '@switchyard/handler-sdk';
import { syntheticHandler } from '@switchyard/handlers';
import { SpawnBuilder } from './spawn.builder';

const MAX_CHILDREN = 3;
const builder = new SpawnBuilder(new HandlerRegistry([syntheticHandler], BUILT_IN_QUEUES), {
  maxChildren: MAX_CHILDREN,
  defaultTimeoutMs: 600000,
  maxTimeoutMs: 86400000,
});
const parent = { id: 'p', tenant: 'acme', ref: 'split', correlation_id: 'corr' };
const child = (i: number): SpawnedJob => ({ type: 'synthetic', payload: { durationMs: i } });
const children = (n: number): SpawnedJob[] => Array.from({ length: n }, (_, i) => child(i));

/** What `build` throws, or a failure when it builds. */
function refusal(build: () => unknown): PermanentError {
  try {
    build();
  } catch (error) {
    if (error instanceof PermanentError) return error;
    throw error;
  }
  throw new Error('the spawn was accepted');
}

describe('SpawnBuilder: the FLOW_MAX_SPAWN bound', () => {
  it('builds up to FLOW_MAX_SPAWN children, plus a continuation that does not count against it', () => {
    const built = builder.build(parent, children(MAX_CHILDREN), child(9));
    expect(built.children.map((c) => c.ref)).toEqual(['split.0', 'split.1', 'split.2']);
    expect(built.children[2]).toMatchObject({ tenant: 'acme', type: 'synthetic', correlationId: 'corr' });
    expect(built.continuation?.ref).toBe('split.continuation');
  });

  it('fails the spawning job permanently (invalid_spawn) with one child more than FLOW_MAX_SPAWN', () => {
    const error = refusal(() => builder.build(parent, children(MAX_CHILDREN + 1), undefined));
    expect(error.code).toBe('invalid_spawn');
    expect(error.message).toBe(`ctx.spawn takes 1 to ${MAX_CHILDREN} jobs (FLOW_MAX_SPAWN), got 4`);
  });

  it('refuses no children and a value that is not a list', () => {
    expect(refusal(() => builder.build(parent, [], child(0))).code).toBe('invalid_spawn');
    const notAList = { length: 1, 0: child(0) } as unknown as SpawnedJob[];
    expect(refusal(() => builder.build(parent, notAList, undefined)).message).toMatch(/got no list$/);
  });
});
