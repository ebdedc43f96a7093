import { describe, expect, it } from 'vitest';
import { planNextRefresh, spreadKeyOf } from '../../worker/refresh/plan.ts';
import { backoffMs } from '../../worker/util/backoff.ts';
import { nextRunAt } from '../../worker/schedule/worker.ts';

const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);
const base = { nowMs: NOW, leadMs: 300_000, jitterMs: 0, spreadKey: 0.5, random: () => 0 };

describe('planNextRefresh', () => {
  it.each([
    // [lifetime, expected offset from now]
    ['1 h token: 75% is 45 min, before the 5-min lead', 3600_000, 2700_000],
    ['10 min token: lead wins over 75% (5 min before expiry)', 600_000, 300_000],
    ['8 min token: lead would be 3 min; 75% is 6 min; lead (3) < half (4) so half-life', 480_000, 240_000],
    ['4 s token (shorter than the lead): refresh at half-life', 4_000, 2_000],
    ['12 h token', 43_200_000, 32_400_000],
  ])('%s', (_name, lifetime, offset) => {
    expect(planNextRefresh({ ...base, expiresAt: new Date(NOW + lifetime) }).getTime() - NOW).toBe(offset);
  });
  it('never plans in the past, even for an expired token', () => {
    expect(planNextRefresh({ ...base, expiresAt: new Date(NOW - 1000) }).getTime()).toBe(NOW);
  });
  it('jitter only moves earlier, and at most 10% of the lifetime', () => {
    const p = planNextRefresh({ ...base, expiresAt: new Date(NOW + 3600_000), jitterMs: 600_000, random: () => 1 });
    expect(NOW + 2700_000 - p.getTime()).toBe(360_000);
  });
  it('cron: next tick plus a stable per-connection spread', () => {
    const p = planNextRefresh({ ...base, expiresAt: null, cron: '0 3 * * *', cronSpreadMs: 3600_000, spreadKey: 0.25 });
    expect(p.toISOString()).toBe('2026-11-23T03:15:00.000Z');
  });
  it('idle keep-alive pulls a far refresh inside half the idle lifetime', () => {
    const p = planNextRefresh({ ...base, expiresAt: new Date(NOW + 30 * 86400_000), idleLifetimeMs: 10 * 86400_000 });
    expect(p.getTime() - NOW).toBe(5 * 86400_000);
  });
  it('no expiry and no cron: a day', () => {
    expect(planNextRefresh({ ...base, expiresAt: null }).getTime() - NOW).toBe(86400_000);
  });
});

describe('backoffMs (refresh retries)', () => {
  it.each([
    [1, 0, 500],
    [2, 0, 1000],
    [3, 0.999999, 3999],
    [20, 0, 30_000],
  ])('failures=%i random=%f -> %i ms', (failures, r, ms) => {
    expect(backoffMs(failures, 1000, 60_000, () => r)).toBe(ms);
  });
  it('Retry-After wins when longer', () => {
    expect(backoffMs(1, 1000, 60_000, () => 0, 30_000)).toBe(30_000);
  });
});

describe('spreadKeyOf', () => {
  it('is stable and in [0,1)', () => {
    const a = spreadKeyOf('3f1c2a9e-0000-4000-8000-000000000001');
    expect(a).toBe(spreadKeyOf('3f1c2a9e-0000-4000-8000-000000000001'));
    expect(a).toBeGreaterThanOrEqual(0);
    expect(a).toBeLessThan(1);
  });
});

describe('nextRunAt (what the job does after an outcome)', () => {
  const at = new Date(NOW + 60_000);
  it.each([
    [
      {
        outcome: 'rotated',
        versionBefore: 1,
        versionAfter: 2,
        expiresAt: null,
        nextRefreshAt: at,
        rotatedRefreshToken: true,
      },
      at.getTime(),
    ],
    [{ outcome: 'transient', code: 'x', description: '', retryAt: at, uncertain: false }, at.getTime()],
    [{ outcome: 'needs_reauth', reason: 'revoked', code: 'invalid_grant', description: '' }, null],
    [{ outcome: 'skipped', why: 'busy', nextRefreshAt: null }, NOW + 1000],
    [{ outcome: 'skipped', why: 'not_active', nextRefreshAt: null }, null],
    [{ outcome: 'skipped', why: 'not_due', nextRefreshAt: at }, at.getTime()],
    [{ outcome: 'lost_race', versionBefore: 1, nextRefreshAt: at }, at.getTime()],
  ] as const)('%j', (out, expected) => {
    expect(nextRunAt(out as never, NOW, 1000)).toBe(expected);
  });
});
