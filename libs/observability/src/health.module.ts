import { Controller, Get, Inject, Module, Res, type DynamicModule } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { Registry } from 'prom-client';
import { runHealthChecks, type HealthCheck } from './health';

export const HEALTH_CHECKS = Symbol('HEALTH_CHECKS');
export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');
export const READINESS_INFO = Symbol('READINESS_INFO');

/**
 * Entries a service adds to its readiness report that inform without deciding readiness (the
 * worker's circuit states: an open circuit is reported, yet the worker stays ready).
 */
export type ReadinessInfo = () => Record<string, object>;

/** `GET /health/live`, `GET /health/ready` and `GET /metrics`, the same on every service. */
@Controller()
export class HealthController {
  constructor(
    @Inject(HEALTH_CHECKS) private readonly checks: HealthCheck[],
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
    @Inject(READINESS_INFO) private readonly info: ReadinessInfo,
  ) {}

  @Get('health/live')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('health/ready')
  async ready(@Res() reply: FastifyReply): Promise<void> {
    const report = await runHealthChecks(this.checks);
    const body = { ...report, checks: { ...report.checks, ...this.info() } };
    await reply.status(report.status === 'ok' ? 200 : 503).send(body);
  }

  @Get('metrics')
  async metrics(@Res() reply: FastifyReply): Promise<void> {
    const body = await this.registry.metrics();
    await reply.header('content-type', this.registry.contentType).send(body);
  }
}

@Module({})
export class HealthModule {
  /** `checks` and `registry` are provider tokens or values the app already owns. */
  static register(options: {
    checks: HealthCheck[];
    registry: Registry;
    info?: ReadinessInfo;
  }): DynamicModule {
    return {
      module: HealthModule,
      controllers: [HealthController],
      providers: [
        { provide: HEALTH_CHECKS, useValue: options.checks },
        { provide: METRICS_REGISTRY, useValue: options.registry },
        { provide: READINESS_INFO, useValue: options.info ?? (() => ({})) },
      ],
    };
  }
}
