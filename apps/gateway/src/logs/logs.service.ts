import { Injectable } from '@nestjs/common';
import { ApiError, type JobLogPage } from '@switchyard/contracts';
import { JobLogsRepository } from '@switchyard/persistence';
import { JobsService } from '../jobs/jobs.service';

/** The largest page of `GET /jobs/{id}/logs`. */
export const LOG_PAGE_MAX = 1000;

export function encodeLogCursor(id: string): string {
  return Buffer.from(`l${id}`).toString('base64url');
}

function decodeLogCursor(cursor: string): string {
  const match = /^l(\d{1,19})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (cursor.length > 40 || !match?.[1]) {
    throw new ApiError('validation_failed', 'invalid log cursor', [
      { field: 'cursor', message: 'cursor is not one this API returned' },
    ]);
  }
  return match[1];
}

/** A job's `ctx.log` lines, in the order they were logged, paged by cursor. */
@Injectable()
export class LogsService {
  constructor(
    private readonly jobs: JobsService,
    private readonly logs: JobLogsRepository,
  ) {}

  /** 404 for a job that does not exist or is another tenant's (existence does not leak). */
  async page(
    id: string,
    tenant: string | undefined,
    cursor: string | undefined,
    limit: number,
  ): Promise<JobLogPage> {
    const after = cursor === undefined ? '0' : decodeLogCursor(cursor);
    const row = await this.jobs.find(id, tenant);
    const [{ lines, more }, dropped] = await Promise.all([
      this.logs.page(row.id, after, limit),
      this.logs.overflow(row.id),
    ]);
    const last = lines[lines.length - 1];
    return {
      items: lines.map(({ id: _id, ...line }) => line),
      nextCursor: more && last ? encodeLogCursor(last.id) : null,
      tailCursor: last ? encodeLogCursor(last.id) : (cursor ?? null),
      dropped,
    };
  }
}
