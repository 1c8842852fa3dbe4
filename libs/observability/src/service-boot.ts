import type { Static, TObject } from '@sinclair/typebox';
import {
  applyServiceV8Flags,
  loadConfigOrExit,
  type CommonConfig,
  type NodeService,
} from '@switchyard/config';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { HealthCheck } from './health';
import { HealthModule, type ReadinessInfo } from './health.module';
import { createLogger } from './logger';
import { createMetricsRegistry } from './metrics';
import { runService, startHttpService } from './service-host';
import { startTracing, stopTracing } from './tracing';

/** What every service gets before it builds anything: its parsed config, logger and registry. */
export interface ServiceContext<C> {
  config: C;
  logger: Logger;
  /** The registry served on `/metrics`. */
  metrics: Registry;
}

/** What a service built in `connect`, stated once: readiness, the work to start, how to stop. */
export interface ServiceParts {
  /** `/health/ready` is 200 while every check passes. */
  checks: HealthCheck[];
  /** Entries added to the readiness report that inform without deciding it. */
  info?: ReadinessInfo;
  /** Starts the work once `/health` answers; work that must run before readiness starts in `connect`. */
  start?: () => Promise<void> | void;
  /**
   * Run one after the other on SIGTERM/SIGINT, after the HTTP server closed: the work drains while
   * the connections are still open. A step that throws ends the shutdown with exit code 1.
   */
  shutdown: Array<() => unknown>;
  /** Closed after the last shutdown step: RabbitMQ, then Redis, then PostgreSQL. */
  connections: ServiceConnections;
}

/** The connections a service holds, as far as the start-up closes them. */
export interface ServiceConnections {
  amqp: { close(): Promise<void> };
  redis?: { disconnect(): void };
  db: { destroy(): Promise<void> };
}

export interface ServiceDefinition<S extends TObject> {
  service: Exclude<NodeService, 'gateway'>;
  /** Parsed once from the environment; a bad variable is one fatal line naming it, exit code 1. */
  config: S;
  /** Port of `/health/live`, `/health/ready` and `/metrics`. */
  port: (config: Static<S>) => number;
  /** Fields on every log line of the service (the worker's id). */
  logFields?: (config: Static<S>) => Record<string, string>;
  /** Builds the service and opens its connections; a failure here exits with code 1. */
  connect: (context: ServiceContext<Static<S>>) => Promise<ServiceParts>;
}

/**
 * The one start-up of the services without a public API (worker, progress-tracker, metrics):
 * config, logger, metrics registry, the service's own connections and work, then health and
 * metrics over HTTP, and the graceful shutdown of startHttpService.
 */
export function bootService<S extends TObject>(definition: ServiceDefinition<S>): void {
  const { service } = definition;
  runService(service, async () => {
    // Before the service starts allocating (libs/config's SERVICE_V8_FLAGS), as the gateway's main.
    applyServiceV8Flags(service);
    const config = loadConfigOrExit(definition.config, service);
    // Before any connection is made, so that the instrumentations see them (off when unset).
    startTracing(service, config);
    // Every service's schema holds the common settings (CommonEnv), LOG_LEVEL among them.
    const { LOG_LEVEL } = config as Partial<Pick<CommonConfig, 'LOG_LEVEL'>>;
    const root = createLogger(service, LOG_LEVEL);
    const logger = definition.logFields ? root.child(definition.logFields(config)) : root;
    const metrics = createMetricsRegistry(service);
    const parts = await definition.connect({ config, logger, metrics });
    await startHttpService({
      service,
      port: definition.port(config),
      logger,
      module: HealthModule.register({ registry: metrics, checks: parts.checks, info: parts.info }),
      onShutdown: async () => {
        for (const step of parts.shutdown) await step();
        const { amqp, redis, db } = parts.connections;
        await amqp.close();
        redis?.disconnect();
        await db.destroy();
        await stopTracing();
      },
    });
    await parts.start?.();
  });
}
