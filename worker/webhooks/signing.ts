// Webhook signatures. Pure. Scheme (Standard Webhooks style, hex instead of base64):
//   webhook-id:        the event id (stable across retries: the receiver's dedup key)
//   webhook-timestamp: unix seconds of this delivery attempt
//   webhook-signature: v1=<hex HMAC-SHA256(WEBHOOK_SECRET, `${timestamp}.${rawBody}`)>
// A receiver recomputes the HMAC over the raw body bytes it received, compares in constant time
// and rejects timestamps too far from its clock (replay protection).
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_VERSION = 'v1';
export const HEADER_ID = 'webhook-id';
export const HEADER_TIMESTAMP = 'webhook-timestamp';
export const HEADER_SIGNATURE = 'webhook-signature';

/** The hex HMAC-SHA256 of `${timestamp}.${body}` under secret. */
export function sign(secret: string, timestamp: number | string, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/** The full webhook-signature header value for one delivery. */
export function signatureHeader(secret: string, timestamp: number | string, body: string): string {
  return `${SIGNATURE_VERSION}=${sign(secret, timestamp, body)}`;
}

/** Headers for one delivery attempt of an event. */
export function deliveryHeaders(secret: string, eventId: string, body: string, nowMs: number): Record<string, string> {
  const ts = Math.floor(nowMs / 1000);
  return {
    'content-type': 'application/json',
    'user-agent': 'oauth-refresher-webhooks/1',
    [HEADER_ID]: eventId,
    [HEADER_TIMESTAMP]: String(ts),
    [HEADER_SIGNATURE]: signatureHeader(secret, ts, body),
  };
}

/**
 * Receiver side: true when the signature header carries a valid v1 signature of timestamp + body
 * and the timestamp is within toleranceSec of now. Accepts several space-separated signatures
 * ("v1=... v1=...") so a sender can sign with an old and a new secret during a secret rotation.
 */
export function verify(
  secret: string,
  headers: { timestamp: string | undefined; signature: string | undefined },
  rawBody: string,
  opts: { toleranceSec?: number; nowMs?: number } = {},
): boolean {
  const { timestamp, signature } = headers;
  if (!timestamp || !signature || !/^\d{1,12}$/.test(timestamp)) return false;
  const now = Math.floor((opts.nowMs ?? Date.now()) / 1000);
  if (Math.abs(now - Number(timestamp)) > (opts.toleranceSec ?? 300)) return false;
  const expected = Buffer.from(sign(secret, timestamp, rawBody), 'hex');
  let ok = false;
  for (const part of signature.trim().split(/\s+/)) {
    const m = /^v1=([0-9a-f]{64})$/i.exec(part);
    if (m && timingSafeEqual(Buffer.from(m[1], 'hex'), expected)) ok = true;
  }
  return ok;
}
