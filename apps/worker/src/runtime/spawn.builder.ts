import { randomUUID } from 'node:crypto';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { DEFAULT_PRIORITY, LIMITS, parsePriority } from '@switchyard/contracts';
import {
  PermanentError,
  resolveDefaults,
  type AnyJobHandler,
  type HandlerRegistry,
  type SpawnedJob,
} from '@switchyard/handler-sdk';
import type { ClaimedJob, NewJob } from '@switchyard/persistence';

/** The default attempts of a job whose type names none (as for submissions). */
const DEFAULT_MAX_ATTEMPTS = 3;

export interface SpawnLimits {
  /** FLOW_MAX_SPAWN: children per call. */
  maxChildren: number;
  defaultTimeoutMs: number;
  maxTimeoutMs: number;
}

type SpawnRow = Omit<NewJob, 'flowId' | 'spawnedBy' | 'spawnIndex' | 'pendingDeps'>;

/**
 * Turns what a handler passes to `ctx.spawn` into jobs, checked like submissions: a known type,
 * the payload against its schema (defaults filled in), bounded options; any problem fails the
 * spawning job permanently (`invalid_spawn`), since running it again would spawn the same.
 */
export class SpawnBuilder {
  private readonly ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(
    private readonly registry: HandlerRegistry<AnyJobHandler>,
    private readonly limits: SpawnLimits,
  ) {
    addFormats(this.ajv);
  }

  build(
    parent: Pick<ClaimedJob, 'id' | 'tenant' | 'ref' | 'correlation_id'>,
    children: readonly SpawnedJob[],
    continuation: SpawnedJob | undefined,
  ): { children: SpawnRow[]; continuation: SpawnRow | null } {
    // Handlers are JavaScript too: the list is checked, not trusted.
    const given: unknown = children;
    const isList = Array.isArray(given);
    if (!isList || children.length === 0 || children.length > this.limits.maxChildren) {
      throw new PermanentError(
        `ctx.spawn takes 1 to ${this.limits.maxChildren} jobs (FLOW_MAX_SPAWN), got ${isList ? children.length : 'no list'}`,
        'invalid_spawn',
      );
    }
    const base = parent.ref ?? 'root';
    return {
      children: children.map((child, i) => this.row(parent, child, `${base}.${i}`, `child ${i}`)),
      continuation: continuation
        ? this.row(parent, continuation, `${base}.continuation`, 'the continuation')
        : null,
    };
  }

  private row(
    parent: Pick<ClaimedJob, 'tenant' | 'correlation_id'>,
    job: SpawnedJob,
    defaultRef: string,
    what: string,
  ): SpawnRow {
    const invalid = (message: string) => new PermanentError(`spawned ${what}: ${message}`, 'invalid_spawn');
    const handler = typeof job?.type === 'string' ? this.registry.get(job.type) : undefined;
    if (!handler) throw invalid(`unknown job type "${String(job?.type)}"`);
    const payload = structuredClone(job.payload ?? {});
    const validate = this.validatorFor(handler);
    if (!validate(payload)) {
      throw invalid(
        `payload does not match the "${handler.type}" schema: ${this.ajv.errorsText(validate.errors)}`,
      );
    }
    const defaults = resolveDefaults(handler, payload);
    const timeoutMs = job.timeoutMs ?? defaults.timeoutMs ?? this.limits.defaultTimeoutMs;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > this.limits.maxTimeoutMs) {
      throw invalid(`timeoutMs must be 1 to ${this.limits.maxTimeoutMs}`);
    }
    const maxAttempts = job.maxAttempts ?? defaults.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > LIMITS.maxAttempts) {
      throw invalid(`maxAttempts must be 1 to ${LIMITS.maxAttempts}`);
    }
    const priority =
      job.priority === undefined ? (defaults.priority ?? DEFAULT_PRIORITY) : parsePriority(job.priority);
    if (priority === undefined) throw invalid('priority must be 0–9 or low, normal, high, critical');
    const metadata = job.metadata ?? {};
    if (Buffer.byteLength(JSON.stringify(metadata)) > LIMITS.metadataBytes) {
      throw invalid(`metadata must be at most ${LIMITS.metadataBytes} bytes as JSON`);
    }
    const ref = job.ref ?? defaultRef;
    if (typeof ref !== 'string' || ref.length === 0 || ref.length > 200)
      throw invalid('ref must be 1 to 200 characters');
    return {
      id: randomUUID(),
      tenant: parent.tenant,
      type: handler.type,
      queue: handler.queue,
      priority,
      maxAttempts,
      timeoutMs,
      correlationId: parent.correlation_id,
      idempotencyKey: null,
      // Spawned jobs never join the dedup window or the result cache.
      requestHash: '',
      payload,
      metadata,
      ref,
    };
  }

  private validatorFor(handler: AnyJobHandler): ValidateFunction {
    let validate = this.validators.get(handler.type);
    if (!validate) {
      validate = this.ajv.compile(handler.payloadSchema);
      this.validators.set(handler.type, validate);
    }
    return validate;
  }
}
