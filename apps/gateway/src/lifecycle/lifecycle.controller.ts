import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { DEFAULT_TENANT } from '../jobs/jobs.controller';
import { LifecycleService, parseDlqFilter } from './lifecycle.service';

@Controller('api/v1')
export class LifecycleController {
  constructor(private readonly lifecycle: LifecycleService) {}

  @Delete('jobs/:id')
  cancel(@Param('id') id: string, @Res({ passthrough: true }) reply: FastifyReply) {
    return this.cancelJob(id, reply);
  }

  @Post('jobs/:id/cancel')
  cancelAlias(@Param('id') id: string, @Res({ passthrough: true }) reply: FastifyReply) {
    return this.cancelJob(id, reply);
  }

  @Post('jobs/:id/retry')
  @HttpCode(202)
  retry(@Param('id') id: string) {
    return this.lifecycle.retry(id, DEFAULT_TENANT);
  }

  @Get('dlq')
  dlq(@Query() query: Record<string, string | undefined>) {
    return this.lifecycle.listDeadLettered(DEFAULT_TENANT, {
      ...parseDlqFilter(query),
      cursor: query['cursor'],
    });
  }

  @Post('dlq/replay')
  @HttpCode(202)
  replayMatching(@Body() body: unknown) {
    const filter = parseDlqFilter(body && typeof body === 'object' ? (body as Record<string, unknown>) : {});
    return this.lifecycle.replayMatching(DEFAULT_TENANT, filter);
  }

  @Post('dlq/:id/replay')
  @HttpCode(202)
  replay(@Param('id') id: string) {
    return this.lifecycle.retry(id, DEFAULT_TENANT, true);
  }

  @Delete('dlq/:id')
  @HttpCode(204)
  async discard(@Param('id') id: string): Promise<void> {
    await this.lifecycle.discard(id, DEFAULT_TENANT);
  }

  private async cancelJob(id: string, reply: FastifyReply) {
    const { status, job } = await this.lifecycle.cancel(id, DEFAULT_TENANT);
    void reply.status(status);
    return job;
  }
}
