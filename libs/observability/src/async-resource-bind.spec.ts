import { AsyncLocalStorage, AsyncResource, executionAsyncId } from 'node:async_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { installLeanAsyncResourceBind } from './async-resource-bind';

const nodeBind = AsyncResource.prototype.bind;
installLeanAsyncResourceBind();

describe('installLeanAsyncResourceBind', () => {
  it('gives bound functions their resource as a data property, not an accessor (no getter/setter pair)', () => {
    const resource = new AsyncResource('test');
    const bound = resource.bind(() => 1);
    const descriptor = Object.getOwnPropertyDescriptor(bound, 'asyncResource');
    expect(descriptor).toEqual({ value: resource, writable: true, enumerable: true, configurable: true });
    expect(AsyncResource.bind(() => 1)).not.toHaveProperty('asyncResource.get');
  });

  it("runs the function in the resource's async scope with the caller's this and arguments", () => {
    const resource = new AsyncResource('test');
    const bound = resource.bind(function (this: unknown, a: number, b: number) {
      return { id: executionAsyncId(), self: this, sum: a + b };
    });
    const self = { name: 'caller' };
    expect(bound.call(self, 2, 3)).toEqual({ id: resource.asyncId(), self, sum: 5 });
    expect(bound.length).toBe(2);
  });

  it('binds thisArg when given, and keeps the async context of the binding', () => {
    const storage = new AsyncLocalStorage<string>();
    const target = { name: 'target' };
    const bound = storage.run('request-1', () =>
      AsyncResource.bind(
        function (this: unknown) {
          return { store: storage.getStore(), self: this };
        },
        'test',
        target,
      ),
    );
    expect(bound()).toEqual({ store: 'request-1', self: target });
  });

  it("keeps Node's error for a non-function", () => {
    let thrown: unknown;
    try {
      new AsyncResource('test').bind(42 as unknown as () => void);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
  });

  it('is idempotent', () => {
    const before = AsyncResource.prototype.bind;
    installLeanAsyncResourceBind();
    expect(AsyncResource.prototype.bind).toBe(before);
  });

  it('lets what a dead bound function reached die in the young generation instead of being promoted', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (options?: { type: 'minor' | 'major'; execution: 'sync' }) => void;
    const oldSpace = () =>
      getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')?.space_used_size ?? 0;
    /** Old-generation growth over two scavenges after 2,000 dead bound functions reaching 4 KB each. */
    const promotedWith = (bind: typeof nodeBind) => {
      gc({ type: 'major', execution: 'sync' });
      const before = oldSpace();
      for (let i = 0; i < 2000; i++) {
        const payload = new Array<number>(512).fill(i);
        bind.call(new AsyncResource('test'), () => payload.length);
      }
      gc({ type: 'minor', execution: 'sync' });
      gc({ type: 'minor', execution: 'sync' });
      return oldSpace() - before;
    };
    const node = promotedWith(nodeBind);
    const lean = promotedWith(AsyncResource.prototype.bind);
    // Node's bind promotes every payload (~8 MB); what the lean one leaves is the test's own noise.
    expect(node).toBeGreaterThan(6 * 1024 * 1024);
    expect(lean).toBeLessThan(node / 4);
  });
});
