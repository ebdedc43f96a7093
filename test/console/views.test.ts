// The console's pure parts: escaping in every view, the chart's numbers, the session cookie, the
// list's filter parsing.
import { describe, expect, it } from 'vitest';
import { chartBars, chartSvg, GEOMETRY, type HourBucket } from '../../worker/console/chart.ts';
import { bucketsOf } from '../../worker/console/data.ts';
import { html } from '../../worker/console/html.ts';
import { signInPage } from '../../worker/console/layout.ts';
import { filterOf } from '../../worker/console/routes.ts';
import {
  consoleSecret,
  scopeOfKey,
  scopeOfSession,
  sessionCookie,
  sessionValue,
  SESSION_TTL_MS,
} from '../../worker/console/session.ts';
import type { ConnectionDetail, ProviderHealth } from '../../worker/console/types.ts';
import { connectionPage, connectionsPage, listHref, overviewPage } from '../../worker/console/views.ts';

const EVIL = `<img src=x onerror="alert(1)">&'`;
const ESCAPED = '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#39;';
const T0 = Date.UTC(2026, 0, 10, 12);
const empty = (): HourBucket => ({ refreshes: 0, failures: 0, needsReauth: 0, deadGrants: 0 });

const provider = (o: Partial<ProviderHealth> = {}): ProviderHealth => ({
  key: 'acme',
  displayName: 'Acme',
  configured: true,
  breaker: 'closed',
  lastError: null,
  outage: { state: 'closed', since: null, nextProbeAt: null, probes: 0 },
  inFlight: 0,
  waiting: 0,
  active: 3,
  needsReauth: 1,
  hours: Array.from({ length: 24 }, empty),
  spikes: [],
  ...o,
});

const detail = (o: Partial<ConnectionDetail> = {}): ConnectionDetail => ({
  id: '3f1c9a7e-5b2d-4c1e-9f00-2a7b8c9d0e1f',
  provider: 'acme',
  providerName: 'Acme',
  externalId: 'acct-1',
  status: 'needs_reauth',
  version: 2,
  createdAt: new Date(T0 - 86_400_000),
  lastRefreshedAt: new Date(T0 - 3_600_000),
  nextRefreshAt: null,
  expiresAt: null,
  refreshExpiresAt: null,
  consecutiveFailures: 1,
  failingSince: null,
  lastError: 'invalid_grant - revoked',
  reauthReason: 'revoked',
  reauthAt: new Date(T0 - 60_000),
  diagnosis: {
    code: 'revoked',
    headline: 'Revoked by the user or an admin',
    details: ['one'],
    nextStep: 'Ask the user to reconnect.',
  },
  connectFlow: [],
  attempts: [],
  ...o,
});

/** Every tag in the output is one the views write: no injected element or attribute. */
function assertNoInjection(out: string): void {
  expect(out).not.toMatch(/<img/i);
  expect(out).not.toMatch(/onerror="/);
  expect(out).toContain(ESCAPED);
}

describe('escaping', () => {
  it('the html tag escapes every interpolated value and keeps nested html', () => {
    expect(html`<p title="${EVIL}">${EVIL}</p>`.text).toBe(`<p title="${ESCAPED}">${ESCAPED}</p>`);
    // prettier-ignore
    expect(html`<ul>${['a<', 'b'].map((x) => html`<li>${x}</li>`)}</ul>`.text).toBe('<ul><li>a&lt;</li><li>b</li></ul>');
    expect(html`${null}${undefined}${false}${0}`.text).toBe('0');
  });

  it('the connection page escapes the externalId, the diagnosis, errors, the connect-flow trace and the attempts', () => {
    const out = connectionPage(
      detail({
        externalId: EVIL,
        providerName: EVIL,
        lastError: EVIL,
        reauthReason: EVIL,
        connectFlow: [EVIL],
        diagnosis: { code: 'revoked', headline: EVIL, details: [EVIL], nextStep: EVIL },
        attempts: [
          {
            startedAt: new Date(T0),
            trigger: 'scheduled',
            outcome: EVIL,
            httpStatus: 400,
            errorCode: EVIL,
            errorDescription: EVIL,
            durationMs: 5,
            versionBefore: 1,
            versionAfter: null,
            uncertain: false,
          },
        ],
      }),
      { kind: 'link', url: `https://x/connect/${EVIL}`, expiresAt: EVIL },
      T0,
    );
    assertNoInjection(out);
    expect(out.split(ESCAPED).length - 1).toBeGreaterThanOrEqual(10);
  });

  it('the overview escapes provider names, errors and spike groups; the list escapes rows and the filter echoed back', () => {
    assertNoInjection(
      overviewPage({
        providers: [
          provider({
            key: 'k',
            displayName: EVIL,
            lastError: { code: EVIL, description: EVIL },
            spikes: [{ group: EVIL, current: 5, previous: 0 }],
          }),
        ],
      }),
    );
    const list = connectionsPage(
      {
        filter: { search: EVIL, provider: EVIL, page: 1 },
        total: 1,
        pageSize: 50,
        providers: [EVIL],
        reasons: [EVIL],
        rows: [
          {
            id: 'id',
            provider: EVIL,
            externalId: EVIL,
            status: 'active',
            version: 1,
            nextRefreshAt: null,
            lastRefreshedAt: null,
            consecutiveFailures: 0,
            problem: EVIL,
          },
        ],
      },
      T0,
    );
    assertNoInjection(list);
    expect(list).toContain(`value="${ESCAPED}"`);
  });

  it('the sign-in page never echoes what was typed', () => {
    expect(signInPage(true)).toMatch(/role="alert"/);
    expect(signInPage(false)).not.toMatch(/role="alert"/);
    expect(signInPage(true)).not.toMatch(/value=/);
  });

  it('idle built-in providers are listed by name only, not as cards', () => {
    const out = overviewPage({
      providers: [
        provider(),
        provider({ key: 'zoom', displayName: 'Zoom', configured: false, active: 0, needsReauth: 0 }),
      ],
    });
    expect(out).toContain('data-provider="acme"');
    expect(out).not.toContain('data-provider="zoom"');
    expect(out).toMatch(/Not configured and without connections: zoom\./);
  });

  it('a provider under an outage hold shows its state, start, probes and next probe, even if otherwise idle', () => {
    const outage = {
      state: 'holding' as const,
      since: '2026-01-10T12:00:00.000Z',
      nextProbeAt: '2026-01-10T12:00:05.000Z',
      probes: 3,
    };
    const out = overviewPage({
      providers: [provider({ key: 'zoom', displayName: 'Zoom', configured: false, active: 0, needsReauth: 0, outage })],
    });
    expect(out).toContain('data-provider="zoom"');
    expect(out).toMatch(
      /Outage hold: <span class="outage-holding">holding<\/span>\s+since 2026-01-10T12:00:00.000Z · 3 probe\(s\) sent · next probe 2026-01-10T12:00:05.000Z/,
    );
    expect(overviewPage({ providers: [provider()] })).toMatch(
      /Outage hold: <span class="outage-closed">closed<\/span>/,
    );
  });
});

describe('chart', () => {
  const hours: HourBucket[] = [
    { refreshes: 2, failures: 1, needsReauth: 1, deadGrants: 1 },
    { refreshes: 1, failures: 0, needsReauth: 0, deadGrants: 0 },
    empty(),
  ];

  it('stacks refreshes, failures and needs_reauth scaled to the busiest hour', () => {
    const usable = GEOMETRY.height - 8; // 56
    const [a, b, c] = chartBars(hours, false);
    expect(a.x).toBe(0);
    expect(b.x).toBe(GEOMETRY.barWidth + GEOMETRY.gap);
    expect(a.segments).toEqual([
      { kind: 'refreshes', y: 64 - usable / 2, height: usable / 2 },
      { kind: 'failures', y: 64 - usable / 2 - usable / 4, height: usable / 4 },
      { kind: 'needsReauth', y: 64 - usable, height: usable / 4 },
    ]);
    expect(b.segments).toEqual([{ kind: 'refreshes', y: 50, height: 14 }]);
    expect(c.segments).toEqual([]);
    expect([a, b, c].some((x) => x.marked)).toBe(false);
  });

  it('marks the hours with dead-grant answers only when a spike is flagged', () => {
    expect(chartBars(hours, true).map((b) => b.marked)).toEqual([true, false, false]);
    const svg = chartSvg('Acme', hours, true).text;
    expect(svg.match(/class="spike"/g)).toHaveLength(1);
    expect(svg).toContain(
      'aria-label="Acme: 3 refreshes, 1 failures, 1 needs_reauth in the last 3 hours; invalid_grant spike (1 dead-grant answers)"',
    );
    expect(svg.match(/<rect /g)).toHaveLength(4);
    expect(chartSvg('Acme', hours, false).text).not.toContain('class="spike"');
  });

  it('an empty day draws no bar and does not divide by zero', () => {
    const svg = chartSvg('x', Array.from({ length: 24 }, empty), false).text;
    expect(svg).not.toContain('<rect');
    expect(svg).not.toMatch(/NaN|Infinity/);
  });
});

describe('session cookie', () => {
  const k = {
    keys: [
      { key: 'read-key-0123456789', scope: 'read' as const },
      { key: 'token-key-0123456789', scope: 'token' as const },
    ],
    secret: consoleSecret(Buffer.alloc(32, 1)),
  };

  it('stands for the key it was made from, holds neither key nor digest of it, and expires', () => {
    const v = sessionValue(k, 'read-key-0123456789', T0);
    expect(v).not.toContain('read-key');
    expect(scopeOfSession(k, v, T0 + 1000)).toBe('read');
    expect(scopeOfSession(k, sessionValue(k, 'token-key-0123456789', T0), T0)).toBe('token');
    expect(scopeOfSession(k, v, T0 + SESSION_TTL_MS)).toBeNull();
  });

  it('is refused when tampered with, when its key was removed, or under another secret', () => {
    const v = sessionValue(k, 'read-key-0123456789', T0);
    const [exp, mac] = v.split('.');
    expect(scopeOfSession(k, `${Number(exp) + 1000}.${mac}`, T0)).toBeNull();
    expect(scopeOfSession(k, `${exp}.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`, T0)).toBeNull();
    expect(scopeOfSession({ ...k, keys: k.keys.slice(1) }, v, T0)).toBeNull();
    expect(scopeOfSession({ ...k, secret: consoleSecret(Buffer.alloc(32, 2)) }, v, T0)).toBeNull();
    for (const bad of [undefined, '', 'x', `${exp}.`, `${exp}.${mac}.x`]) expect(scopeOfSession(k, bad, T0)).toBeNull();
  });

  it('the typed key: a token key wins over read, an unknown key is null', () => {
    expect(scopeOfKey(k, 'read-key-0123456789')).toBe('read');
    expect(scopeOfKey(k, 'token-key-0123456789')).toBe('token');
    expect(scopeOfKey(k, 'read-key-012345678')).toBeNull();
  });

  it('is HttpOnly, SameSite=Lax, scoped to /console, Secure only when asked', () => {
    expect(sessionCookie('v', { secure: false, maxAgeSec: 60 })).toBe(
      'ort_console=v; Path=/console; Max-Age=60; HttpOnly; SameSite=Lax',
    );
    expect(sessionCookie('v', { secure: true, maxAgeSec: 60 })).toMatch(/; Secure$/);
  });
});

describe('list filter', () => {
  it('keeps known values, drops the rest, and round-trips through the links', () => {
    expect(filterOf({ status: 'needs_reauth', provider: 'acme', q: 'acct', reason: 'revoked', page: '3' })).toEqual({
      status: 'needs_reauth',
      provider: 'acme',
      search: 'acct',
      reason: 'revoked',
      page: 3,
    });
    expect(filterOf({ status: 'evil', page: '-1', q: ['a', 'b'] })).toEqual({
      status: undefined,
      provider: undefined,
      search: undefined,
      reason: undefined,
      page: 1,
    });
    expect(filterOf({ page: '1.5' }).page).toBe(1);
    const f = filterOf({ status: 'active', q: 'a&b=c', page: '2' });
    expect(filterOf(Object.fromEntries(new URL(listHref(f), 'http://x').searchParams))).toEqual(f);
    expect(listHref({ page: 1 })).toBe('/console/connections');
  });
});

describe('hourly buckets', () => {
  it('one bucket per hour, oldest first, other providers ignored, an attempt at the very end in the last hour', () => {
    const row = (provider: string, bucket: number, refreshes: number) => ({
      provider,
      bucket,
      refreshes,
      failures: 1,
      needsReauth: 0,
      deadGrants: 0,
    });
    const b = bucketsOf([row('acme', 0, 2), row('acme', 23, 1), row('acme', 24, 4), row('other', 5, 9)], 'acme');
    expect(b).toHaveLength(24);
    expect(b[0]).toEqual({ refreshes: 2, failures: 1, needsReauth: 0, deadGrants: 0 });
    expect(b[23]).toEqual({ refreshes: 5, failures: 2, needsReauth: 0, deadGrants: 0 });
    expect(b[5].refreshes).toBe(0);
  });
});
