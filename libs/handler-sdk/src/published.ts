import type { AnyJobTypeDefinition } from './handler';

/**
 * What a job type publishes of itself, in `GET /job-types` and in its `job_types` row alike: its
 * name, queue and payload JSON Schema (a TypeBox schema is plain JSON Schema once its symbol
 * keys are dropped, hence the JSON copy).
 */
export function publishedJobType(definition: AnyJobTypeDefinition): {
  type: string;
  queue: string;
  payloadSchema: Record<string, unknown>;
} {
  return {
    type: definition.type,
    queue: definition.queue,
    payloadSchema: JSON.parse(JSON.stringify(definition.payloadSchema)) as Record<string, unknown>,
  };
}
