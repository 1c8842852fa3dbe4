import { encodeBody, toPublishProperties } from './publish-options';

describe('toPublishProperties', () => {
  it('makes messages persistent JSON with a fresh id and a timestamp in seconds', () => {
    const a = toPublishProperties({}, 1_700_000_000_999);
    const b = toPublishProperties({}, 1_700_000_000_999);
    expect(a).toMatchObject({
      persistent: true,
      contentType: 'application/json',
      timestamp: 1_700_000_000,
      mandatory: false,
    });
    expect(a.messageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.messageId).not.toBe(b.messageId);
  });

  it('passes the given properties through', () => {
    const p = toPublishProperties(
      {
        messageId: 'm',
        correlationId: 'c',
        type: 't',
        priority: 9,
        headers: { h: 1 },
        contentType: 'application/cloudevents+json',
        expiration: '1000',
        replyTo: 'r',
        cc: ['1000'],
        mandatory: true,
      },
      0,
    );
    expect(p).toEqual({
      persistent: true,
      timestamp: 0,
      messageId: 'm',
      correlationId: 'c',
      type: 't',
      priority: 9,
      headers: { h: 1 },
      contentType: 'application/cloudevents+json',
      expiration: '1000',
      replyTo: 'r',
      CC: ['1000'],
      mandatory: true,
    });
  });

  it.each([-1, 10, 2.5, Number.NaN])('rejects priority %p', (priority) => {
    expect(() => toPublishProperties({ priority }, 0)).toThrow(RangeError);
  });
});

describe('encodeBody', () => {
  it('serialises values as JSON and passes buffers through', () => {
    expect(encodeBody({ a: 1 }).toString()).toBe('{"a":1}');
    const buffer = Buffer.from('raw');
    expect(encodeBody(buffer)).toBe(buffer);
  });

  it('refuses values JSON cannot represent', () => {
    expect(() => encodeBody(undefined)).toThrow(TypeError);
  });
});
