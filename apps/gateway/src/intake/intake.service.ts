import { Inject, Injectable } from '@nestjs/common';
import type { Counter, Registry } from 'prom-client';
import { ApiError, INTAKE_REPLY, type IntakeRejectionCode } from '@switchyard/contracts';
import { AmqpClient, MessagingError, type InboundMessage, type PublishOptions } from '@switchyard/messaging';
import { acceptCorrelationId, correlation, counter, METRIC_PREFIX } from '@switchyard/observability';
import { ApiKeysService } from '../auth/api-keys.service';
import { hasScope } from '../auth/auth.guard';
import { GATEWAY_CONFIG, LOGGER, METRICS, type GatewayConfig, type Logger } from '../gateway.tokens';
import { DATABASE_PROBE, type DatabaseProbe } from '../health/api-health.service';
import { SubmissionService, type SubmitResult } from '../jobs/submission.service';
import { readEnvelope, sentCorrelationId, type IntakeEnvelope } from './intake.envelope';
import {
  errorReply,
  rejectedCopyOptions,
  rejectionFromApiError,
  type IntakeRejection,
  type IntakeReply,
} from './intake.rejections';
import { isDependencyUnavailable } from '@switchyard/resilience';

/** What became of one intake message; the consumer turns it into ack or a delayed requeue. */
export type IntakeResult =
  | { kind: 'accepted'; jobId: string; status: string; created: boolean }
  | { kind: 'rejected'; code: IntakeRejectionCode }
  /** A dependency is down or busy: nothing is wrong with the message, so try it again later. */
  | { kind: 'transient'; reason: string };

export const INTAKE_MESSAGES_METRIC = `${METRIC_PREFIX}intake_messages_total`;

/** How long the database probe that tells an outage from a bug may take. */
const PROBE_TIMEOUT_MS = 2000;

/**
 * Admission of jobs published on `<prefix>.intake` (SPEC §5) through the same services as
 * `POST /api/v1/jobs`: API keys, validation, quotas, idempotency, dedup and the result cache. A
 * message that cannot become a job is copied to `<prefix>.intake.rejected` (publisher-confirmed)
 * before the consumer acks it, so nothing is lost and nothing loops.
 */
@Injectable()
export class IntakeService {
  private readonly logger: Logger;
  private readonly messages: Counter<'outcome' | 'code'>;

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) logger: Logger,
    @Inject(METRICS) metrics: Registry,
    @Inject(DATABASE_PROBE) private readonly databaseProbe: DatabaseProbe,
    private readonly amqp: AmqpClient,
    private readonly keys: ApiKeysService,
    private readonly submissions: SubmissionService,
  ) {
    this.logger = logger.child({ component: 'intake' });
    this.messages = counter(
      metrics,
      INTAKE_MESSAGES_METRIC,
      'Intake messages handled, by outcome (accepted, rejected, requeued) and rejection code',
      ['outcome', 'code'],
    );
  }

  /**
   * Handles one delivery. Resolves once the outcome is durable (job committed, or rejected copy
   * confirmed by the broker). An unexpected error (a bug, or data PostgreSQL refuses) is thrown on
   * the first delivery, so the messaging library requeues the message once; on the redelivery the
   * message is moved to the rejected queue as `internal_error`. Not left to the intake queue's
   * dead-letter route, which would keep every header, the API key included.
   */
  async handle(message: InboundMessage): Promise<IntakeResult> {
    const sent = sentCorrelationId(message);
    // The publisher's correlation id when it is sane (it is then kept on the job), else a new one.
    const correlationId = acceptCorrelationId(sent);
    return correlation.run({ correlationId }, async () => {
      const ids = { sent, correlationId };
      let result: IntakeResult;
      try {
        result = await this.process(message, ids);
      } catch (error) {
        if (!message.redelivered) throw error;
        this.logger.error(
          { err: error, messageId: message.properties.messageId as unknown },
          'intake message failed twice; moving it to the rejected queue',
        );
        result = await this.reject(
          message,
          {
            code: 'internal_error',
            reason: `the gateway failed to handle this message twice; its logs say why (correlation id ${correlationId})`,
          },
          ids,
        );
      }
      this.messages.inc({
        outcome: result.kind === 'transient' ? 'requeued' : result.kind,
        code: result.kind === 'rejected' ? result.code : '',
      });
      return result;
    });
  }

  private async process(
    message: InboundMessage,
    ids: { sent: string | undefined; correlationId: string },
  ): Promise<IntakeResult> {
    const read = readEnvelope(message, this.config.BODY_LIMIT_BYTES);
    if (!read.ok) return this.reject(message, read.rejection, ids);
    const { envelope } = read;
    let admitted: SubmitResult | IntakeRejection;
    try {
      admitted = await this.admit(envelope);
    } catch (error) {
      if (!(await this.isTransient(error))) throw error;
      this.logger.warn(
        { err: error, messageId: envelope.messageId },
        'intake message met a transient failure; it will be requeued',
      );
      return { kind: 'transient', reason: errorMessage(error) };
    }
    if (!('job' in admitted)) return this.reject(message, admitted, ids);

    const { job, status } = admitted;
    this.logger.info(
      {
        jobId: job.id,
        messageId: envelope.messageId,
        created: status === 202,
        deduplicated: job.deduplicated,
        cached: job.cached,
      },
      'intake message accepted',
    );
    if (envelope.replyTo !== undefined) {
      const replied = await this.reply(
        envelope.replyTo,
        { jobId: job.id, status: job.status },
        ids.sent ?? job.correlationId,
      );
      // Only an idempotent message may be handled again: its replay finds the same job and replies.
      if (!replied && idempotencyKeyOf(envelope) !== undefined) {
        return { kind: 'transient', reason: 'the reply could not be published' };
      }
    }
    return { kind: 'accepted', jobId: job.id, status: job.status, created: status === 202 };
  }

  /** The REST rules, in the REST order: API key, scope, then SubmissionService (the same one). */
  private async admit(envelope: IntakeEnvelope): Promise<SubmitResult | IntakeRejection> {
    if (envelope.apiKey === undefined) {
      return { code: 'unauthorized', reason: 'an API key is required in the x-api-key header' };
    }
    const caller = await this.keys.authenticate(envelope.apiKey);
    if (!caller) return { code: 'unauthorized', reason: 'the API key is not valid (unknown or revoked)' };
    if (!hasScope(caller, 'jobs:write')) {
      return { code: 'forbidden', reason: 'this API key lacks the "jobs:write" scope' };
    }
    correlation.assign({ tenant: caller.tenant });
    try {
      return await this.submissions.submit(caller, envelope.body, idempotencyKeyOf(envelope));
    } catch (error) {
      // 4xx answers and queue_full are about this message and the tenant's limits: reject them.
      // service_unavailable (retry) and internal errors go to the caller's transient/bug handling.
      if (
        error instanceof ApiError &&
        error.code !== 'service_unavailable' &&
        error.code !== 'internal_error'
      ) {
        return rejectionFromApiError(error);
      }
      throw error;
    }
  }

  private async reject(
    message: InboundMessage,
    rejection: IntakeRejection,
    ids: { sent: string | undefined; correlationId: string },
  ): Promise<IntakeResult> {
    const now = new Date();
    let options = rejectedCopyOptions(message, rejection, ids.correlationId, now);
    try {
      try {
        await this.publishRejected(message, options);
      } catch (error) {
        if (error instanceof MessagingError) throw error;
        // Not the broker: an original header the client cannot encode again. Keep the rest.
        this.logger.warn({ err: error }, 'rejected copy could not carry the original headers; dropping them');
        options = rejectedCopyOptions(message, rejection, ids.correlationId, now, { originalHeaders: false });
        await this.publishRejected(message, options);
      }
    } catch (error) {
      if (!(error instanceof MessagingError)) throw error;
      this.logger.warn(
        { err: error, code: rejection.code },
        'could not move an intake message to the rejected queue; it will be requeued',
      );
      return { kind: 'transient', reason: errorMessage(error) };
    }
    this.logger.warn(
      {
        code: rejection.code,
        reason: rejection.reason,
        messageId: options.messageId,
        exchange: message.fields.exchange,
        routingKey: message.fields.routingKey,
      },
      'intake message rejected',
    );
    const replyTo = typeof message.properties.replyTo === 'string' ? message.properties.replyTo : '';
    // The rejected copy is durable already: a failed reply is logged, not retried (a retry would
    // reject the message a second time).
    if (replyTo !== '') await this.reply(replyTo, errorReply(rejection), ids.sent ?? ids.correlationId);
    return { kind: 'rejected', code: rejection.code };
  }

  private publishRejected(message: InboundMessage, options: PublishOptions): Promise<void> {
    // mandatory: if the rejected queue were missing, the broker would drop the copy silently.
    return this.amqp.publishRaw('', this.amqp.names.intakeRejectedQueue, message.body, {
      ...options,
      mandatory: true,
    });
  }

  /** Publishes a reply to the default exchange; false when the broker did not confirm it. */
  private async reply(replyTo: string, body: IntakeReply, correlationId: string): Promise<boolean> {
    try {
      // Not mandatory: a requester whose reply queue is gone has stopped listening; nothing to do.
      await this.amqp.publishRaw('', replyTo, body, { correlationId, type: INTAKE_REPLY });
      return true;
    } catch (error) {
      this.logger.warn({ err: error, replyTo }, 'could not publish an intake reply');
      return false;
    }
  }

  /**
   * A dependency failure rather than a bug: a known transient error, or any error while the
   * database does not answer (its errors vary with how it is down).
   */
  private async isTransient(error: unknown): Promise<boolean> {
    if (error instanceof ApiError) return error.code === 'service_unavailable';
    if (isDependencyUnavailable(error)) return true;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.databaseProbe(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('database probe timed out')), PROBE_TIMEOUT_MS);
        }),
      ]);
      return false;
    } catch {
      return true;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * SPEC §5: `message_id` is the idempotency key when the body has none. A body with its own key
 * keeps it (the message id is then only a message id).
 */
export function idempotencyKeyOf(envelope: Pick<IntakeEnvelope, 'body' | 'messageId'>): string | undefined {
  const { body } = envelope;
  const isObject = body !== null && typeof body === 'object' && !Array.isArray(body);
  if (!isObject) return undefined;
  const own = (body as { idempotencyKey?: unknown }).idempotencyKey;
  if (own !== undefined) return typeof own === 'string' ? own : undefined;
  return envelope.messageId;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
