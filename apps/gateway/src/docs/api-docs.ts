import { applyDecorators } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import type { ComponentName } from './api-components';

// Small wrappers over @nestjs/swagger so that every route documents itself the same way. The
// document is generated from these decorators (docs/openapi.ts); completeOpenApi() adds what
// applies to every /api/v1 route (auth errors, rate-limit and correlation headers).

/**
 * A request body @nestjs/swagger cannot express (several media types with their own schemas):
 * `@ApiExtension(REQUEST_BODY_EXTENSION, requestBodyObject)`; completeOpenApi() moves it in place.
 */
export const REQUEST_BODY_EXTENSION = 'x-switchyard-request-body';

export const componentRef = (name: ComponentName): SchemaObject =>
  ({ $ref: `#/components/schemas/${name}` }) as SchemaObject;

/** What each error status means, with the stable codes it carries (SPEC §4). */
export const ERROR_STATUS_DESCRIPTIONS: Record<number, string> = {
  400: '`validation_failed`, `unknown_job_type` or `flow_invalid`; `details` name each field (and batch or flow `index`)',
  401: '`unauthorized`: no API key, or an unknown or revoked one',
  403: '`forbidden`: the API key lacks the scope this route needs (or a console-session call lacks the X-Switchyard-CSRF header)',
  404: '`not_found` (also for another tenant’s object, so existence does not leak)',
  409: '`not_cancellable`, `not_retryable` or `not_completed`',
  413: '`payload_too_large`: past BODY_LIMIT_BYTES (or UPLOAD_MAX_BYTES for uploads)',
  415: '`unsupported_media_type`',
  422: '`idempotency_conflict`: the idempotency key was used for a different request',
  429: '`rate_limited` or `tenant_quota_exceeded`; see Retry-After',
  503: '`queue_full` or `service_unavailable`; see Retry-After',
};

/** The SPEC error responses of a route (the error body is the `Error` component). */
export function ApiErrors(...statuses: number[]) {
  return applyDecorators(
    ...statuses.map((status) =>
      ApiResponse({
        status,
        description: ERROR_STATUS_DESCRIPTIONS[status] ?? 'error',
        content: { 'application/json': { schema: componentRef('Error') } },
      }),
    ),
  );
}

/** A JSON success response with a component schema (or an inline one). */
export function ApiJson(status: number, description: string, schema: ComponentName | SchemaObject) {
  return ApiResponse({
    status,
    description,
    content: { 'application/json': { schema: typeof schema === 'string' ? componentRef(schema) : schema } },
  });
}

/** A success response without a body (204). */
export function ApiNoContent(description: string) {
  return ApiResponse({ status: 204, description });
}

export function ApiJsonBody(schema: ComponentName, description?: string) {
  return ApiBody({ required: true, description, schema: componentRef(schema) });
}

export function ApiRoute(tag: string, summary: string, description?: string) {
  return applyDecorators(ApiTags(tag), ApiOperation({ summary, description }));
}

/** `?token=`: a job or flow token instead of an API key (the token routes, for browsers). */
const apiToken = (kind: 'job' | 'flow') =>
  ApiQuery({
    name: 'token',
    required: false,
    description: `a ${kind} token (POST /${kind}s/{id}/tokens) for this ${kind}, instead of an API key`,
    schema: { type: 'string', maxLength: 1000 },
  });

/** `?token=`: a job token (GET /jobs/{id}, its events and its result). */
export const ApiJobToken = () => apiToken('job');

/** `?token=`: a flow token (GET /flows/{id} and its events). */
export const ApiFlowToken = () => apiToken('flow');

export const ApiFlowId = () =>
  ApiParam({ name: 'id', description: 'flow id (UUID)', schema: { type: 'string', format: 'uuid' } });

export const ApiJobId = () =>
  ApiParam({ name: 'id', description: 'job id (UUID)', schema: { type: 'string', format: 'uuid' } });

export function ApiQueryParam(name: string, description: string, schema: SchemaObject, required = false) {
  return ApiQuery({ name, description, required, schema });
}
