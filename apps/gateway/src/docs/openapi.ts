import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import type {
  ParameterObject,
  ReferenceObject,
  RequestBodyObject,
  ResponseObject,
} from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { componentSchemas } from './api-components';
import { REQUEST_BODY_EXTENSION } from './api-docs';

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

const header = (description: string, type: 'string' | 'integer' = 'string') => ({
  description,
  schema: { type },
});

/** Headers on every /api/v1 response (SPEC §4); RateLimit-* once the caller is known. */
const COMMON_HEADERS = {
  'X-Correlation-Id': header('the caller’s X-Correlation-Id, or a new one'),
};
const RATE_LIMIT_HEADERS = {
  'RateLimit-Limit': header('requests the bucket holds (the burst)', 'integer'),
  'RateLimit-Remaining': header('requests left in the bucket', 'integer'),
  'RateLimit-Reset': header('seconds until the bucket is full again', 'integer'),
  'RateLimit-Policy': header('`<burst>;w=<seconds>`'),
};
const RETRY_AFTER = { 'Retry-After': header('seconds to wait before retrying', 'integer') };

/**
 * The OpenAPI 3.1 document, generated from the controllers' decorators and the TypeBox schemas
 * the code validates with, then completed with what holds for every /api/v1 route.
 */
export function buildOpenApiDocument(
  app: INestApplication,
  options: { version: string; batchMaxItems: number; flowMaxJobs?: number },
): OpenAPIObject {
  const config = new DocumentBuilder()
    .setOpenAPIVersion('3.1.0')
    .setTitle('Switchyard API')
    .setVersion(options.version)
    .setDescription(
      'Durable jobs for long-running AI generation and analysis work. Authenticate with ' +
        '`Authorization: Bearer <key>` or `X-API-Key: <key>`. Errors share one shape (`Error`); ' +
        'responses may be gzip-compressed. See docs/api.md.',
    )
    // Not addBearerAuth(): it declares `bearerFormat: JWT`, and the keys are opaque `sy_…` strings.
    .addSecurity('bearer', { type: 'http', scheme: 'bearer', description: 'an API key (`sy_…`)' })
    .addApiKey({ type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'an API key' }, 'apiKey')
    .build();
  // One tag per operation, the one its @ApiRoute names (not also one from the controller's name).
  const document = SwaggerModule.createDocument(app, config, { autoTagControllers: false });
  document.components = {
    ...document.components,
    schemas: componentSchemas(options.batchMaxItems, options.flowMaxJobs),
  };
  documentOperationalRoutes(document);
  completeOpenApi(document);
  return document;
}

const json = (name: string) => ({
  'application/json': { schema: { $ref: `#/components/schemas/${name}` } },
});

/**
 * `/health/live`, `/health/ready` and `/metrics` come from the observability library that every
 * service shares, without OpenAPI decorators: their responses are described here.
 */
export function documentOperationalRoutes(document: OpenAPIObject): void {
  const described: Record<string, { summary: string; responses: Record<string, ResponseObject> }> = {
    '/health/live': {
      summary: 'Liveness: the process answers',
      responses: { '200': { description: 'alive', content: json('Liveness') } },
    },
    '/health/ready': {
      summary: 'Readiness: PostgreSQL and RabbitMQ answer',
      responses: {
        '200': { description: 'ready', content: json('Readiness') },
        '503': { description: 'a dependency is down', content: json('Readiness') },
      },
    },
    '/metrics': {
      summary: 'Prometheus metrics',
      responses: {
        '200': {
          description: 'the Prometheus text exposition format',
          content: { 'text/plain; version=0.0.4': { schema: { type: 'string' } } },
        },
      },
    },
  };
  for (const [path, { summary, responses }] of Object.entries(described)) {
    const operation = document.paths[path]?.get;
    if (!operation) continue;
    operation.summary = summary;
    operation.responses = responses;
  }
}

/** Adds auth errors, security, headers and operation ids that every route shares. */
export function completeOpenApi(document: OpenAPIObject): void {
  document.security = [{ bearer: [] }, { apiKey: [] }];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of HTTP_METHODS) {
      const operation = item[method];
      if (!operation) continue;
      const api = path.startsWith('/api/v1/');
      // Health, and the console's sign-in (it takes the key in its body, or a session cookie).
      const open = !api || path === '/api/v1/health' || path === '/api/v1/session';
      operation.operationId = operationId(method, path);
      const body = (operation as unknown as Record<string, unknown>)[REQUEST_BODY_EXTENSION];
      if (body !== undefined) {
        operation.requestBody = body as RequestBodyObject;
        delete (operation as unknown as Record<string, unknown>)[REQUEST_BODY_EXTENSION];
      }
      if (open) operation.security = [];
      if (!api) operation.tags ??= ['operations'];
      const responses = operation.responses;
      if (api && !open) {
        for (const status of ['401', '403', '429']) {
          responses[status] ??= {
            description:
              status === '401'
                ? '`unauthorized`: no API key, or an unknown or revoked one'
                : status === '403'
                  ? '`forbidden`: the API key lacks the scope this route needs'
                  : '`rate_limited`: past the key’s rate limit; see Retry-After',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
          };
        }
      }
      for (const [status, response] of Object.entries(responses)) {
        if (!response || isReference(response)) continue;
        const code = Number(status);
        response.headers = {
          ...COMMON_HEADERS,
          ...(api && !open ? RATE_LIMIT_HEADERS : {}),
          ...(code === 429 || code === 503 ? RETRY_AFTER : {}),
          ...response.headers,
        };
      }
      operation.parameters = (operation.parameters ?? []).concat(
        hasParameter(operation.parameters, 'X-Correlation-Id')
          ? []
          : [
              {
                name: 'X-Correlation-Id',
                in: 'header',
                required: false,
                description: 'carried through every log line and message of the request',
                schema: { type: 'string', maxLength: 128 },
              },
            ],
      );
    }
  }
}

function hasParameter(parameters: (ParameterObject | ReferenceObject)[] | undefined, name: string): boolean {
  return (parameters ?? []).some((p) => !isReference(p) && p.name.toLowerCase() === name.toLowerCase());
}

function isReference(value: ResponseObject | ParameterObject | ReferenceObject): value is ReferenceObject {
  return '$ref' in value;
}

/** `get /api/v1/jobs/{id}/events` → `getJobsIdEvents`: stable, unique, readable ids. */
function operationId(method: string, path: string): string {
  const words = path
    .replace(/^\/api\/v1/, '')
    .split(/[/{}-]+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1));
  return `${method}${words.join('') || 'Root'}`;
}
