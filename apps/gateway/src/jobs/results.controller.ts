import { pipeline } from 'node:stream/promises';
import { Controller, Get, Inject, Param, Res } from '@nestjs/common';
import { ApiProduces, ApiResponse } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ApiError } from '@switchyard/contracts';
import type { ArtifactStore } from '@switchyard/storage';
import { Caller, tenantScope } from '../auth/caller';
import { ApiErrors, ApiJobId, ApiJobToken, ApiRoute } from '../docs/api-docs';
import { ARTIFACT_STORE, LOGGER, type Logger } from '../gateway.tokens';
import { hijackReply } from '../http/raw-reply';
import { JobsService } from './jobs.service';

@Controller('api/v1/jobs')
export class ResultsController {
  constructor(
    @Inject(ARTIFACT_STORE) private readonly artifacts: ArtifactStore,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly jobs: JobsService,
  ) {}

  @Get(':id/result')
  @ApiRoute(
    'jobs',
    'Download a completed job’s result',
    'Artifact results stream with their content type, `Content-Length` and an `ETag` (their SHA-256); ' +
      'other results are the job’s inline JSON `result`.',
  )
  @ApiJobId()
  @ApiJobToken()
  @ApiProduces('application/json', 'application/octet-stream')
  @ApiResponse({
    status: 200,
    description: 'the artifact bytes (its own content type) or the inline JSON result',
    content: {
      'application/json': { schema: { description: 'the inline result' } },
      'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
    },
  })
  @ApiErrors(404, 409)
  async result(@Caller() caller: Caller, @Param('id') id: string, @Res() reply: FastifyReply): Promise<void> {
    const row = await this.jobs.find(id, tenantScope(caller));
    if (row.status !== 'completed') {
      throw new ApiError(
        'not_completed',
        `job ${id} is ${row.status}; its result exists once it is completed`,
      );
    }
    if (row.result_url === null) {
      await reply.type('application/json; charset=utf-8').send(JSON.stringify(row.result ?? null));
      return;
    }
    const artifact = await this.artifacts.open(id);
    if (!artifact) throw new ApiError('not_found', `the artifact of job ${id} is gone (purged)`);
    const { ref, stream } = artifact;
    // Streamed on the raw response: the bytes go out as stored, with their exact length (never
    // re-encoded by the compression plugin) and without being held in memory.
    reply.raw.writeHead(200, {
      ...hijackReply(reply),
      'content-type': ref.contentType,
      'content-length': String(ref.size),
      'content-disposition': `attachment; filename="${ref.name.replace(/"/g, '')}"`,
      etag: `"${ref.sha256}"`,
    });
    try {
      await pipeline(stream, reply.raw);
    } catch (error) {
      this.logger.warn({ err: error, jobId: id }, 'artifact download interrupted');
      reply.raw.destroy();
    }
  }
}
