import { createHash } from 'node:crypto';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import {
  ApiError,
  DEFAULT_PRIORITY,
  JobSubmissionSchema,
  LIMITS,
  parsePriority,
  type ApiErrorDetail,
  type JobSubmission,
} from '@switchyard/contracts';
import { resolveDefaults, type AnyJobTypeDefinition, type HandlerRegistry } from '@switchyard/handler-sdk';

/** A submission that passed every check, with defaults applied. */
export interface ValidSubmission {
  type: string;
  queue: string;
  payload: Record<string, unknown>;
  priority: number;
  timeoutMs: number;
  maxAttempts: number;
  metadata: Record<string, unknown>;
  idempotencyKey: string | null;
  dedupe: boolean;
  cacheable: boolean;
  /**
   * SHA-256 of the canonical request (type + payload): dedup and cache key. Empty when neither can
   * ever match this request: not cacheable and, for a single submission, `dedupe: false` (batch
   * items never join the dedup window).
   */
  requestHash: string;
  /**
   * When the job becomes `queued` (ISO-8601), from `runAt` or `delayMs`, only when still ahead:
   * the job is stored `scheduled` until then. null: queued now.
   */
  runAt: string | null;
  /** Per-key concurrency: the submission's key, else the job type's default; null: none. */
  concurrencyKey: string | null;
  /** Provider rate budgets: from the type's `rateKey` default (not a submission field). */
  rateKey: string | null;
  /**
   * The job's webhook URL override, normalised (WHATWG URL, without fragment); its origin is
   * checked against the tenant's endpoints by the submission service. Absent or null: none.
   */
  webhookUrl?: string | null;
}

export const DEFAULT_MAX_ATTEMPTS = 3;

function toDetails(
  errors: ErrorObject[] | null | undefined,
  prefix: string,
  index?: number,
): ApiErrorDetail[] {
  return (errors ?? []).map((e) => {
    const missing = e.keyword === 'required' ? `/${String(e.params['missingProperty'])}` : '';
    const extra = e.keyword === 'additionalProperties' ? `/${String(e.params['additionalProperty'])}` : '';
    const path = `${prefix}${e.instancePath}${missing}${extra}`.replace(/^\//, '').replace(/\//g, '.');
    return {
      ...(index === undefined ? {} : { index }),
      field: path || prefix || 'body',
      message: e.message ?? 'is invalid',
    };
  });
}

/** Whether any string (or key) inside a JSON value holds U+0000. */
function containsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\0');
  if (Array.isArray(value)) return value.some(containsNul);
  if (value && typeof value === 'object') {
    return Object.entries(value).some(([key, v]) => key.includes('\0') || containsNul(v));
  }
  return false;
}

/** JSON with object keys sorted, so equal requests hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The stored request hash of jobs that no dedup window or result cache can match. */
export const NO_REQUEST_HASH = '';

/** SHA-256 of type + canonical payload: the dedup and result-cache key. */
export function requestHashOf(type: string, payload: Record<string, unknown>): string {
  return createHash('sha256').update(canonicalJson({ type, payload })).digest('hex');
}

/** The parts of a submission that make it "the same request" for an idempotency key. */
export interface FingerprintFields {
  type: string;
  payload: Record<string, unknown>;
  priority: number;
  timeoutMs: number;
  maxAttempts: number;
  metadata: Record<string, unknown>;
  webhookUrl?: string | null;
}

/**
 * SHA-256 of the whole normalised request (defaults applied, priority names as numbers), so the
 * same request always has the same fingerprint, and a stored job yields its request's fingerprint.
 */
export function fingerprintOf(fields: FingerprintFields): string {
  return createHash('sha256')
    .update(
      canonicalJson({
        type: fields.type,
        payload: fields.payload,
        priority: fields.priority,
        timeoutMs: fields.timeoutMs,
        maxAttempts: fields.maxAttempts,
        metadata: fields.metadata,
        // Only when set, so that the fingerprints of requests without one stay what they were.
        ...(fields.webhookUrl ? { webhookUrl: fields.webhookUrl } : {}),
      }),
    )
    .digest('hex');
}

/** The time a delayed submission becomes queued, or null when that is now (or past). */
export function runAtOf(
  runAt: string | undefined,
  delayMs: number | undefined,
  now = Date.now(),
): string | null {
  const at = runAt !== undefined ? Date.parse(runAt) : delayMs !== undefined ? now + delayMs : Number.NaN;
  return Number.isFinite(at) && at > now ? new Date(at).toISOString() : null;
}

/**
 * A submission's `webhookUrl` as stored: parsed, http or https, without credentials or fragment,
 * at most LIMITS.webhookUrlLength characters; or why it is refused.
 */
export function normaliseWebhookUrl(raw: string): string | { refused: string } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { refused: 'is not a URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return { refused: 'must be an http or https URL' };
  if (url.username || url.password) return { refused: 'must not carry credentials' };
  url.hash = '';
  if (url.href.length > LIMITS.webhookUrlLength) {
    return { refused: `must be at most ${LIMITS.webhookUrlLength} characters` };
  }
  return url.href;
}

/**
 * Validates submissions: the request envelope, then the payload against its job type's JSON
 * Schema (Ajv, compiled once per type, defaults filled in).
 */
export class SubmissionValidator {
  private readonly ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
  private readonly envelope: ValidateFunction<JobSubmission>;
  private readonly payloads = new Map<string, ValidateFunction>();

  constructor(
    private readonly registry: HandlerRegistry<AnyJobTypeDefinition>,
    private readonly limits: { defaultTimeoutMs: number; maxTimeoutMs: number },
  ) {
    addFormats(this.ajv);
    this.envelope = this.ajv.compile<JobSubmission>(JobSubmissionSchema);
    for (const definition of registry.list()) {
      this.payloads.set(definition.type, this.ajv.compile(definition.payloadSchema));
    }
  }

  /** The compiled payload schema of a type; types learnt after start are compiled on first use. */
  private payloadValidator(definition: AnyJobTypeDefinition): ValidateFunction | undefined {
    let validate = this.payloads.get(definition.type);
    if (!validate) {
      try {
        validate = this.ajv.compile(definition.payloadSchema);
      } catch {
        // A schema that does not compile makes its type unusable, never the gateway.
        return undefined;
      }
      this.payloads.set(definition.type, validate);
    }
    return validate;
  }

  /** Returns the valid submission or the problems (with `index` for batch items). */
  check(
    body: unknown,
    index?: number,
    inBatch = index !== undefined,
  ): { ok: true; value: ValidSubmission } | { ok: false; error: ApiError } {
    const fail = (
      code: 'validation_failed' | 'unknown_job_type',
      message: string,
      details: ApiErrorDetail[],
    ) => ({
      ok: false as const,
      error: new ApiError(code, message, details),
    });
    if (!this.envelope(body)) {
      return fail(
        'validation_failed',
        'the request does not match the job submission schema',
        toDetails(this.envelope.errors, '', index),
      );
    }
    const definition = this.registry.get(body.type);
    const validatePayload = definition && this.payloadValidator(definition);
    if (!definition || !validatePayload) {
      return fail('unknown_job_type', `unknown job type "${body.type}"`, [
        {
          ...(index === undefined ? {} : { index }),
          field: 'type',
          message: `registered types: ${this.registry
            .list()
            .map((d) => d.type)
            .join(', ')}`,
        },
      ]);
    }
    const payload = structuredClone(body.payload);
    if (!validatePayload(payload)) {
      return fail(
        'validation_failed',
        `the payload does not match the "${body.type}" schema`,
        toDetails(validatePayload.errors, 'payload', index),
      );
    }
    const details: ApiErrorDetail[] = [];
    const at = index === undefined ? {} : { index };
    const metadata = body.metadata ?? {};
    const metadataJson = JSON.stringify(metadata);
    // JSON allows U+0000 in strings but PostgreSQL's jsonb does not: refuse it here, clearly.
    for (const [field, value] of [
      ['payload', payload],
      ['metadata', metadata],
    ] as const) {
      if (containsNul(value)) {
        details.push({ ...at, field, message: 'must not contain the NUL character (U+0000)' });
      }
    }
    if (Buffer.byteLength(metadataJson) > LIMITS.metadataBytes) {
      details.push({
        ...at,
        field: 'metadata',
        message: `must be at most ${LIMITS.metadataBytes} bytes as JSON`,
      });
    }
    const defaults = resolveDefaults(definition, payload);
    const timeoutMs = body.timeoutMs ?? defaults.timeoutMs ?? this.limits.defaultTimeoutMs;
    if (timeoutMs > this.limits.maxTimeoutMs) {
      details.push({ ...at, field: 'timeoutMs', message: `must be at most ${this.limits.maxTimeoutMs}` });
    }
    if (body.runAt !== undefined && body.delayMs !== undefined) {
      details.push({ ...at, field: 'delayMs', message: 'give either runAt or delayMs, not both' });
    }
    const webhookUrl = body.webhookUrl === undefined ? null : normaliseWebhookUrl(body.webhookUrl);
    if (typeof webhookUrl === 'object' && webhookUrl !== null) {
      details.push({ ...at, field: 'webhookUrl', message: webhookUrl.refused });
    }
    if (details.length) return fail('validation_failed', 'the request is out of bounds', details);
    // A job's own webhook URL makes it a request of its own: the dedup window never answers it
    // with an earlier job, whose deliveries go elsewhere.
    const dedupe = (body.dedupe ?? true) && body.webhookUrl === undefined;
    const cacheable = defaults.cacheable;
    return {
      ok: true,
      value: {
        type: definition.type,
        queue: definition.queue,
        payload,
        priority: parsePriority(body.priority) ?? defaults.priority ?? DEFAULT_PRIORITY,
        timeoutMs,
        maxAttempts: body.maxAttempts ?? defaults.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
        metadata,
        idempotencyKey: body.idempotencyKey ?? null,
        dedupe,
        cacheable,
        requestHash:
          cacheable || (dedupe && !inBatch) ? requestHashOf(definition.type, payload) : NO_REQUEST_HASH,
        runAt: runAtOf(body.runAt, body.delayMs),
        concurrencyKey: body.concurrencyKey ?? defaults.concurrencyKey ?? null,
        rateKey: rateKeyOf(defaults.rateKey),
        webhookUrl: typeof webhookUrl === 'string' ? webhookUrl : null,
      },
    };
  }
}

/** A type's derived rate key as stored: bounded like a concurrency key (a longer one is cut). */
function rateKeyOf(key: string | undefined): string | null {
  return key ? key.slice(0, LIMITS.concurrencyKeyLength) : null;
}
