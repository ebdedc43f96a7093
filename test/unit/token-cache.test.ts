// The token cache's rules: what it serves, when it refuses, and that a change heard while a read is
// out keeps that read's (possibly older) row out of the cache.
import { describe, expect, it } from 'vitest';
import { TokenCache, type CachedToken } from '../../worker/refresh/token-cache.ts';

const T0 = 1_000_000;
const tok = (accessToken: string, expiresInMs: number | null = 3_600_000): CachedToken => ({
  accessToken,
  expiresAt: expiresInMs === null ? null : new Date(T0 + expiresInMs),
  tokenType: 'Bearer',
});

function filled(id = 'a', t = tok('at-1'), o = { maxEntries: 10, maxAgeMs: 60_000 }): TokenCache {
  const c = new TokenCache(o);
  c.setLive(true);
  c.put(c.begin(id), t, T0);
  return c;
}

describe('TokenCache.get', () => {
  const cases: { name: string; t: CachedToken; minValidMs: number; atMs: number; served: boolean }[] = [
    { name: 'fresh for the caller', t: tok('x', 120_000), minValidMs: 60_000, atMs: T0, served: true },
    { name: 'exactly min_valid left', t: tok('x', 60_000), minValidMs: 60_000, atMs: T0, served: true },
    { name: 'too close to expiry for the caller', t: tok('x', 59_999), minValidMs: 60_000, atMs: T0, served: false },
    { name: 'expired meanwhile', t: tok('x', 120_000), minValidMs: 60_000, atMs: T0 + 61_000, served: false },
    { name: 'no expiry (a non-expiring token)', t: tok('x', null), minValidMs: 3_600_000, atMs: T0, served: true },
    { name: 'older than maxAge', t: tok('x', null), minValidMs: 0, atMs: T0 + 60_001, served: false },
    { name: 'just within maxAge', t: tok('x', null), minValidMs: 0, atMs: T0 + 60_000, served: true },
  ];
  for (const k of cases)
    it(k.name, () => {
      const c = filled('a', k.t);
      expect(c.get('a', k.minValidMs, k.atMs)?.accessToken).toBe(k.served ? 'x' : undefined);
    });
});

describe('TokenCache invalidation', () => {
  it('forget drops the entry', () => {
    const c = filled();
    c.forget('a');
    expect(c.get('a', 0, T0)).toBeUndefined();
  });

  it('a change heard while a read is out keeps that read out', () => {
    const c = new TokenCache({ maxEntries: 10, maxAgeMs: 60_000 });
    c.setLive(true);
    const f = c.begin('a');
    c.forget('a'); // the notification arrives before the (older) row does
    c.put(f, tok('old'), T0);
    expect(c.get('a', 0, T0)).toBeUndefined();
    // Another connection's change does not void it.
    const g = c.begin('a');
    c.forget('b');
    c.put(g, tok('new'), T0);
    expect(c.get('a', 0, T0)?.accessToken).toBe('new');
  });

  it('serves and stores nothing while not live, and forgets everything on either transition', () => {
    const c = filled();
    c.setLive(false);
    expect(c.get('a', 0, T0)).toBeUndefined();
    c.put(c.begin('a'), tok('x'), T0);
    expect(c.size).toBe(0);
    const out = c.begin('a'); // a read out while the listener comes back may have missed a change
    c.setLive(true);
    c.put(out, tok('x'), T0);
    expect(c.get('a', 0, T0)).toBeUndefined();
    const c2 = filled();
    c2.setLive(true); // reconnected: notifications may have been missed in between
    expect(c2.get('a', 0, T0)).toBeUndefined();
  });

  it('keeps at most maxEntries, dropping the least recently used', () => {
    const c = new TokenCache({ maxEntries: 2, maxAgeMs: 60_000 });
    c.setLive(true);
    c.put(c.begin('a'), tok('a'), T0);
    c.put(c.begin('b'), tok('b'), T0);
    c.get('a', 0, T0);
    c.put(c.begin('c'), tok('c'), T0);
    expect(c.size).toBe(2);
    expect(c.get('b', 0, T0)).toBeUndefined();
    expect(c.get('a', 0, T0)?.accessToken).toBe('a');
    expect(c.get('c', 0, T0)?.accessToken).toBe('c');
  });
});
