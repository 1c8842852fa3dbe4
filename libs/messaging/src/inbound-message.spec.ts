import type { Message } from 'amqplib';
import { parseJsonBody, toInboundMessage } from './inbound-message';

function message(content: Buffer, headers?: Record<string, unknown>, redelivered = false): Message {
  return {
    content,
    fields: { deliveryTag: 1, redelivered, exchange: 'x', routingKey: 'k' },
    properties: { headers } as Message['properties'],
  };
}

describe('parseJsonBody', () => {
  it('parses JSON of any kind', () => {
    expect(parseJsonBody(Buffer.from('{"a":[1,2]}'))).toEqual({ a: [1, 2] });
    expect(parseJsonBody(Buffer.from('null'))).toBeNull();
    expect(parseJsonBody(Buffer.from('3'))).toBe(3);
  });

  it.each(['', '{', 'not json', '\u00ff\u00fe'])('gives undefined for %p', (text) => {
    expect(parseJsonBody(Buffer.from(text))).toBeUndefined();
  });
});

describe('toInboundMessage', () => {
  it('keeps the raw body and exposes parsed content, headers and redelivery', () => {
    const body = Buffer.from('{"jobId":"j"}');
    const inbound = toInboundMessage(message(body, { 'x-api-key': 'k' }, true));
    expect(inbound.body).toBe(body);
    expect(inbound.content).toEqual({ jobId: 'j' });
    expect(inbound.headers).toEqual({ 'x-api-key': 'k' });
    expect(inbound.redelivered).toBe(true);
    expect(inbound.fields.routingKey).toBe('k');
  });

  it('gives empty headers when the message has none', () => {
    expect(toInboundMessage(message(Buffer.from('x'))).headers).toEqual({});
  });
});
