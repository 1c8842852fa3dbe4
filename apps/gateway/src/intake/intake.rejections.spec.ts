import type { Message, MessageProperties } from 'amqplib';
import { ApiError } from '@switchyard/contracts';
import { toInboundMessage, type InboundMessage } from '@switchyard/messaging';
import { errorReply, rejectedCopyOptions, rejectionFromApiError } from './intake.rejections';

function inbound(body: string, properties: Partial<MessageProperties> = {}): InboundMessage {
  return toInboundMessage({
    content: Buffer.from(body, 'utf8'),
    fields: { deliveryTag: 7, redelivered: false, exchange: 'p.intake', routingKey: 'submit' },
    properties: { headers: {}, ...properties },
  } as unknown as Message);
}

const NOW = new Date('2030-01-02T03:04:05.000Z');

describe('rejectedCopyOptions', () => {
  it('keeps the original properties and headers, adds the rejection headers, and never copies the API key', () => {
    const message = inbound('{"type":1}', {
      messageId: 'm-1',
      correlationId: 'c-1',
      contentType: 'application/json',
      type: 'acme.submit',
      replyTo: 'acme.replies',
      expiration: '1000',
      priority: 3,
      headers: {
        'x-api-key': 'sy_secret',
        'X-API-KEY': 'sy_secret2',
        Authorization: 'Bearer x',
        trace: 'abc',
        n: 5,
      },
    });
    const options = rejectedCopyOptions(
      message,
      {
        code: 'validation_failed',
        reason: 'the request does not match the job submission schema',
        details: [{ field: 'type', message: 'must be string' }],
      },
      'c-1',
      NOW,
    );
    expect(options).toEqual({
      messageId: 'm-1',
      correlationId: 'c-1',
      contentType: 'application/json',
      type: 'acme.submit',
      replyTo: 'acme.replies',
      headers: {
        trace: 'abc',
        n: 5,
        'x-rejection-code': 'validation_failed',
        'x-rejection-reason': 'the request does not match the job submission schema',
        'x-rejection-details': '[{"field":"type","message":"must be string"}]',
        'x-original-exchange': 'p.intake',
        'x-original-routing-key': 'submit',
        'x-rejected-at': '2030-01-02T03:04:05.000Z',
      },
    });
    // Expiration and priority are not copied: the copy must wait until someone looks at it.
    expect(JSON.stringify(options)).not.toContain('sy_secret');
  });

  it('describes a copy whose original had no properties truthfully', () => {
    const bytes = rejectedCopyOptions(
      inbound('not json'),
      { code: 'invalid_json', reason: 'x' },
      'gen-1',
      NOW,
    );
    expect(bytes).toMatchObject({ contentType: 'application/octet-stream', correlationId: 'gen-1' });
    expect(bytes.messageId).toBeUndefined();
    expect(bytes.type).toBe('switchyard.intake.rejected');
    const json = rejectedCopyOptions(inbound('{}'), { code: 'unauthorized', reason: 'x' }, 'gen-2', NOW);
    expect(json.contentType).toBe('application/json');
  });

  it('replaces rejection headers of a message rejected before and bounds the reason', () => {
    const message = inbound('{}', {
      headers: { 'x-rejection-code': 'invalid_json', 'x-rejection-details': '[]' },
    });
    const options = rejectedCopyOptions(
      message,
      { code: 'unauthorized', reason: 'r'.repeat(5000) },
      'c',
      NOW,
    );
    expect(options.headers?.['x-rejection-code']).toBe('unauthorized');
    expect(options.headers?.['x-rejection-details']).toBeUndefined();
    expect(String(options.headers?.['x-rejection-reason']).length).toBe(1000);
  });
});

describe('rejectionFromApiError', () => {
  it('keeps the REST code and message, naming 415 as unsupported_content_type', () => {
    expect(rejectionFromApiError(new ApiError('queue_full', 'queue "default" is full'))).toEqual({
      code: 'queue_full',
      reason: 'queue "default" is full',
    });
    expect(rejectionFromApiError(new ApiError('unsupported_media_type', 'no')).code).toBe(
      'unsupported_content_type',
    );
    expect(
      rejectionFromApiError(
        new ApiError('validation_failed', 'bad', [{ field: 'payload.steps', message: 'x' }]),
      ).details,
    ).toEqual([{ field: 'payload.steps', message: 'x' }]);
  });
});

describe('errorReply', () => {
  it('is {error: {code, message}}', () => {
    expect(errorReply({ code: 'unauthorized', reason: 'no key', details: [] })).toEqual({
      error: { code: 'unauthorized', message: 'no key' },
    });
  });
});
