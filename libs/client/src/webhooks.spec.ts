import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { WebhookVerificationError } from './errors';
import { verifyWebhook } from './webhooks';

// Signed by the independent `standardwebhooks` implementation, verified by the SDK's Web Crypto one.
const secret = `whsec_${randomBytes(24).toString('base64')}`;
const body = JSON.stringify({
  type: 'switchyard.job.completed',
  subject: 'job-1',
  data: { status: 'completed' },
});
const sentAt = new Date('2026-12-06T08:00:00Z');

function signed(payload = body, key = secret, id = 'msg_1', at = sentAt): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(key).sign(id, at, payload),
  };
}

const now = sentAt.getTime() + 10000;

describe('verifyWebhook', () => {
  it('accepts a delivery signed per Standard Webhooks and returns the parsed body', async () => {
    await expect(verifyWebhook(secret, signed(), body, { now })).resolves.toEqual(JSON.parse(body));
    // Headers objects and Node's header records (any case, arrays) alike.
    await expect(verifyWebhook(secret, new Headers(signed()), body, { now })).resolves.toMatchObject({
      subject: 'job-1',
    });
    const record: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(signed())) record[name.toUpperCase()] = [value];
    await expect(verifyWebhook(secret, record, body, { now })).resolves.toMatchObject({ subject: 'job-1' });
  });

  it('accepts either signature during a secret rotation', async () => {
    const next = `whsec_${randomBytes(24).toString('base64')}`;
    const headers = signed();
    headers['webhook-signature'] =
      `${signed(body, next)['webhook-signature']} ${headers['webhook-signature']}`;
    await expect(verifyWebhook(secret, headers, body, { now })).resolves.toBeDefined();
    await expect(verifyWebhook(next, headers, body, { now })).resolves.toBeDefined();
  });

  it('rejects a tampered body, another id, another secret and a missing header', async () => {
    const headers = signed();
    const tampered = body.replace('"completed"', '"failed"');
    expect(tampered).not.toBe(body);
    await expect(verifyWebhook(secret, headers, tampered, { now })).rejects.toThrow(
      new WebhookVerificationError('no matching webhook signature'),
    );
    await expect(
      verifyWebhook(secret, { ...headers, 'webhook-id': 'msg_2' }, body, { now }),
    ).rejects.toBeInstanceOf(WebhookVerificationError);
    const other = `whsec_${randomBytes(24).toString('base64')}`;
    await expect(verifyWebhook(other, headers, body, { now })).rejects.toBeInstanceOf(
      WebhookVerificationError,
    );
    const { ['webhook-signature']: _omitted, ...unsigned } = headers;
    await expect(verifyWebhook(secret, unsigned, body, { now })).rejects.toThrow(/missing webhook headers/);
  });

  it('rejects a timestamp outside the tolerance (a replayed old delivery), either way', async () => {
    const headers = signed();
    const fiveMinutes = 300000;
    await expect(
      verifyWebhook(secret, headers, body, { now: sentAt.getTime() + fiveMinutes }),
    ).resolves.toBeDefined();
    await expect(
      verifyWebhook(secret, headers, body, { now: sentAt.getTime() + fiveMinutes + 1000 }),
    ).rejects.toThrow(/outside the tolerance/);
    await expect(
      verifyWebhook(secret, headers, body, { now: sentAt.getTime() - fiveMinutes - 1000 }),
    ).rejects.toThrow(/outside the tolerance/);
    await expect(
      verifyWebhook(secret, headers, body, { now: sentAt.getTime() + 3600000, toleranceSeconds: 7200 }),
    ).resolves.toBeDefined();
    await expect(
      verifyWebhook(secret, { ...headers, 'webhook-timestamp': 'soon' }, body, { now }),
    ).rejects.toThrow(/outside the tolerance/);
  });
});
