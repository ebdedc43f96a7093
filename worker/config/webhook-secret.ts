// The Standard Webhooks secret format, apart from env.ts (which reads files) so that the pure
// signer (webhooks/signing.ts) can decode secrets too.

/** A Standard Webhooks secret, `whsec_<base64 of 24-64 bytes>`, decoded to its HMAC key. */
export function decodeWebhookSecret(secret: string): { ok: true; key: Buffer } | { ok: false; problem: string } {
  if (!secret.startsWith('whsec_')) return { ok: false, problem: 'does not start with whsec_' };
  const b64 = secret.slice('whsec_'.length);
  const key = Buffer.from(b64, 'base64');
  // Node's decoder skips bad characters; re-encoding catches them (and a missing padding).
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || key.toString('base64') !== b64)
    return { ok: false, problem: 'is not standard base64 after whsec_' };
  if (key.length < 24 || key.length > 64) return { ok: false, problem: `decodes to ${key.length} bytes, not 24-64` };
  return { ok: true, key };
}
