import fastifyCompress from '@fastify/compress';
import fastifyMultipart from '@fastify/multipart';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { SwaggerModule } from '@nestjs/swagger';
import { errorCodes, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { ApiErrorBody } from '@switchyard/contracts';
import { UPLOAD_ROUTE } from '../auth/auth.guard';
import { registerConsole } from '../browser/console-static';
import { parseCorsOrigins, registerCors } from '../browser/cors';
import { registerSessionCsrf } from '../browser/session-csrf';
import { buildOpenApiDocument } from '../docs/openapi';

export interface HttpSetupOptions {
  uploadMaxBytes: number;
  batchMaxItems: number;
  /** FLOW_MAX_JOBS: bounds the flow body in the API document. */
  flowMaxJobs?: number;
  version: string;
  /** CORS_ORIGINS: origins that may use the job- and flow-token routes from a browser. */
  corsOrigins: string;
  /** The built web console (served at /ui when it holds an index.html). */
  consoleDir?: string;
}

/**
 * Fastify plugins, body parsers and the OpenAPI document, registered before Nest adds its routes
 * (compression hooks into each route as it is added).
 */
export async function configureHttp(
  fastify: FastifyInstance,
  app: NestFastifyApplication,
  options: HttpSetupOptions,
): Promise<void> {
  // gzip/deflate for JSON and text above 1 KiB (SPEC §4); SSE and artifacts bypass it.
  await app.register(fastifyCompress, { global: true, encodings: ['gzip', 'deflate'], threshold: 1024 });
  await app.register(fastifyMultipart, {
    limits: { fileSize: options.uploadMaxBytes, files: 1, fields: 10, fieldSize: 1024, parts: 20 },
  });
  registerBodyParsers(fastify);
  // Before answerUnknownMethods: OPTIONS is 404 (or a CORS preflight), never 405.
  registerCors(fastify, parseCorsOrigins(options.corsOrigins));
  registerSessionCsrf(fastify);
  if (options.consoleDir !== undefined) await registerConsole(app, fastify, options.consoleDir);
  answerUnknownMethods(fastify);
  const document = buildOpenApiDocument(app, {
    version: options.version,
    batchMaxItems: options.batchMaxItems,
    flowMaxJobs: options.flowMaxJobs,
  });
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'docs/openapi.json',
    yamlDocumentUrl: 'docs/openapi.yaml',
    customSiteTitle: 'Switchyard API',
  });
}

/**
 * JSON is the only body the API parses (BODY_LIMIT_BYTES, Fastify's parser); uploads take any
 * other media type as a raw stream, which the files service reads up to UPLOAD_MAX_BYTES without
 * buffering. Everything else is 415.
 */
export function registerBodyParsers(fastify: FastifyInstance): void {
  const isUpload = (request: FastifyRequest) =>
    request.method === 'POST' && request.routeOptions.url === UPLOAD_ROUTE;
  fastify.removeContentTypeParser('text/plain');
  // An empty body sent as JSON is no body (many clients set the header on every request):
  // bodiless routes (cancel, retry, replay) accept it; routes that need a body answer 400 as for none.
  fastify.addHook('onRequest', (request, _reply, done) => {
    const { headers } = request;
    const empty =
      headers['transfer-encoding'] === undefined &&
      (headers['content-length'] === undefined || headers['content-length'] === '0');
    if (empty && /^application\/json\s*(;|$)/i.test(headers['content-type'] ?? '')) {
      delete headers['content-type'];
    }
    done();
  });
  fastify.addContentTypeParser('*', (request, payload, done) => {
    if (isUpload(request)) {
      done(null, payload);
      return;
    }
    done(new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE(request.headers['content-type'] ?? ''), undefined);
  });
}

/**
 * A known path asked with a method it does not serve answers 405 with `Allow` (RFC 9110 §15.5.6)
 * in the SPEC error shape, code `method_not_allowed`; unknown paths stay 404. The routes are
 * collected as they are added (this runs before Nest adds its own).
 */
export function answerUnknownMethods(fastify: FastifyInstance): void {
  const routes = new Map<string, { pattern: RegExp; methods: Set<string> }>();
  fastify.addHook('onRoute', (route) => {
    const entry = routes.get(route.url) ?? { pattern: routePattern(route.url), methods: new Set<string>() };
    for (const method of [route.method].flat()) entry.methods.add(method.toUpperCase());
    routes.set(route.url, entry);
  });
  fastify.addHook('onRequest', (request, reply, done) => {
    if (!request.is404) return done();
    const path = request.url.split('?')[0] ?? '';
    const allowed = new Set<string>();
    for (const { pattern, methods } of routes.values()) {
      if (pattern.test(path)) for (const method of methods) allowed.add(method);
    }
    if (allowed.size === 0) return done();
    const allow = [...allowed].sort().join(', ');
    const body: ApiErrorBody = {
      error: {
        code: 'method_not_allowed',
        message: `${request.method} is not served on this path; it serves ${allow}`,
        details: [],
        correlationId: String(request.id),
      },
    };
    void reply.code(405).header('allow', allow).send(body);
  });
}

/** `/api/v1/jobs/:id/cancel` → a RegExp matching its paths (`*` matches the rest of the path). */
function routePattern(url: string): RegExp {
  const source = url
    .split('/')
    .map((part) =>
      part === '*' ? '.*' : part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('/');
  return new RegExp(`^${source}$`);
}
