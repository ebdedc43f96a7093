// Webhook signatures, exactly the Standard Webhooks spec (symmetric scheme). Pure.
//   webhook-id:        the event id (stable across retries: the receiver's dedup key)
//   webhook-timestamp: unix seconds of this delivery attempt
//   webhook-signature: v1,<base64 HMAC-SHA256(key, `${id}.${timestamp}.${rawBody}`)>, one per
//                      secret, space-separated (the first secret is current; the others let a
//                      receiver switch secrets without a gap)
// The key is the base64-decoded part of a `whsec_...` secret (see config/env.ts). Receivers verify
// with any Standard Webhooks library (the `standardwebhooks` npm package, Svix's, ...).
import { createHmac, randomBytes } from 'node:crypto';
import { decodeWebhookSecret } from '../config/webhook-secret.ts';

const SIGNATURE_VERSION = 'v1';
const HEADER_ID = 'webhook-id';
const HEADER_TIMESTAMP = 'webhook-timestamp';
const HEADER_SIGNATURE = 'webhook-signature';

/** Decoded signing keys, first is current. Throws on a malformed secret: config validated them already. */
export function signingKeys(secrets: string | readonly string[]): Buffer[] {
  const list = typeof secrets === 'string' ? [secrets] : [...secrets];
  if (list.length === 0) throw new Error('no webhook signing secret');
  return list.map((s, i) => {
    const key = decodeWebhookSecret(s);
    if (!key.ok) throw new Error(`webhook secret ${i + 1}: ${key.problem}`);
    return key.key;
  });
}

/** The base64 HMAC-SHA256 of `${id}.${timestamp}.${body}` under key. */
export function sign(key: Buffer, eventId: string, timestamp: number | string, body: string): string {
  return createHmac('sha256', key).update(`${eventId}.${timestamp}.${body}`).digest('base64');
}

/** The webhook-signature header value: one `v1,<sig>` per key, space-separated, current key first. */
export function signatureHeader(
  keys: readonly Buffer[],
  eventId: string,
  timestamp: number | string,
  body: string,
): string {
  return keys.map((k) => `${SIGNATURE_VERSION},${sign(k, eventId, timestamp, body)}`).join(' ');
}

/** Headers for one delivery attempt of an event. */
export function deliveryHeaders(
  keys: readonly Buffer[],
  eventId: string,
  body: string,
  nowMs: number,
): Record<string, string> {
  const ts = Math.floor(nowMs / 1000);
  return {
    'content-type': 'application/json',
    'user-agent': 'oauth-refresher-webhooks/1',
    [HEADER_ID]: eventId,
    [HEADER_TIMESTAMP]: String(ts),
    [HEADER_SIGNATURE]: signatureHeader(keys, eventId, ts, body),
  };
}

/** A new secret in the spec's form: whsec_ + base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}
