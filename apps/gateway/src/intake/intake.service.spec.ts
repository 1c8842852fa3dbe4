import type { Message, MessageProperties } from 'amqplib';
import pino from 'pino';
import { Registry } from 'prom-client';
import { amqpNames, ApiError } from '@switchyard/contracts';
import {
  MessagingError,
  toInboundMessage,
  type AmqpClient,
  type InboundMessage,
  type PublishOptions,
} from '@switchyard/messaging';
import { correlation } from '@switchyard/observability';
import type { ApiKeysService } from '../auth/api-keys.service';
import type { Caller } from '../auth/caller';
import type { GatewayConfig } from '../gateway.tokens';
import type { SubmissionService, SubmitResult } from '../jobs/submission.service';
import { idempotencyKeyOf, IntakeService, INTAKE_MESSAGES_METRIC } from './intake.service';

// Unit tests of the decisions, with the services IntakeService calls replaced by fakes; the
// broker, the database and Redis are exercised for real by e2e/intake-*.e2e.ts.

interface Published {
  exchange: string;
  routingKey: string;
  body: unknown;
  options: PublishOptions;
}

const WRITER: Caller = { tenant: 'acme', keyId: 'k1', scopes: ['jobs:read', 'jobs:write'], admin: false };
const READER: Caller = { tenant: 'acme', keyId: 'k2', scopes: ['jobs:read'], admin: false };

function inbound(
  body: string,
  properties: Partial<MessageProperties> = {},
  redelivered = false,
): InboundMessage {
  return toInboundMessage({
    content: Buffer.from(body, 'utf8'),
    fields: { deliveryTag: 1, redelivered, exchange: 'p.intake', routingKey: 'submit' },
    properties: { headers: { 'x-api-key': 'sy_writer' }, ...properties },
  } as unknown as Message);
}

const JOB = '{"type":"synthetic","payload":{"durationMs":0}}';

function setup(
  overrides: {
    submit?: (caller: Caller, body: unknown, key: string | undefined) => Promise<SubmitResult>;
    publish?: (p: Published) => Promise<void>;
    probe?: () => Promise<unknown>;
  } = {},
) {
  const published: Published[] = [];
  const submitted: { caller: Caller; body: unknown; key: string | undefined; correlationId?: string }[] = [];
  const amqp = {
    names: amqpNames('p'),
    publishRaw: (exchange: string, routingKey: string, body: unknown, options: PublishOptions = {}) => {
      const p = { exchange, routingKey, body, options };
      published.push(p);
      return overrides.publish ? overrides.publish(p) : Promise.resolve();
    },
  } as unknown as AmqpClient;
  const keys = {
    authenticate: (key: string) =>
      Promise.resolve(key === 'sy_writer' ? WRITER : key === 'sy_reader' ? READER : null),
  } as unknown as ApiKeysService;
  const submissions = {
    submit: async (caller: Caller, body: unknown, key: string | undefined): Promise<SubmitResult> => {
      submitted.push({ caller, body, key, correlationId: correlation.get()?.correlationId });
      if (overrides.submit) return overrides.submit(caller, body, key);
      return {
        status: 202,
        job: {
          id: 'job-1',
          status: 'queued',
          correlationId: correlation.get()?.correlationId ?? '',
          deduplicated: false,
          cached: false,
        } as SubmitResult['job'],
      };
    },
  } as unknown as SubmissionService;
  const registry = new Registry();
  const service = new IntakeService(
    { BODY_LIMIT_BYTES: 1024 } as GatewayConfig,
    pino({ level: 'silent' }),
    registry,
    overrides.probe ?? (() => Promise.resolve()),
    amqp,
    keys,
    submissions,
  );
  const count = async (outcome: string, code = '') => {
    const metric = await registry.getSingleMetric(INTAKE_MESSAGES_METRIC)?.get();
    return (
      metric?.values.find((v) => v.labels['outcome'] === outcome && v.labels['code'] === code)?.value ?? 0
    );
  };
  return { service, published, submitted, count };
}

describe('IntakeService', () => {
  it('submits through SubmissionService as the key’s caller, keeping the correlation id, and replies', async () => {
    const { service, published, submitted, count } = setup();
    const result = await service.handle(
      inbound(JOB, { messageId: 'm-1', correlationId: 'corr-1', replyTo: 'my.replies' }),
    );
    expect(result).toEqual({ kind: 'accepted', jobId: 'job-1', status: 'queued', created: true });
    expect(submitted).toEqual([
      { caller: WRITER, body: JSON.parse(JOB) as unknown, key: 'm-1', correlationId: 'corr-1' },
    ]);
    expect(published).toEqual([
      {
        exchange: '',
        routingKey: 'my.replies',
        body: { jobId: 'job-1', status: 'queued' },
        options: { correlationId: 'corr-1', type: 'switchyard.intake.reply' },
      },
    ]);
    expect(await count('accepted')).toBe(1);
  });

  it('moves a message without a valid key to the rejected queue with its code, and replies the error', async () => {
    const { service, published, submitted } = setup();
    const missing = await service.handle(inbound(JOB, { headers: {}, replyTo: 'r', correlationId: 'c' }));
    const unknown = await service.handle(inbound(JOB, { headers: { 'x-api-key': 'sy_nobody' } }));
    const reader = await service.handle(inbound(JOB, { headers: { 'x-api-key': 'sy_reader' } }));
    expect([missing, unknown, reader]).toEqual([
      { kind: 'rejected', code: 'unauthorized' },
      { kind: 'rejected', code: 'unauthorized' },
      { kind: 'rejected', code: 'forbidden' },
    ]);
    expect(submitted).toEqual([]);
    const [copy, reply] = published;
    expect(copy).toMatchObject({
      exchange: '',
      routingKey: 'p.intake.rejected',
      options: {
        mandatory: true,
        correlationId: 'c',
        headers: { 'x-rejection-code': 'unauthorized' },
      },
    });
    expect(Buffer.isBuffer(copy?.body) && copy.body.toString()).toBe(JOB);
    expect(reply).toMatchObject({
      exchange: '',
      routingKey: 'r',
      body: { error: { code: 'unauthorized', message: 'an API key is required in the x-api-key header' } },
      options: { correlationId: 'c' },
    });
    // The key itself is never copied.
    expect(JSON.stringify(published.map((p) => p.options))).not.toContain('sy_');
  });

  it('rejects what SubmissionService refuses, with the REST code', async () => {
    for (const code of [
      'validation_failed',
      'unknown_job_type',
      'tenant_quota_exceeded',
      'queue_full',
      'idempotency_conflict',
    ] as const) {
      const { service, published } = setup({
        submit: () => Promise.reject(new ApiError(code, `refused: ${code}`)),
      });
      expect(await service.handle(inbound(JOB))).toEqual({ kind: 'rejected', code });
      expect(published[0]?.options.headers).toMatchObject({
        'x-rejection-code': code,
        'x-rejection-reason': `refused: ${code}`,
      });
    }
  });

  it('rejects malformed messages without calling any service', async () => {
    const { service, submitted } = setup();
    expect(await service.handle(inbound('{oops'))).toEqual({ kind: 'rejected', code: 'invalid_json' });
    expect(await service.handle(inbound(JOB, { contentType: 'text/plain' }))).toEqual({
      kind: 'rejected',
      code: 'unsupported_content_type',
    });
    expect(await service.handle(inbound(`{"pad":"${'x'.repeat(2000)}"}`))).toEqual({
      kind: 'rejected',
      code: 'payload_too_large',
    });
    expect(submitted).toEqual([]);
  });

  it('answers a transient failure (database down, retry later) with transient, not a rejection', async () => {
    const down = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const a = setup({ submit: () => Promise.reject(down) });
    expect(await a.service.handle(inbound(JOB))).toMatchObject({ kind: 'transient' });
    expect(a.published).toEqual([]);
    expect(await a.count('requeued')).toBe(1);

    const busy = setup({ submit: () => Promise.reject(new ApiError('service_unavailable', 'retry')) });
    expect(await busy.service.handle(inbound(JOB))).toMatchObject({ kind: 'transient' });

    // An unknown error while the database does not answer is an outage too.
    const odd = setup({
      submit: () => Promise.reject(new Error('something odd')),
      probe: () => Promise.reject(new Error('database is starting up')),
    });
    expect(await odd.service.handle(inbound(JOB))).toMatchObject({ kind: 'transient' });
  });

  it('throws on a bug the first time (one requeue), and moves the redelivery to the rejected queue without its key', async () => {
    const { service, published, count } = setup({
      submit: () => Promise.reject(new TypeError('x is undefined')),
    });
    const message = {
      correlationId: 'c-bug',
      replyTo: 'r',
      headers: { 'x-api-key': 'sy_writer', trace: 't' },
    };
    await expect(service.handle(inbound(JOB, message))).rejects.toThrow('x is undefined');
    expect(published).toEqual([]);
    expect(await service.handle(inbound(JOB, message, true))).toEqual({
      kind: 'rejected',
      code: 'internal_error',
    });
    expect(published.map((p) => [p.routingKey, p.options.headers?.['x-rejection-code']])).toEqual([
      ['p.intake.rejected', 'internal_error'],
      ['r', undefined],
    ]);
    expect(published[0]?.options.headers).toMatchObject({ trace: 't' });
    expect(published[0]?.options.headers?.['x-rejection-reason']).toMatch(
      /failed to handle this message twice.*c-bug/,
    );
    expect(JSON.stringify(published)).not.toContain('sy_writer');
    expect(await count('rejected', 'internal_error')).toBe(1);
  });

  it('drops original headers the client cannot encode again, rather than failing the rejection', async () => {
    const { service, published } = setup({
      publish: (p) =>
        p.options.headers?.['odd'] === undefined
          ? Promise.resolve()
          : Promise.reject(new TypeError('cannot encode')),
    });
    const result = await service.handle(inbound('{oops', { headers: { 'x-api-key': 'sy_writer', odd: 1 } }));
    expect(result).toEqual({ kind: 'rejected', code: 'invalid_json' });
    expect(published).toHaveLength(2);
    expect(published[1]?.options.headers).toMatchObject({ 'x-rejection-code': 'invalid_json' });
    expect(published[1]?.options.headers?.['odd']).toBeUndefined();
  });

  it('requeues (transient) when the rejected copy is not confirmed, so the message is never lost', async () => {
    const { service } = setup({ publish: () => Promise.reject(new MessagingError('nacked', 'nack')) });
    expect(await service.handle(inbound('{oops'))).toMatchObject({ kind: 'transient' });
  });

  it('handles an idempotent message again when its reply could not be published, and acks otherwise', async () => {
    const failing = () => Promise.reject(new MessagingError('channel_closed', 'gone'));
    const keyed = setup({ publish: failing });
    expect(await keyed.service.handle(inbound(JOB, { messageId: 'm', replyTo: 'r' }))).toMatchObject({
      kind: 'transient',
    });
    const unkeyed = setup({ publish: failing });
    expect(await unkeyed.service.handle(inbound(JOB, { replyTo: 'r' }))).toMatchObject({ kind: 'accepted' });
  });
});

describe('idempotencyKeyOf', () => {
  it('is message_id unless the body has its own key', () => {
    expect(idempotencyKeyOf({ body: { type: 't' }, messageId: 'm' })).toBe('m');
    expect(idempotencyKeyOf({ body: { idempotencyKey: 'own' }, messageId: 'm' })).toBe('own');
    expect(idempotencyKeyOf({ body: { type: 't' }, messageId: undefined })).toBeUndefined();
    expect(idempotencyKeyOf({ body: [1], messageId: 'm' })).toBeUndefined();
    expect(idempotencyKeyOf({ body: { idempotencyKey: 5 }, messageId: 'm' })).toBeUndefined();
  });
});
