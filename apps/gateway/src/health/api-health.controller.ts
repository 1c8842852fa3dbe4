import { Controller, Get, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { Public } from '../auth/caller';
import { ApiJson, ApiRoute } from '../docs/api-docs';
import { ApiHealthService } from './api-health.service';

@Controller('api/v1/health')
export class ApiHealthController {
  constructor(private readonly health: ApiHealthService) {}

  @Get()
  @Public()
  @ApiRoute(
    'operations',
    'Overall health',
    '`healthy`, `degraded` (jobs are accepted but something is off: Redis, disk, workers or an open ' +
      'circuit) or `unhealthy` (503: the database or the broker is down). No API key needed.',
  )
  @ApiJson(200, 'healthy or degraded', 'Health')
  @ApiJson(503, 'unhealthy', 'Health')
  async get(@Res({ passthrough: true }) reply: FastifyReply) {
    const report = await this.health.report();
    void reply.status(report.status === 'unhealthy' ? 503 : 200);
    return report;
  }
}
