import {
  Catch,
  type ArgumentsHost,
  type DynamicModule,
  type ExceptionFilter,
  type INestApplication,
  type Type,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { installLeanAsyncResourceBind } from './async-resource-bind';
import { acceptCorrelationId, correlation } from './context';
import { METRICS_REGISTRY } from './health.module';
import { toErrorResponse } from './http-errors';
import { createHttpMetrics, type HttpResponseObserver } from './http-metrics';
import { NestPinoLogger } from './logger';
import { declareServiceMetrics } from './switchyard-metrics';

export interface HttpServiceOptions {
  service: string;
  port: number;
  host?: string;
  logger: Logger;
  module: Type<unknown> | DynamicModule;
  bodyLimit?: number;
  /** Called with the Fastify instance before routes are registered (plugins, content parsers). */
  configure?: (fastify: FastifyInstance, app: NestFastifyApplication) => Promise<void> | void;
  /** Route templates are used in logs and metrics; observe every finished request. */
  onResponse?: (request: FastifyRequest, reply: FastifyReply, durationMs: number) => void;
  /**
   * The registry served on `/metrics`; by default the one given to HealthModule. Every request is
   * recorded in it as `switchyard_http_request_duration_seconds` (false: record nothing).
   */
  metrics?: Registry | false;
  /** Releases connections; runs after the HTTP server and the Nest shutdown hooks finished. */
  onShutdown: (signal: string) => Promise<void>;
  /** When set, a shutdown still unfinished after this long exits the process with code 1. */
  shutdownDeadlineMs?: number;
}

/** Errors thrown inside Nest route handlers get the SPEC error shape too. */
@Catch()
class SpecErrorFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}
  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const request = host.switchToHttp().getRequest<FastifyRequest>();
    sendError(reply, request, exception, this.logger);
  }
}

function sendError(reply: FastifyReply, request: FastifyRequest, error: unknown, logger: Logger): void {
  const correlationId = correlation.get()?.correlationId ?? String(request.id);
  const response = toErrorResponse(error, correlationId);
  if (response.status >= 500) logger.error({ err: error }, 'request failed');
  void reply.status(response.status).headers(response.headers).send(response.body);
}

/**
 * Starts one service's HTTP side (NestJS on Fastify) the same way in every app: correlation ids
 * in and out, JSON access logs, the SPEC error shape, and graceful shutdown on SIGTERM/SIGINT.
 */
export async function startHttpService(options: HttpServiceOptions): Promise<INestApplication> {
  const { logger } = options;
  // Fastify binds an AsyncResource for every request with a body; Node's bind would have each
  // such request's objects promoted to the old generation (see async-resource-bind.ts).
  installLeanAsyncResourceBind();
  const adapter = new FastifyAdapter({
    bodyLimit: options.bodyLimit ?? 1048576,
    logger: false,
    genReqId: (req: { headers: Record<string, string | string[] | undefined> }) =>
      acceptCorrelationId(req.headers['x-correlation-id']),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Path parameters up to 128 characters percent-encoded (concurrency keys; Fastify's default
    // of 100 would answer 414 before the route's own validation).
    maxParamLength: 512,
  });
  const fastify = adapter.getInstance();
  fastify.addHook('onRequest', (request, reply, done) => {
    const correlationId = String(request.id);
    void reply.header('x-correlation-id', correlationId);
    correlation.run({ correlationId }, done);
  });
  let recordHttp: HttpResponseObserver | undefined;
  fastify.addHook('onResponse', (request, reply, done) => {
    const durationMs = reply.elapsedTime;
    recordHttp?.(request, reply, durationMs);
    options.onResponse?.(request, reply, durationMs);
    // The access line's fields are built only when it is written (LOG_LEVEL info or lower).
    if (logger.isLevelEnabled('info') && !request.url.startsWith('/health') && request.url !== '/metrics') {
      logger.info(
        {
          method: request.method,
          route: request.routeOptions.url ?? 'unmatched',
          status: reply.statusCode,
          durationMs: Math.round(durationMs * 100) / 100,
        },
        'request',
      );
    }
    done();
  });

  const app = await NestFactory.create<NestFastifyApplication>(options.module, adapter, {
    logger: new NestPinoLogger(logger.child({ component: 'nest' })),
    bufferLogs: false,
  });
  app.useGlobalFilters(new SpecErrorFilter(logger));
  const registry = options.metrics ?? servedRegistry(app);
  if (registry) {
    declareServiceMetrics(options.service, registry);
    recordHttp = createHttpMetrics(registry);
  }
  await options.configure?.(fastify, app);
  await app.listen({ port: options.port, host: options.host ?? '0.0.0.0' });
  logger.info({ port: options.port }, `${options.service} listening`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    if (options.shutdownDeadlineMs) {
      // A shutdown step that never settles (seen once after a PostgreSQL outage) must not leave a
      // process that serves nothing but holds its connections: exit non-zero once past the deadline.
      const deadlineMs = options.shutdownDeadlineMs;
      setTimeout(() => {
        logger.error({ deadlineMs }, 'shutdown did not finish within its deadline; exiting');
        logger.flush();
        process.exit(1);
      }, deadlineMs).unref();
    }
    void (async () => {
      try {
        await app.close();
        await options.onShutdown(signal);
        logger.info('stopped');
        logger.flush();
        process.exit(0);
      } catch (error) {
        logger.error({ err: error }, 'shutdown failed');
        logger.flush();
        process.exit(1);
      }
    })();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return app;
}

/** The registry HealthModule serves on `/metrics`, when the app's module imports it. */
function servedRegistry(app: INestApplication): Registry | undefined {
  try {
    return app.get<symbol, Registry>(METRICS_REGISTRY, { strict: false });
  } catch {
    return undefined;
  }
}

/** Runs an app's `main`; a failure to start is one fatal JSON line and exit code 1. */
export function runService(service: string, main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    process.stderr.write(
      `${JSON.stringify({
        time: new Date().toISOString(),
        level: 'fatal',
        service,
        msg: `failed to start: ${error instanceof Error ? error.message : String(error)}`,
      })}\n`,
    );
    process.exit(1);
  });
}
