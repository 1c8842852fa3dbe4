import type { AnyJobHandler, AnyJobTypeDefinition } from './handler';

export class HandlerRegistryError extends Error {}

/**
 * Handlers checked at boot: a duplicate type or an unknown queue stops the worker before it
 * consumes anything.
 */
export class HandlerRegistry<T extends AnyJobTypeDefinition = AnyJobHandler> {
  private readonly byType = new Map<string, T>();

  /**
   * `knownQueues` is the caller's (BUILT_IN_QUEUES for the built-in types): the SDK imports no
   * runtime value of @switchyard/contracts, so a pool thread that loads the SDK's errors stays small.
   */
  constructor(
    handlers: readonly T[],
    private readonly knownQueues: readonly string[],
  ) {
    const problems: string[] = [];
    for (const handler of handlers) {
      if (this.byType.has(handler.type)) problems.push(`duplicate job type "${handler.type}"`);
      if (!knownQueues.includes(handler.queue)) {
        problems.push(`job type "${handler.type}" names unknown queue "${handler.queue}"`);
      }
      this.byType.set(handler.type, handler);
    }
    if (problems.length) throw new HandlerRegistryError(`invalid handler registry: ${problems.join('; ')}`);
  }

  /**
   * Adds a type learnt later (the gateway reading types that workers registered). A type already
   * known keeps its definition; one on an unknown queue is refused. Returns whether it was added.
   */
  register(definition: T): boolean {
    if (this.byType.has(definition.type) || !this.knownQueues.includes(definition.queue)) return false;
    this.byType.set(definition.type, definition);
    return true;
  }

  get(type: string): T | undefined {
    return this.byType.get(type);
  }

  list(): T[] {
    return [...this.byType.values()];
  }

  queues(): string[] {
    return [...new Set(this.list().map((h) => h.queue))];
  }
}
