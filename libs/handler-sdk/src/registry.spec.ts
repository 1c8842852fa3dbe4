import { Type } from '@sinclair/typebox';
import { BUILT_IN_QUEUES } from '@switchyard/contracts';
import { defineHandler, resolveDefaults, type AnyJobHandler } from './handler';
import { HandlerRegistry, HandlerRegistryError } from './registry';

const handler = (type: string, queue = 'default'): AnyJobHandler =>
  defineHandler<Record<string, never>>({
    type,
    queue,
    payloadSchema: Type.Object({}),
    defaults: {},
    handle: () => Promise.resolve({ result: null }),
  });

describe('HandlerRegistry', () => {
  it('lists its handlers and the queues they run on', () => {
    const registry = new HandlerRegistry(
      [handler('a'), handler('b', 'analysis'), handler('c')],
      BUILT_IN_QUEUES,
    );
    expect(registry.get('b')?.queue).toBe('analysis');
    expect(registry.get('missing')).toBeUndefined();
    expect(registry.list().map((h) => h.type)).toEqual(['a', 'b', 'c']);
    expect(registry.queues()).toEqual(['default', 'analysis']);
  });

  it('refuses a duplicate type and an unknown queue, naming both', () => {
    const build = () =>
      new HandlerRegistry([handler('a'), handler('a'), handler('b', 'nowhere')], BUILT_IN_QUEUES);
    expect(build).toThrow(HandlerRegistryError);
    expect(build).toThrow('duplicate job type "a"; job type "b" names unknown queue "nowhere"');
  });

  it('adds a type learnt later unless it is known or its queue is not', () => {
    const registry = new HandlerRegistry([handler('a')], BUILT_IN_QUEUES);
    const replacement = handler('a', 'generation');
    expect(registry.register(replacement)).toBe(false);
    expect(registry.get('a')?.queue).toBe('default');
    expect(registry.register(handler('b', 'nowhere'))).toBe(false);
    expect(registry.register(handler('b', 'generation'))).toBe(true);
    expect(registry.queues()).toEqual(['default', 'generation']);
  });
});

describe('resolveDefaults', () => {
  it('evaluates defaults that are functions of the payload', () => {
    const definition = defineHandler<{ size: number }>({
      type: 'sized',
      queue: 'default',
      payloadSchema: Type.Object({ size: Type.Number() }),
      defaults: { priority: (p) => (p.size < 10 ? 8 : 2), cacheable: (p) => p.size > 0, maxAttempts: 4 },
      handle: () => Promise.resolve({ result: null }),
    }) as AnyJobHandler;
    expect(resolveDefaults(definition, { size: 1 })).toEqual({
      priority: 8,
      cacheable: true,
      timeoutMs: undefined,
      maxAttempts: 4,
    });
    expect(resolveDefaults(handler('plain'), {})).toEqual({
      priority: undefined,
      cacheable: false,
      timeoutMs: undefined,
      maxAttempts: undefined,
    });
  });
});
