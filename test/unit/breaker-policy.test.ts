// The credential breaker's pure rules (worker/providers/breaker-policy.ts), table-driven. The
// gate's I/O around them is covered by test/providers/breaker.test.ts.
import { describe, expect, it } from 'vitest';
import {
  admission,
  closesOnSuccess,
  defaultCacheMs,
  ignoresCredentialError,
  snapshotOf,
  takeStaleMark,
  STALE_AFTER_CHANGE_MS,
  STALE_MARK_MS,
  type BreakerSnapshot,
} from '../../worker/providers/breaker-policy.ts';

const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);
const INTERVAL = 60_000;
const snap = (s: Partial<BreakerSnapshot>): BreakerSnapshot => ({
  state: 'open',
  openedAt: NOW - 120_000,
  lastProbeAt: null,
  lastErrorCode: 'invalid_client',
  lastErrorDescription: null,
  fingerprint: 'fp-1',
  loadedAt: NOW,
  ...s,
});

describe('admission', () => {
  it.each([
    ['closed: pass', { state: 'closed' as const }, 'pass'],
    [
      'closed with other recorded credentials: still pass (nothing to close)',
      { state: 'closed' as const, fingerprint: 'fp-old' },
      'pass',
    ],
    ['open with other credentials: close and pass', { fingerprint: 'fp-old' }, 'credentials_changed'],
    [
      'half-open with other credentials: close and pass',
      { state: 'half_open' as const, fingerprint: 'fp-old' },
      'credentials_changed',
    ],
    ['open, no fingerprint recorded, never probed: probe', { fingerprint: null }, 'probe'],
    ['open, never probed: probe', {}, 'probe'],
    ['open, probed 1 ms ago: wait', { lastProbeAt: NOW - 1 }, 'wait'],
    ['open, probed one interval minus 1 ms ago: wait', { lastProbeAt: NOW - INTERVAL + 1 }, 'wait'],
    ['open, probed exactly one interval ago: probe', { lastProbeAt: NOW - INTERVAL }, 'probe'],
    [
      'half-open, probed long ago (the prober died): probe',
      { state: 'half_open' as const, lastProbeAt: NOW - 10 * INTERVAL },
      'probe',
    ],
    ['half-open, probe in flight: wait', { state: 'half_open' as const, lastProbeAt: NOW - 5 }, 'wait'],
  ])('%s', (_name, s, expected) => {
    expect(admission(snap(s), 'fp-1', NOW, INTERVAL)).toBe(expected);
  });
});

describe('ignoresCredentialError', () => {
  it.each([
    ['no stale mark, no change: counts', false, undefined, false],
    ['a stale mark: ignored', true, undefined, true],
    ['changed just now: ignored', false, NOW, true],
    ['changed just under the window ago: ignored', false, NOW - STALE_AFTER_CHANGE_MS + 1, true],
    ['changed exactly the window ago: counts', false, NOW - STALE_AFTER_CHANGE_MS, false],
    ['changed long ago: counts', false, NOW - 60_000, false],
  ])('%s', (_name, stale, changedAt, expected) => {
    expect(ignoresCredentialError(stale, changedAt, NOW)).toBe(expected);
  });
});

describe('takeStaleMark', () => {
  it.each([
    ['no marks', [], { hit: false, rest: [] }],
    ['one fresh mark is taken', [NOW - 10], { hit: true, rest: [] }],
    [
      'the oldest fresh mark is taken, the others stay',
      [NOW - 30, NOW - 20, NOW - 10],
      { hit: true, rest: [NOW - 20, NOW - 10] },
    ],
    [
      'expired marks are dropped and do not count',
      [NOW - STALE_MARK_MS, NOW - STALE_MARK_MS - 5],
      { hit: false, rest: [] },
    ],
    ['expired dropped, fresh taken', [NOW - STALE_MARK_MS - 1, NOW - 1, NOW], { hit: true, rest: [NOW] }],
  ])('%s', (_name, marks, expected) => {
    expect(takeStaleMark(marks, NOW)).toEqual(expected);
  });
});

describe('closesOnSuccess', () => {
  it.each([
    ['nothing cached (another process may have opened it)', undefined, true],
    ['cached closed', snap({ state: 'closed' }), false],
    ['cached open', snap({ state: 'open' }), true],
    ['cached half-open', snap({ state: 'half_open' }), true],
  ])('%s', (_name, cached, expected) => {
    expect(closesOnSuccess(cached)).toBe(expected);
  });
});

describe('defaultCacheMs', () => {
  it.each([
    [60_000, 1000],
    [2000, 1000],
    [1000, 500],
    [120, 60],
    [50, 50],
    [0, 50],
  ])('probe interval %i ms: trust the cache %i ms', (interval, expected) => {
    expect(defaultCacheMs(interval)).toBe(expected);
  });
});

describe('snapshotOf', () => {
  const row = {
    breakerState: 'open',
    openedAt: new Date(NOW - 5000),
    lastProbeAt: new Date(NOW - 1000),
    lastErrorCode: 'invalid_client',
    lastErrorDescription: 'bad',
    credentialsFingerprint: 'fp',
  };
  it.each([
    [
      'no row: closed, nothing known',
      null,
      {
        state: 'closed',
        openedAt: null,
        lastProbeAt: null,
        lastErrorCode: null,
        lastErrorDescription: null,
        fingerprint: null,
      },
    ],
    [
      'open row',
      row,
      {
        state: 'open',
        openedAt: NOW - 5000,
        lastProbeAt: NOW - 1000,
        lastErrorCode: 'invalid_client',
        lastErrorDescription: 'bad',
        fingerprint: 'fp',
      },
    ],
    ['half-open row', { ...row, breakerState: 'half_open' }, { state: 'half_open' }],
    ['an unknown state reads as closed', { ...row, breakerState: 'weird' }, { state: 'closed' }],
  ])('%s', (_name, r, expected) => {
    expect(snapshotOf(r, NOW)).toMatchObject({ ...expected, loadedAt: NOW });
  });
});
