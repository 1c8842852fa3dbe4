import { amqpUrlList, reconnectDelay, redactUrl, rotatedUrlList } from './reconnect-backoff';

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

describe('AMQP_URL lists', () => {
  const list = 'amqp://u:p@n1:5701, amqp://u:p@n2:5702,amqp://u:p@n3:5703';

  it('splits a comma-separated list of nodes and redacts each', () => {
    expect(amqpUrlList(list)).toEqual(['amqp://u:p@n1:5701', 'amqp://u:p@n2:5702', 'amqp://u:p@n3:5703']);
    expect(amqpUrlList('amqp://host')).toEqual(['amqp://host']);
    expect(redactUrl(list)).toBe('amqp://u:***@n1:5701, amqp://u:***@n2:5702, amqp://u:***@n3:5703');
  });

  it('starts at a random node and keeps the cyclic order', () => {
    expect(rotatedUrlList(list, () => 0)[0]).toBe('amqp://u:p@n1:5701');
    expect(rotatedUrlList(list, () => 0.5)).toEqual([
      'amqp://u:p@n2:5702',
      'amqp://u:p@n3:5703',
      'amqp://u:p@n1:5701',
    ]);
    expect(rotatedUrlList(list, () => 0.999)[0]).toBe('amqp://u:p@n3:5703');
    expect(rotatedUrlList('amqp://one', () => 0.7)).toEqual(['amqp://one']);
  });
});
