/**
 * Stable error codes. Clients and other systems branch on these strings: never rename them.
 * API codes carry their HTTP status; job error codes end up in a job's `error.code`.
 */
export const API_ERRORS = {
  validation_failed: 400,
  unknown_job_type: 400,
  /** A flow body whose items fail validation (unknown ref, cycle, bad payload): `details[].index`. */
  flow_invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  not_cancellable: 409,
  not_retryable: 409,
  not_completed: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  idempotency_conflict: 422,
  rate_limited: 429,
  tenant_quota_exceeded: 429,
  budget_exhausted: 429,
  internal_error: 500,
  queue_full: 503,
  service_unavailable: 503,
} as const;
export type ApiErrorCode = keyof typeof API_ERRORS;

/** Intake rejection codes: the REST codes plus two that only exist on AMQP. */
export type IntakeRejectionCode = ApiErrorCode | 'invalid_json' | 'unsupported_content_type';

/** Codes a job's `error.code` can carry. Handlers may add their own (e.g. `provider_error`). */
export const JOB_ERROR_CODES = [
  'timeout',
  'worker_lost',
  'invalid_payload',
  'handler_error',
  'retryable_error',
  'permanent_error',
  'unknown_job_type',
  'provider_error',
  'provider_unavailable',
  /** A flow job ended because a dependency failed or was cancelled (SPEC §11). */
  'dependency_failed',
] as const;
export type JobErrorCode = (typeof JOB_ERROR_CODES)[number] | (string & {});

export interface JobError {
  code: JobErrorCode;
  message: string;
  retryable: boolean;
}
