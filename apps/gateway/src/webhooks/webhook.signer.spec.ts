import { Webhook } from 'standardwebhooks';
import { generateWebhookSecret, webhookHeaders } from './webhook.signer';

// standardwebhooks is an independent implementation of the specification: what it accepts, any
// Standard Webhooks consumer accepts.
describe('webhook signatures', () => {
  const body = JSON.stringify({ specversion: '1.0', type: 'switchyard.job.completed', data: { ok: true } });

  it('signs so that the reference verifier accepts it, and not a tampered body', () => {
    const secret = generateWebhookSecret();
    const headers = webhookHeaders([secret], 'msg_1', body);
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(secret).verify(body.replace('true', 'false'), headers)).toThrow();
    expect(() => new Webhook(generateWebhookSecret()).verify(body, headers)).toThrow();
  });

  it('carries both signatures during a rotation, each verifiable with its own secret', () => {
    const [next, previous] = [generateWebhookSecret(), generateWebhookSecret()];
    const headers = webhookHeaders([next, previous], 'msg_2', body);
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(new Webhook(next).verify(body, headers)).toBeTruthy();
    expect(new Webhook(previous).verify(body, headers)).toBeTruthy();
  });
});
