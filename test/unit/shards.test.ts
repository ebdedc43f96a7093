import { describe, expect, it } from 'vitest';
import { fnv1a, refreshQueueNameFor, refreshQueueNames, shardLimits, shardOf } from '../../worker/schedule/policy.ts';

describe('refresh queue shards', () => {
  it.each([
    ['google', 1, ['refresh-google']],
    ['google', 0, ['refresh-google']],
    ['acme-2', 3, ['refresh-acme-2-0', 'refresh-acme-2-1', 'refresh-acme-2-2']],
  ])('queues of %s with %i shard(s)', (p, n, names) => expect(refreshQueueNames(p, n)).toEqual(names));

  it.each([
    // FNV-1a 32-bit reference values.
    ['', 0x811c9dc5],
    ['a', 0xe40c292c],
    ['foobar', 0xbf9cf968],
  ])('fnv1a(%j) is the reference value', (s, h) => expect(fnv1a(s)).toBe(h));

  it.each([
    ['c0ffee00-0000-4000-8000-000000000001', 1, 0],
    ['c0ffee00-0000-4000-8000-000000000001', 8, fnv1a('c0ffee00-0000-4000-8000-000000000001') % 8],
    ['foobar', 8, 0xbf9cf968 % 8],
    ['foobar', 64, 0xbf9cf968 % 64],
  ])('shard of %s among %i', (id, n, k) => {
    expect(shardOf(id, n)).toBe(k);
    expect(refreshQueueNameFor('p', id, n)).toBe(refreshQueueNames('p', n)[k]);
  });

  it('spreads ids over every shard, about evenly', () => {
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 8000; i++) counts[shardOf(`00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, 8)]++;
    for (const c of counts) expect(c).toBeGreaterThan(800);
  });

  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  it.each([
    // concurrency, rate, shards -> per-shard concurrency, per-shard limiter
    [20, 0, 1, [20], [undefined]],
    [20, 10, 1, [20], [{ max: 10, duration: 1000 }]],
    [0.5 * 2, 0.5, 1, [1], [{ max: 0.5, duration: 1000 }]],
    [8, 8, 4, [2, 2, 2, 2], [1, 2, 3, 4].map(() => ({ max: 2, duration: 1000 }))],
    [5, 10, 4, [2, 1, 1, 1], [3, 3, 2, 2].map((max) => ({ max, duration: 1000 }))],
    [2, 3, 4, [1, 1, 1, 1], [1, 2, 3, 4].map(() => ({ max: 1, duration: 1334 }))],
    [4, 2.5, 2, [2, 2], [1, 2].map(() => ({ max: 1, duration: 800 }))],
  ])('concurrency %d, rate %d over %d shard(s)', (concurrency, ratePerSecond, n, conc, limiters) => {
    const parts = Array.from({ length: n }, (_v, k) => shardLimits({ concurrency, ratePerSecond }, n, k));
    expect(parts.map((x) => x.concurrency)).toEqual(conc);
    expect(parts.map((x) => x.limiter)).toEqual(limiters);
    // The totals hold: concurrency adds up (at least one per shard), the rate averages the provider's.
    expect(sum(conc)).toBe(Math.max(concurrency, n));
    if (ratePerSecond > 0) {
      const rate = sum(parts.map((x) => (x.limiter!.max * 1000) / x.limiter!.duration));
      expect(rate).toBeLessThanOrEqual(ratePerSecond + 1e-9);
      expect(rate).toBeGreaterThan(ratePerSecond * 0.99);
    }
  });
});
