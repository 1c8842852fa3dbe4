import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { BUILT_IN_QUEUES } from '@switchyard/contracts';
import { HandlerRegistry, HandlerRegistryError, type AnyJobHandler } from '@switchyard/handler-sdk';

/** A handler and where it came from, so boot errors can name the module. */
export interface SourcedHandler {
  handler: AnyJobHandler;
  /** "built-in" or the module specifier from WORKER_HANDLER_MODULES. */
  source: string;
}

export const BUILT_IN_SOURCE = 'built-in';

/** Splits WORKER_HANDLER_MODULES (comma-separated, blanks ignored). */
export function parseModuleList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * Loads the job-type modules named in WORKER_HANDLER_MODULES. A path (absolute, starting with
 * `.`, or an existing file relative to `cwd`) is resolved from `cwd`; anything else is a package
 * name resolved from `cwd`'s node_modules. A module exports a handler or an array of them as its
 * default export or as `handlers` (CommonJS `module.exports = handler` counts as default).
 */
export function loadHandlerModules(specifiers: readonly string[], cwd = process.cwd()): SourcedHandler[] {
  // Resolution "from the working directory", like `node -r`, whatever this file's location.
  const load = createRequire(join(cwd, 'worker-handler-modules.js'));
  const loaded: SourcedHandler[] = [];
  for (const specifier of specifiers) {
    const isPath = isAbsolute(specifier) || specifier.startsWith('.') || existsSync(resolve(cwd, specifier));
    const target = isPath ? resolve(cwd, specifier) : specifier;
    let exported: unknown;
    try {
      exported = load(target);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new HandlerRegistryError(`WORKER_HANDLER_MODULES: cannot load "${specifier}": ${reason}`);
    }
    const handlers = handlersOf(exported);
    if (!handlers) {
      throw new HandlerRegistryError(
        `WORKER_HANDLER_MODULES: "${specifier}" exports no handler (expected a default export or \`handlers\`: a handler or an array of them)`,
      );
    }
    handlers.forEach((candidate, index) => {
      const problem = shapeProblem(candidate);
      if (problem) {
        throw new HandlerRegistryError(
          `WORKER_HANDLER_MODULES: "${specifier}" handler ${index + 1} is not a handler: ${problem}`,
        );
      }
      loaded.push({ handler: candidate as AnyJobHandler, source: specifier });
    });
  }
  return loaded;
}

function handlersOf(exported: unknown): unknown[] | undefined {
  if (exported === null || typeof exported !== 'object') return undefined;
  const module = exported as { handlers?: unknown; default?: unknown };
  const value = module.handlers ?? module.default ?? (shapeProblem(exported) ? undefined : exported);
  if (value === undefined || value === null) return undefined;
  return Array.isArray(value) ? (value as unknown[]) : [value];
}

function shapeProblem(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return 'not an object';
  const h = value as Partial<Record<keyof AnyJobHandler, unknown>>;
  if (typeof h.type !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/.test(h.type)) {
    return '`type` must be a name of letters, digits, "_", "." and "-"';
  }
  if (typeof h.queue !== 'string') return `"${h.type}": \`queue\` must be a string`;
  if (h.payloadSchema === null || typeof h.payloadSchema !== 'object') {
    return `"${h.type}": \`payloadSchema\` must be a JSON Schema object`;
  }
  if (h.defaults !== undefined && (h.defaults === null || typeof h.defaults !== 'object')) {
    return `"${h.type}": \`defaults\` must be an object`;
  }
  if (typeof h.handle !== 'function') return `"${h.type}": \`handle\` must be a function`;
  return undefined;
}

/**
 * The worker's registry: built-in and module handlers together. A duplicate type or an unknown
 * queue stops the boot with a message that names the modules involved.
 */
export function buildRegistry(
  handlers: readonly SourcedHandler[],
  knownQueues: readonly string[] = BUILT_IN_QUEUES,
): HandlerRegistry {
  const problems: string[] = [];
  const sourceOf = new Map<string, string>();
  for (const { handler, source } of handlers) {
    const earlier = sourceOf.get(handler.type);
    if (earlier !== undefined) {
      problems.push(`duplicate job type "${handler.type}" (defined by ${earlier} and by ${source})`);
    } else sourceOf.set(handler.type, source);
    if (!knownQueues.includes(handler.queue)) {
      problems.push(
        `job type "${handler.type}" from ${source} names unknown queue "${handler.queue}" (known: ${knownQueues.join(', ')})`,
      );
    }
  }
  if (problems.length) throw new HandlerRegistryError(`invalid handler registry: ${problems.join('; ')}`);
  // Plain-JS modules may leave `defaults` out; the runner reads it on every failure.
  return new HandlerRegistry(
    handlers.map(({ handler }) =>
      handler.defaults ? handler : { ...handler, defaults: {}, handle: handler.handle.bind(handler) },
    ),
    knownQueues,
  );
}
