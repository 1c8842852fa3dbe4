import { endpointOf, redactUrl } from './doctor.probes';

describe('doctor: AMQP_URL naming a cluster', () => {
  const list = 'amqp://guest:secret@10.0.0.1:5701,amqp://guest:secret@10.0.0.2';

  it('probes the first node of a list', () => {
    expect(endpointOf(list, 5672)).toEqual({ host: '10.0.0.1', port: 5701 });
    expect(endpointOf('amqp://broker', 5672)).toEqual({ host: 'broker', port: 5672 });
  });

  it('redacts every node', () => {
    expect(redactUrl(list)).toBe('amqp://guest:***@10.0.0.1:5701,amqp://guest:***@10.0.0.2');
  });
});
