import { Inject, Injectable } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ApiError, isTerminal, type JobSnapshot } from '@switchyard/contracts';
import { LiveProgressStore, type LiveProgress } from '@switchyard/live-state';
import { JobsRepository, type JobRow } from '@switchyard/persistence';
import { tenantScope, type Caller } from '../auth/caller';
import { LOGGER, type Logger } from '../gateway.tokens';
import { hijackReply } from '../http/raw-reply';
import { JobsService } from '../jobs/jobs.service';
import { SseHub } from './sse.hub';
import { JobEventSink, SseStream, TenantEventSink } from './sse.stream';

/** Tells clients how soon to reconnect after a dropped stream. */
const RECONNECT_MS = 1000;
/** The snapshot of `GET /events` lists at most this many active jobs. */
const TENANT_SNAPSHOT_LIMIT = 200;

/**
 * Server-Sent Events (SPEC §4). `GET /jobs/{id}/events`: a `snapshot` (the job now, with the
 * `seq` it reflects), then every later event with `id:` = its seq, ending after the terminal
 * event; `Last-Event-ID` replays what the client missed from the job's event log in Redis.
 * `GET /events`: a snapshot of the caller's active jobs, then every event of the caller's jobs.
 */
@Injectable()
export class EventsService {
  constructor(
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly hub: SseHub,
    private readonly live: LiveProgressStore,
    private readonly jobs: JobsService,
    private readonly repository: JobsRepository,
  ) {}

  async streamJob(
    caller: Caller,
    id: string,
    lastEventId: string | undefined,
    reply: FastifyReply,
  ): Promise<void> {
    await this.jobs.find(id, tenantScope(caller)); // 404 before anything streams
    const resumeFrom = parseLastEventId(lastEventId);
    await this.hub.ready();
    const release = await this.hub.reserve(caller.tenant);
    const stream = this.open(reply, caller.keyId, release);
    const sink = new JobEventSink(id, stream);
    // Listening starts before the state is read, so no event falls between the two.
    this.hub.addJobSink(sink);
    try {
      const [row, live, missed] = await Promise.all([
        this.repository.findById(id, tenantScope(caller)),
        this.live.getLive(id),
        resumeFrom === undefined ? Promise.resolve([]) : this.live.readEvents(id, resumeFrom),
      ]);
      if (!row) return stream.end();
      const snapshot = this.snapshot(row, live);
      stream.send('snapshot', snapshot);
      if (resumeFrom === undefined) {
        sink.acknowledge(snapshot.seq);
      } else {
        sink.acknowledge(resumeFrom);
        sink.replay(missed);
      }
      sink.flush();
      if (isTerminal(snapshot.status)) stream.end();
    } catch (error) {
      // The response is already streaming: end it (the client resumes) instead of answering again.
      this.logger.warn({ err: error, jobId: id }, 'job event stream failed');
      stream.end();
    }
  }

  async streamTenant(
    caller: Caller,
    filters: { type?: string; queue?: string },
    reply: FastifyReply,
  ): Promise<void> {
    await this.hub.ready();
    const release = await this.hub.reserve(caller.tenant);
    const stream = this.open(reply, caller.keyId, release);
    const tenant = tenantScope(caller) ?? null;
    const sink = new TenantEventSink(tenant, filters, stream);
    this.hub.addTenantSink(sink);
    try {
      const active = await Promise.all(
        (['queued', 'running', 'retrying'] as const).map((status) =>
          this.repository.list({
            tenant: tenant ?? undefined,
            status,
            ...filters,
            limit: TENANT_SNAPSHOT_LIMIT,
          }),
        ),
      );
      const rows = active.flatMap((page) => page.rows).slice(0, TENANT_SNAPSHOT_LIMIT);
      const lives = await this.live.getLiveMany(rows.map((r) => r.id)).catch(() => rows.map(() => null));
      stream.send('snapshot', { jobs: rows.map((row, i) => this.snapshot(row, lives[i] ?? null)) });
      sink.flush();
    } catch (error) {
      this.logger.warn({ err: error }, 'event stream snapshot failed');
      stream.end();
    }
  }

  /**
   * `GET /flows/{id}/events`: a `snapshot` (the flow, from `snapshot`), then every event of the
   * flow's jobs (`id:` = `<jobId>:<seq>`); the stream ends once `finished` says the flow is no
   * longer running (checked after the snapshot and after each terminal event, one check at a time).
   */
  async streamFlow(
    caller: Caller,
    flowId: string,
    reply: FastifyReply,
    snapshot: () => Promise<unknown>,
    finished: () => Promise<boolean>,
  ): Promise<void> {
    await this.hub.ready();
    const release = await this.hub.reserve(caller.tenant);
    const stream = this.open(reply, caller.keyId, release);
    let checking = false;
    let again = false;
    const check = (): void => {
      if (checking) {
        again = true;
        return;
      }
      checking = true;
      finished()
        .then((done) => done && stream.end())
        .catch((error: unknown) => this.logger.debug({ err: error, flowId }, 'flow state check failed'))
        .finally(() => {
          checking = false;
          if (again && stream.isOpen) {
            again = false;
            check();
          }
        });
    };
    const sink = new TenantEventSink(tenantScope(caller) ?? null, { flowId }, stream, check);
    this.hub.addTenantSink(sink);
    try {
      stream.send('snapshot', await snapshot());
      sink.flush();
      check();
    } catch (error) {
      this.logger.warn({ err: error, flowId }, 'flow event stream snapshot failed');
      stream.end();
    }
  }

  /** The job as PostgreSQL has it, overlaid with the live state when that is newer. */
  private snapshot(row: JobRow, live: LiveProgress | null): JobSnapshot {
    const view = this.jobs.view(row);
    const durableSeq = Number(row.progress_seq);
    if (!live || live.seq <= durableSeq) return { ...view, seq: durableSeq };
    return {
      ...view,
      status: live.status,
      step: live.step,
      progress: live.progress,
      message: live.message,
      attempts: Math.max(view.attempts, live.attempt),
      error: live.error ?? view.error,
      resultUrl: live.resultUrl ?? view.resultUrl,
      seq: live.seq,
    };
  }

  private open(reply: FastifyReply, keyId: string, release: () => void): SseStream {
    // From here on this handler writes the raw response itself (Fastify and compression step aside).
    const headers = hijackReply(reply);
    const stream = new SseStream(reply.raw, keyId);
    stream.onClose(release);
    stream.start(headers, RECONNECT_MS);
    return stream;
  }
}

function parseLastEventId(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const seq = Number(value.trim());
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw new ApiError('validation_failed', 'Last-Event-ID must be an event id of this stream (a seq)', [
      { field: 'Last-Event-ID', message: 'must be a non-negative integer' },
    ]);
  }
  return seq;
}
