import { publishedJobType, type AnyJobTypeDefinition } from '@switchyard/handler-sdk';
import type { JobTypeRecord, JobTypeStaticDefaults } from '@switchyard/persistence';
import type { SourcedHandler } from './handler-modules';

/**
 * The `job_types` row of a definition. Defaults that are functions of the payload cannot travel
 * as JSON: they are listed in `computedDefaults`, and the gateway uses the platform default for
 * them.
 */
export function toJobTypeRecord(definition: AnyJobTypeDefinition, source: string): JobTypeRecord {
  const defaults = (definition.defaults ?? {}) as Record<string, unknown>;
  const staticDefaults: JobTypeStaticDefaults = {};
  const computed: string[] = [];
  for (const key of ['timeoutMs', 'maxAttempts', 'priority', 'cacheable', 'retryTimeouts', 'long'] as const) {
    const value = defaults[key];
    if (typeof value === 'function') computed.push(key);
    else if (value !== undefined) Object.assign(staticDefaults, { [key]: value });
  }
  return {
    ...publishedJobType(definition),
    defaults: staticDefaults,
    computedDefaults: computed,
    source,
  };
}

export function jobTypeRecords(handlers: readonly SourcedHandler[]): JobTypeRecord[] {
  return handlers.map(({ handler, source }) => toJobTypeRecord(handler, source));
}
