import { createHmac, randomBytes } from 'node:crypto';

const SECRET_PREFIX = 'whsec_';

/** A new endpoint secret in the Standard Webhooks format: `whsec_` + base64 of 24 random bytes. */
export function generateWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(24).toString('base64')}`;
}

/**
 * The `webhook-signature` value of the Standard Webhooks specification: for each secret,
 * `v1,` + base64(HMAC-SHA256(secret bytes, `<webhook-id>.<webhook-timestamp>.<body>`)), separated
 * by spaces (two while a rotated-out secret is still valid).
 */
export function signWebhook(
  secrets: readonly string[],
  id: string,
  timestampSeconds: number,
  body: string,
): string {
  return secrets
    .map((secret) => {
      const key = Buffer.from(
        secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret,
        'base64',
      );
      const digest = createHmac('sha256', key)
        .update(`${id}.${timestampSeconds}.${body}`, 'utf8')
        .digest('base64');
      return `v1,${digest}`;
    })
    .join(' ');
}

/** The three Standard Webhooks headers of one attempt. */
export function webhookHeaders(secrets: readonly string[], id: string, body: string, now = Date.now()) {
  const timestamp = Math.floor(now / 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signWebhook(secrets, id, timestamp, body),
  };
}
