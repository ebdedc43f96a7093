// Random values of the connect flow and their stored forms. Only hashes are kept: a database dump
// gives no usable connect link, state or browser binding.
import { createHash, randomBytes } from 'node:crypto';

/** 256 random bits, base64url (43 characters): connect tokens, states, browser bindings, PKCE verifiers. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export function hashToken(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** RFC 7636 4.2: BASE64URL(SHA256(ASCII(code_verifier))). */
export function challengeS256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/** RFC 7636 4.1: 43 to 128 characters of [A-Za-z0-9-._~]. */
export function isValidVerifier(v: string): boolean {
  return /^[A-Za-z0-9\-._~]{43,128}$/.test(v);
}

/** A value we issued looks like this; anything else is refused before any lookup. */
export function looksLikeToken(v: unknown): v is string {
  return typeof v === 'string' && /^[A-Za-z0-9_-]{22,128}$/.test(v);
}
