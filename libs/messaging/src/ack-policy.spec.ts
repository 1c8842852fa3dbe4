import { Ack, DeadLetter, outcomeForHandlerError, Requeue } from './ack-policy';

describe('ack policies', () => {
  it('names the three outcomes', () => {
    expect(Ack).toEqual({ kind: 'ack' });
    expect(Requeue).toEqual({ kind: 'requeue' });
    expect(DeadLetter('invalid_payload')).toEqual({ kind: 'dead-letter', reason: 'invalid_payload' });
  });

  it('requeues a failed first delivery and dead-letters a failed redelivery', () => {
    expect(outcomeForHandlerError(false)).toEqual({ kind: 'requeue' });
    expect(outcomeForHandlerError(true).kind).toBe('dead-letter');
  });
});
