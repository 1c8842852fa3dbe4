import { HttpException } from '@nestjs/common';
import { API_ERRORS, ApiError, type ApiErrorBody, type ApiErrorCode } from '@switchyard/contracts';
import { DEPENDENCY_RETRY_AFTER_S, unavailableDependency } from '@switchyard/resilience';

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  message?: string;
}

/** Fastify's own request errors (body parsing, limits) mapped to the stable codes of SPEC §4. */
const FASTIFY_CODES: Record<string, ApiErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'validation_failed',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'validation_failed',
  FST_ERR_CTP_INVALID_JSON_BODY: 'validation_failed',
};

const STATUS_CODES: Partial<Record<number, ApiErrorCode>> = {
  400: 'validation_failed',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  503: 'service_unavailable',
};

export interface ErrorResponse {
  status: number;
  body: ApiErrorBody;
  headers: Record<string, string>;
}

/** Names a dependency in the words of /health's checks. */
const DEPENDENCY_NAMES = { postgres: 'database (PostgreSQL)', redis: 'Redis', rabbitmq: 'broker (RabbitMQ)' };

/**
 * Any thrown value → the one error shape of SPEC §4. A dependency that cannot be reached is 503
 * `service_unavailable` with `Retry-After`; other unknown errors become 500 without internals.
 */
export function toErrorResponse(error: unknown, correlationId: string): ErrorResponse {
  const build = (code: ApiErrorCode, message: string, details: ApiError['details'] = [], headers = {}) => ({
    status: API_ERRORS[code],
    body: { error: { code, message, details, correlationId } },
    headers,
  });
  if (error instanceof ApiError) return build(error.code, error.message, error.details, error.headers);
  if (error instanceof HttpException) {
    const code = STATUS_CODES[error.getStatus()] ?? 'internal_error';
    const message = error.getStatus() === 404 ? 'no such route' : error.message;
    return { ...build(code, message), status: error.getStatus() };
  }
  const e = (error ?? {}) as FastifyLikeError;
  if (e.code && FASTIFY_CODES[e.code]) {
    const code = FASTIFY_CODES[e.code];
    const message =
      code === 'validation_failed' ? `malformed JSON body: ${e.message ?? ''}`.trim() : (e.message ?? code);
    return build(
      code,
      message,
      code === 'validation_failed' ? [{ field: 'body', message: e.message ?? '' }] : [],
    );
  }
  if (error instanceof SyntaxError || (e.statusCode === 400 && e.message)) {
    return build('validation_failed', `malformed JSON body: ${e.message ?? ''}`, [
      { field: 'body', message: e.message ?? '' },
    ]);
  }
  if (typeof e.statusCode === 'number' && STATUS_CODES[e.statusCode]) {
    return {
      ...build(STATUS_CODES[e.statusCode] ?? 'internal_error', e.message ?? ''),
      status: e.statusCode,
    };
  }
  const dependency = unavailableDependency(error);
  if (dependency !== undefined) {
    const what = dependency === 'unknown' ? 'a dependency' : DEPENDENCY_NAMES[dependency];
    return build('service_unavailable', `${what} is unavailable; retry later`, [], {
      'Retry-After': String(DEPENDENCY_RETRY_AFTER_S),
    });
  }
  return build('internal_error', 'internal error');
}
