import { reconnectDelay, redactUrl } from './reconnect-backoff';

describe('reconnectDelay', () => {
  const mid = (): number => 0.5;

  it('doubles from the minimum and stops at the maximum', () => {
    expect([0, 1, 2, 3, 4, 5, 10, 100].map((n) => reconnectDelay(n, 200, 5000, mid))).toEqual([
      200, 400, 800, 1600, 3200, 5000, 5000, 5000,
    ]);
  });

  it('jitters by ±20 % but never above the maximum', () => {
    expect(reconnectDelay(0, 200, 5000, () => 0)).toBe(160);
    expect(reconnectDelay(0, 200, 5000, () => 1)).toBe(240);
    expect(reconnectDelay(10, 200, 5000, () => 1)).toBe(5000);
  });
});

describe('redactUrl', () => {
  it('hides the password', () => {
    expect(redactUrl('amqp://guest:secret@host:5672/vh')).toBe('amqp://guest:***@host:5672/vh');
    expect(redactUrl('amqp://host')).toBe('amqp://host');
    expect(redactUrl('::')).toBe('<invalid AMQP URL>');
  });
});
