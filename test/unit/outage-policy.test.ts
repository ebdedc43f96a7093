import { describe, expect, it } from 'vitest';
import {
  CLOSED_HOLD,
  DEFAULT_OUTAGE,
  holdAdmission,
  isProviderOutage,
  noteTransient,
  outageView,
  probeClaimed,
  probeDelayMs,
  probeFailed,
  releaseOffsetMs,
  startHold,
  transientRetry,
} from '../../worker/providers/outage-policy.ts';

const T = { ...DEFAULT_OUTAGE, minConnections: 3, windowMs: 1000 };

describe('outage detection', () => {
  const win = (entries: [string, number][]) => new Map(entries);
  it.each([
    [
      'three distinct connections in the window',
      win([
        ['a', 0],
        ['b', 100],
        ['c', 900],
      ]),
      950,
      true,
    ],
    ['one connection failing three times counts once', win([['a', 900]]), 950, false],
    [
      'two connections are one-off failures',
      win([
        ['a', 0],
        ['b', 100],
      ]),
      500,
      false,
    ],
    [
      'failures older than the window do not count',
      win([
        ['a', 0],
        ['b', 100],
        ['c', 900],
      ]),
      1050,
      false,
    ],
  ])('%s', (_n, w, now, expected) => {
    expect(isProviderOutage(w, now, T)).toBe(expected);
  });
  it('noteTransient keeps one entry per connection and drops old ones', () => {
    let w = noteTransient(new Map(), 'a', 0, T);
    w = noteTransient(w, 'a', 500, T);
    w = noteTransient(w, 'b', 1200, T);
    expect([...w.entries()]).toEqual([
      ['a', 500],
      ['b', 1200],
    ]);
  });
});

describe('probe schedule', () => {
  it.each([
    [1, 1000],
    [2, 2000],
    [3, 3000],
    [4, 3000],
    [50, 3000],
  ])('probe %i after %i ms', (n, ms) => {
    expect(probeDelayMs(n, DEFAULT_OUTAGE)).toBe(ms);
  });
});

describe('hold admission', () => {
  const held = startHold(10_000, T);
  it.each([
    ['closed passes', CLOSED_HOLD, 0, { kind: 'pass' }],
    ['holding before the probe time waits until it', held, 10_500, { kind: 'wait', until: 11_000 }],
    ['holding at the probe time probes', held, 11_000, { kind: 'probe' }],
    [
      'a claimed probe makes the others wait for the next slot',
      probeClaimed(held, 11_000, T),
      11_100,
      { kind: 'wait', until: 13_000 },
    ],
    [
      'a failed probe keeps the slot its claim set',
      probeFailed(probeClaimed(held, 11_000, T), 11_200, T),
      13_000,
      { kind: 'probe' },
    ],
  ])('%s', (_n, h, now, expected) => {
    expect(holdAdmission(h, now)).toEqual(expected);
  });
});

describe('a transient failure during a hold', () => {
  it.each([
    [
      'closed: the connection backs off on its own and it counts',
      CLOSED_HOLD,
      { retryAt: 30_000, countsAsFailure: true },
    ],
    [
      'holding: it waits for the next probe and does not stack',
      startHold(0, T),
      { retryAt: 1000, countsAsFailure: false },
    ],
  ])('%s', (_n, h, expected) => {
    expect(transientRetry(h, 30_000, 0)).toEqual(expected);
  });
});

describe('release spread', () => {
  it.each([
    ['one connection goes at once', 0, 1, 2000, 0, 0],
    ['spread evenly over the window', 5, 10, 2000, 0, 1000],
    ['never faster than the rate limit', 5, 10, 2000, 2, 2500],
    ['the last one stays inside the window when the rate allows', 99, 100, 2000, 1000, 1980],
  ])('%s', (_n, i, n, spread, rate, expected) => {
    expect(releaseOffsetMs(i, n, spread, rate)).toBe(expected);
  });
});

describe('outage view', () => {
  it.each([
    ['closed', CLOSED_HOLD, { state: 'closed', since: null, nextProbeAt: null, probes: 0 }],
    [
      'probing',
      probeClaimed(startHold(0, T), 1000, T),
      { state: 'probing', since: '1970-01-01T00:00:00.000Z', nextProbeAt: '1970-01-01T00:00:03.000Z', probes: 1 },
    ],
  ])('%s', (_n, h, expected) => {
    expect(outageView(h)).toEqual(expected);
  });
});
