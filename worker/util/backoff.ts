// Exponential backoff with jitter: the one schedule for refresh retries and webhook redeliveries. Pure.

/** Doublings are capped so base * 2^n stays finite; any real maxMs is reached long before. */
const MAX_DOUBLINGS = 40;

/** Nominal (pre-jitter) delay after the n-th failed attempt (n >= 1): base, doubling, capped at maxMs. */
export function nominalBackoffMs(n: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(n - 1, 0), MAX_DOUBLINGS));
}

/**
 * Delay after the n-th failed attempt: the nominal delay times [0.5, 1), so retries of many callers
 * that failed together spread out but never come sooner than half the nominal delay. Never less
 * than atLeastMs (a provider's Retry-After).
 */
export function backoffMs(
  n: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
  atLeastMs = 0,
): number {
  const nominal = nominalBackoffMs(n, baseMs, maxMs);
  return Math.max(Math.floor(nominal * (0.5 + random() * 0.5)), atLeastMs);
}
