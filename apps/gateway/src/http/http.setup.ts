import fastifyCompress from '@fastify/compress';
import fastifyMultipart from '@fastify/multipart';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { SwaggerModule } from '@nestjs/swagger';
import { errorCodes, type FastifyInstance, type FastifyRequest } from 'fastify';
import { UPLOAD_ROUTE } from '../auth/auth.guard';
import { buildOpenApiDocument } from '../docs/openapi';

export interface HttpSetupOptions {
  uploadMaxBytes: number;
  batchMaxItems: number;
  version: string;
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
  const document = buildOpenApiDocument(app, {
    version: options.version,
    batchMaxItems: options.batchMaxItems,
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
  fastify.addContentTypeParser('*', (request, payload, done) => {
    if (isUpload(request)) {
      done(null, payload);
      return;
    }
    done(new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE(request.headers['content-type'] ?? ''), undefined);
  });
}
