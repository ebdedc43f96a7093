// The console's sign-in: the API key is entered once and never stored. The cookie holds an expiry
// and an HMAC of (expiry, key) under a secret derived from the encryption key, so it is valid on
// every API replica, dies when the key is removed from the configuration, and never reveals it.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config/env.ts';

export type Scope = Config['apiKeys'][number]['scope'];

const SESSION_COOKIE = 'ort_console';
export const SESSION_TTL_MS = 12 * 3_600_000;

export interface ConsoleKeys {
  keys: readonly { key: string; scope: Scope }[];
  /** The HMAC secret (derived; see consoleSecret). */
  secret: Buffer;
}

/** A secret of its own, derived from the encryption key (never the key itself). */
export function consoleSecret(encryptionKey: Buffer): Buffer {
  return createHmac('sha256', encryptionKey).update('oauth-refresher console session v1').digest();
}

const mac = (secret: Buffer, exp: number, key: string) => createHmac('sha256', secret).update(`${exp}.${key}`).digest();

/** The scope of a key typed into the form, or null; every key is compared (no early exit). */
export function scopeOfKey(k: ConsoleKeys, presented: string): Scope | null {
  const p = createHmac('sha256', k.secret).update(presented).digest();
  let found: Scope | null = null;
  for (const { key, scope } of k.keys) {
    if (timingSafeEqual(createHmac('sha256', k.secret).update(key).digest(), p) && found !== 'token') found = scope;
  }
  return found;
}

export function sessionValue(k: ConsoleKeys, key: string, nowMs: number): string {
  const exp = nowMs + SESSION_TTL_MS;
  return `${exp}.${mac(k.secret, exp, key).toString('base64url')}`;
}

/** The scope a session cookie's value stands for, or null (malformed, expired, key removed). */
export function scopeOfSession(k: ConsoleKeys, value: string | undefined, nowMs: number): Scope | null {
  const m = /^(\d{13,15})\.([A-Za-z0-9_-]{43})$/.exec(value ?? '');
  if (!m) return null;
  const exp = Number(m[1]);
  if (exp <= nowMs) return null;
  const presented = Buffer.from(m[2], 'base64url');
  let found: Scope | null = null;
  for (const { key, scope } of k.keys) {
    if (timingSafeEqual(mac(k.secret, exp, key), presented) && found !== 'token') found = scope;
  }
  return found;
}

export function sessionCookie(value: string, opts: { secure: boolean; maxAgeSec: number }): string {
  return [
    `${SESSION_COOKIE}=${value}`,
    'Path=/console',
    `Max-Age=${Math.max(0, Math.floor(opts.maxAgeSec))}`,
    'HttpOnly',
    'SameSite=Lax',
    ...(opts.secure ? ['Secure'] : []),
  ].join('; ');
}

export function readSessionCookie(header: string | undefined): string | undefined {
  let found: string | undefined;
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === SESSION_COOKIE) found = part.slice(i + 1).trim();
  }
  return found || undefined;
}
