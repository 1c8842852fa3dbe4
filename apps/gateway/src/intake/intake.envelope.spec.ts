import type { Message, MessageProperties } from 'amqplib';
import { toInboundMessage, type InboundMessage } from '@switchyard/messaging';
import { headerText, readEnvelope, unsupportedContent } from './intake.envelope';

function inbound(body: string | Buffer, properties: Partial<MessageProperties> = {}): InboundMessage {
  const message = {
    content: Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'),
    fields: { deliveryTag: 1, redelivered: false, exchange: 'p.intake', routingKey: 'submit' },
    properties: { headers: {}, ...properties },
  } as unknown as Message;
  return toInboundMessage(message);
}

const LIMIT = 1024;
const codeOf = (message: InboundMessage) => {
  const read = readEnvelope(message, LIMIT);
  return read.ok ? 'ok' : read.rejection.code;
};

describe('readEnvelope', () => {
  it('takes JSON with application/json (any case, UTF-8 charset) or without a content type', () => {
    const body = '{"type":"synthetic","payload":{}}';
    expect(codeOf(inbound(body, { contentType: 'application/json' }))).toBe('ok');
    expect(codeOf(inbound(body, { contentType: 'Application/JSON; charset=UTF-8' }))).toBe('ok');
    expect(codeOf(inbound(body))).toBe('ok');
    expect(codeOf(inbound(body, { contentType: 'application/json', contentEncoding: 'utf-8' }))).toBe('ok');
  });

  it('rejects other content types, charsets and compressed bodies as unsupported_content_type', () => {
    const body = '{"type":"synthetic","payload":{}}';
    expect(codeOf(inbound(body, { contentType: 'text/plain' }))).toBe('unsupported_content_type');
    expect(codeOf(inbound(body, { contentType: 'application/xml' }))).toBe('unsupported_content_type');
    expect(codeOf(inbound(body, { contentType: 'application/json; charset=latin1' }))).toBe(
      'unsupported_content_type',
    );
    expect(codeOf(inbound(body, { contentType: 'application/json', contentEncoding: 'gzip' }))).toBe(
      'unsupported_content_type',
    );
  });

  it('rejects a body that is not JSON, or empty, as invalid_json', () => {
    expect(codeOf(inbound('{"type": "synthetic",'))).toBe('invalid_json');
    expect(codeOf(inbound('', { contentType: 'application/json' }))).toBe('invalid_json');
    const read = readEnvelope(inbound('not json'), LIMIT);
    expect(read.ok ? '' : read.rejection.reason).toMatch(/not valid JSON/);
  });

  it('rejects a body over the limit as payload_too_large before looking at it', () => {
    expect(codeOf(inbound('x'.repeat(LIMIT + 1), { contentType: 'text/plain' }))).toBe('payload_too_large');
    expect(codeOf(inbound(`"${'x'.repeat(LIMIT - 2)}"`))).toBe('ok');
  });

  it('reads the API key, message id, correlation id (property first, then header) and reply_to', () => {
    const read = readEnvelope(
      inbound('{}', {
        messageId: 'm-1',
        correlationId: 'c-1',
        replyTo: 'replies',
        headers: { 'X-API-Key': ' sy_key ', 'x-correlation-id': 'from-header' },
      }),
      LIMIT,
    );
    expect(read).toEqual({
      ok: true,
      envelope: { body: {}, apiKey: 'sy_key', messageId: 'm-1', correlationId: 'c-1', replyTo: 'replies' },
    });
    const fromHeader = readEnvelope(inbound('{}', { headers: { 'x-correlation-id': 'from-header' } }), LIMIT);
    expect(fromHeader.ok && fromHeader.envelope).toMatchObject({
      correlationId: 'from-header',
      apiKey: undefined,
      messageId: undefined,
      replyTo: undefined,
    });
  });
});

describe('unsupportedContent', () => {
  it('names what is wrong', () => {
    expect(unsupportedContent('text/csv', undefined)).toMatch(/content_type "text\/csv"/);
    expect(unsupportedContent(undefined, 'deflate')).toMatch(/content_encoding "deflate"/);
    expect(unsupportedContent('  ', 'identity')).toBeUndefined();
  });
});

describe('headerText', () => {
  it('reads strings and byte arrays in any header case and ignores empty or other values', () => {
    expect(headerText({ 'x-api-key': Buffer.from('k1') }, 'x-api-key')).toBe('k1');
    expect(headerText({ 'X-Api-Key': 'k2' }, 'x-api-key')).toBe('k2');
    expect(headerText({ 'x-api-key': '   ' }, 'x-api-key')).toBeUndefined();
    expect(headerText({ 'x-api-key': 42 }, 'x-api-key')).toBeUndefined();
  });
});
