import { AsyncResource } from 'node:async_hooks';

const LEAN = Symbol('switchyard.leanAsyncResourceBind');

type Bind = AsyncResource['bind'] & { [LEAN]?: true };

/**
 * Replaces `AsyncResource.prototype.bind` (and so the static `AsyncResource.bind`) with one that
 * gives the bound function its `asyncResource` as a plain data property instead of Node's
 * deprecated (DEP0172) getter and setter. Behaviour is otherwise Node's: the function runs in the
 * resource's async scope with the caller's `this` (or `thisArg`) and arguments, its `length` is
 * the wrapped function's.
 *
 * Why (docs/performance.md, "The gateway's promoted tenth"): V8 keeps an accessor property's
 * getter/setter pair in the old generation. Node 20's bind defines one per bound function, with
 * closures over the resource and the wrapped function, so whatever the wrapped function reaches is
 * referenced from the old generation until the next full collection: it survives two scavenges
 * and is promoted. Fastify binds one per request with a body (its content-type parser's `done`,
 * which reaches the request, the reply and the route's handler), so about a tenth of everything the
 * gateway allocated was promoted and a mark-compact followed every ~3 s at 300 submissions a second.
 * Idempotent; in effect for the whole process once called.
 */
export function installLeanAsyncResourceBind(): void {
  const prototype = AsyncResource.prototype as { bind: Bind };
  const original = prototype.bind;
  if (original[LEAN]) return;
  const lean = function bind(this: AsyncResource, fn: unknown, thisArg?: unknown): unknown {
    // Node's own argument check and error for anything that is not a function.
    if (typeof fn !== 'function') return Reflect.apply(original, this, [fn, thisArg]);
    const wrapped = fn as (...args: unknown[]) => unknown;
    const run = this.runInAsyncScope.bind(this);
    const bound =
      thisArg === undefined
        ? function (this: unknown, ...args: unknown[]) {
            return run(wrapped, this, ...args);
          }
        : (...args: unknown[]) => run(wrapped, thisArg, ...args);
    Object.defineProperty(bound, 'length', {
      configurable: true,
      enumerable: false,
      writable: false,
      value: wrapped.length,
    });
    return Object.assign(bound, { asyncResource: this });
  } as Bind;
  lean[LEAN] = true;
  prototype.bind = lean;
}
