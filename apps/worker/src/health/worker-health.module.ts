import { Controller, Get, Inject, Module, Res, type DynamicModule } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { Registry } from 'prom-client';
import {
  METRICS_REGISTRY,
  runHealthChecks,
  type HealthCheck,
  type ReadinessReport,
} from '@switchyard/observability';
import type { CircuitState } from '@switchyard/resilience';

const HEALTH_CHECKS = Symbol('WORKER_HEALTH_CHECKS');
const CIRCUIT_STATES = Symbol('CIRCUIT_STATES');

/** `/health/ready` of the worker: the usual checks plus one `circuits` entry. */
export interface CircuitsCheck {
  status: 'up';
  latencyMs: 0;
  /** State per provider of PROVIDERS_FILE. */
  providers: Record<string, CircuitState>;
  /** The providers whose circuit is open now. */
  open: string[];
}

export interface WorkerReadinessReport extends Omit<ReadinessReport, 'checks'> {
  checks: Record<string, ReadinessReport['checks'][string] | CircuitsCheck>;
}

/**
 * The shared health endpoints (`/health/live`, `/health/ready`, `/metrics`), with the circuit
 * state of every provider in the readiness report. An open circuit is reported but keeps the
 * worker ready: its other queues still work, and its jobs wait for the provider on their own.
 */
@Controller()
export class WorkerHealthController {
  constructor(
    @Inject(HEALTH_CHECKS) private readonly checks: HealthCheck[],
    @Inject(CIRCUIT_STATES) private readonly circuits: () => Record<string, CircuitState>,
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
  ) {}

  @Get('health/live')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('health/ready')
  async ready(@Res() reply: FastifyReply): Promise<void> {
    const report = await runHealthChecks(this.checks);
    const providers = this.circuits();
    const body: WorkerReadinessReport = {
      ...report,
      checks: {
        ...report.checks,
        circuits: {
          status: 'up',
          latencyMs: 0,
          providers,
          open: Object.keys(providers).filter((name) => providers[name] === 'open'),
        },
      },
    };
    await reply.status(report.status === 'ok' ? 200 : 503).send(body);
  }

  @Get('metrics')
  async metrics(@Res() reply: FastifyReply): Promise<void> {
    const body = await this.registry.metrics();
    await reply.header('content-type', this.registry.contentType).send(body);
  }
}

@Module({})
export class WorkerHealthModule {
  static register(options: {
    checks: HealthCheck[];
    circuits: () => Record<string, CircuitState>;
    registry: Registry;
  }): DynamicModule {
    return {
      module: WorkerHealthModule,
      controllers: [WorkerHealthController],
      providers: [
        { provide: HEALTH_CHECKS, useValue: options.checks },
        { provide: CIRCUIT_STATES, useValue: options.circuits },
        // The service host finds the served registry under this token (HTTP metrics).
        { provide: METRICS_REGISTRY, useValue: options.registry },
      ],
    };
  }
}
