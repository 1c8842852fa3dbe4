import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  ApiError,
  CLOUDEVENTS_CONTENT_TYPE,
  createJobEvent,
  eventCloudType,
  eventRoutingKey,
  type JobDispatch,
  type JobHistoryEntry,
  type JobView,
} from '@switchyard/contracts';
import { AmqpClient } from '@switchyard/messaging';
import { correlation } from '@switchyard/observability';
import {
  JobsRepository,
  InvalidCursorError,
  toJobView,
  type JobListQuery,
  type NewJob,
  type OutboxMessage,
} from '@switchyard/persistence';
import { OutboxPublisher } from '../outbox/outbox.publisher';
import { LOGGER, SERVICE_NAME, type Logger } from '../gateway.tokens';
import { SubmissionValidator, type ValidSubmission } from './submission.validator';

export interface SubmitResult {
  status: 202 | 200;
  job: JobView;
}

@Injectable()
export class JobsService {
  constructor(
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly jobs: JobsRepository,
    private readonly amqp: AmqpClient,
    private readonly validator: SubmissionValidator,
    private readonly outbox: OutboxPublisher,
  ) {}

  async submit(body: unknown, tenant: string, idempotencyHeader?: string): Promise<SubmitResult> {
    if (idempotencyHeader && body && typeof body === 'object' && !('idempotencyKey' in body)) {
      body = { ...(body as Record<string, unknown>), idempotencyKey: idempotencyHeader };
    }
    const checked = this.validator.check(body);
    if (!checked.ok) throw checked.error;
    const [job] = await this.create([checked.value], tenant);
    return { status: 202, job: job };
  }

  /** Inserts jobs with their dispatch messages and `job.queued` events in one transaction, then publishes. */
  async create(submissions: ValidSubmission[], tenant: string): Promise<JobView[]> {
    const correlationId = correlation.get()?.correlationId ?? randomUUID();
    const rows: NewJob[] = submissions.map((s) => ({
      id: randomUUID(),
      tenant,
      type: s.type,
      queue: s.queue,
      priority: s.priority,
      maxAttempts: s.maxAttempts,
      timeoutMs: s.timeoutMs,
      correlationId,
      idempotencyKey: s.idempotencyKey,
      requestHash: s.requestHash,
      payload: s.payload,
      metadata: s.metadata,
    }));
    const createdAt = new Date().toISOString();
    const messages = rows.flatMap((job) => this.outboxMessages(job, createdAt));
    const { rows: stored, outboxIds } = await this.jobs.insertJobs(rows, messages);
    await this.outbox.publishCommitted(messages.map((m, i) => ({ ...m, id: outboxIds[i] })));
    for (const job of rows) {
      this.logger.info(
        { jobId: job.id, tenant, type: job.type, queue: job.queue, priority: job.priority },
        'job accepted',
      );
    }
    return stored.map(toJobView);
  }

  async get(id: string, tenant: string): Promise<JobView & { history: JobHistoryEntry[] }> {
    const row = isUuid(id) ? await this.jobs.findById(id, tenant) : null;
    if (!row) throw new ApiError('not_found', `job ${id} not found`);
    return { ...toJobView(row), history: await this.jobs.history(id) };
  }

  async list(query: JobListQuery): Promise<{ items: JobView[]; nextCursor: string | null }> {
    try {
      const { rows, nextCursor } = await this.jobs.list(query);
      return { items: rows.map(toJobView), nextCursor };
    } catch (error) {
      if (error instanceof InvalidCursorError) {
        throw new ApiError('validation_failed', error.message, [{ field: 'cursor', message: error.message }]);
      }
      throw error;
    }
  }

  private outboxMessages(job: NewJob, createdAt: string): OutboxMessage[] {
    const dispatch: JobDispatch = { jobId: job.id, tenant: job.tenant, type: job.type, queue: job.queue };
    const queued = createJobEvent(
      SERVICE_NAME,
      'queued',
      {
        jobId: job.id,
        tenant: job.tenant,
        type: job.type,
        queue: job.queue,
        status: 'queued',
        step: null,
        progress: 0,
        message: null,
        attempt: 0,
        seq: 1,
        createdAt,
      },
      job.correlationId,
    );
    return [
      {
        jobId: job.id,
        exchange: this.amqp.names.jobsExchange,
        routingKey: job.queue,
        body: dispatch,
        properties: {
          priority: job.priority,
          correlationId: job.correlationId,
          messageId: job.id,
          type: 'switchyard.job.dispatch',
        },
      },
      {
        jobId: job.id,
        exchange: this.amqp.names.eventsExchange,
        routingKey: eventRoutingKey('queued'),
        body: queued,
        properties: {
          correlationId: job.correlationId,
          messageId: queued.id,
          type: eventCloudType('queued'),
          contentType: CLOUDEVENTS_CONTENT_TYPE,
        },
      },
    ];
  }
}

export function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}
