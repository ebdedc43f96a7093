// The one backoff schedule (refresh retries and webhook redeliveries). Pure, table-driven.
import { describe, expect, it } from 'vitest';
import { backoffMs, nominalBackoffMs } from '../../worker/util/backoff.ts';

describe('nominalBackoffMs', () => {
  it.each([
    // [n, base, max, expected]
    [1, 1000, 60_000, 1000],
    [2, 1000, 60_000, 2000],
    [3, 1000, 60_000, 4000],
    [7, 1000, 60_000, 60_000], // 64 s capped at 60 s
    [0, 1000, 60_000, 1000], // n below 1 counts as the first failure
    [-5, 5000, 3600_000, 5000],
    [1000, 5000, 3600_000, 3600_000], // huge n stays finite and capped
    [1e9, 10, Number.MAX_SAFE_INTEGER, 10 * 2 ** 40], // the doubling cap keeps it finite
  ])('n=%i base=%i max=%i -> %i ms', (n, base, max, ms) => {
    expect(nominalBackoffMs(n, base, max)).toBe(ms);
  });
});

describe('backoffMs', () => {
  it.each([
    // [n, base, max, random, atLeast, expected]
    [1, 1000, 60_000, 0, 0, 500], // half the nominal delay at random 0
    [1, 1000, 60_000, 0.5, 0, 750],
    [1, 1000, 60_000, 0.999999, 0, 999], // always below the nominal delay (floored)
    [4, 1000, 60_000, 0, 0, 4000],
    [20, 1000, 60_000, 0, 0, 30_000],
    [20, 1000, 60_000, 0.999999, 0, 59_999],
    [1, 1000, 60_000, 0, 30_000, 30_000], // Retry-After wins when longer
    [3, 1000, 60_000, 0, 100, 2000], // and not when shorter
    [1, 5000, 3600_000, 0, 0, 2500], // webhook defaults
    [50, 5000, 3600_000, 0.999, 0, 3_598_200],
  ])('n=%i base=%i max=%i random=%f atLeast=%i -> %i ms', (n, base, max, r, atLeast, ms) => {
    expect(backoffMs(n, base, max, () => r, atLeast)).toBe(ms);
  });

  it('grows with n until the cap, whatever the jitter', () => {
    for (const r of [0, 0.3, 0.999]) {
      const delays = Array.from({ length: 12 }, (_x, i) => backoffMs(i + 1, 100, 50_000, () => r));
      for (let i = 1; i < delays.length; i++) expect(delays[i]).toBeGreaterThanOrEqual(delays[i - 1]);
      expect(Math.max(...delays)).toBeLessThan(50_000);
    }
  });
});
