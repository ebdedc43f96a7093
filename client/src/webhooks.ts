// Webhook verification with the Standard Webhooks reference library: signature (any of the
// space-separated ones, so secret rotation needs no code), timestamp tolerance, then the typed body.
import { Webhook } from 'standardwebhooks';
import { WebhookVerificationError } from './errors.ts';
import type { WebhookEvent } from './types.ts';

export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

function header(h: WebhookHeaders, name: string): string {
  if (typeof (h as Headers).get === 'function') return (h as Headers).get(name) ?? '';
  const rec = h as Record<string, string | string[] | undefined>;
  const v = rec[name] ?? Object.entries(rec).find(([k]) => k.toLowerCase() === name)?.[1];
  return Array.isArray(v) ? v.join(' ') : (v ?? '');
}

/**
 * Verifies one delivery and returns its event. `rawBody` must be the bytes as received (not
 * re-serialized JSON); `secret` is the `whsec_...` secret the daemon signs with.
 */
export function verifyWebhook(rawBody: string | Uint8Array, headers: WebhookHeaders, secret: string): WebhookEvent {
  const body = typeof rawBody === 'string' ? rawBody : new TextDecoder().decode(rawBody);
  const id = header(headers, 'webhook-id');
  let parsed: unknown;
  try {
    parsed = new Webhook(secret).verify(body, {
      'webhook-id': id,
      'webhook-timestamp': header(headers, 'webhook-timestamp'),
      'webhook-signature': header(headers, 'webhook-signature'),
    });
  } catch (e) {
    throw new WebhookVerificationError(e instanceof Error ? e.message : 'webhook did not verify');
  }
  const p = parsed as Partial<WebhookEvent> | null;
  if (!p || typeof p.type !== 'string' || typeof p.timestamp !== 'string' || typeof p.data !== 'object')
    throw new WebhookVerificationError('webhook body is not { type, timestamp, data }');
  return { id, type: p.type, timestamp: p.timestamp, data: p.data } as WebhookEvent;
}
