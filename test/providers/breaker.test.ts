// The credential circuit breaker: a wrong client secret must not burn connections. Real daemon,
// real PostgreSQL/Redis, fake providers over HTTP; plus the gate's cross-process rules on the
// shared ProviderState table and its in-process limits.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { FakeProvider } from '../fakes/fake-provider.ts';
import {
  startDaemon,
  testDb,
  waitFor,
  writeProvidersFile,
  sleep,
  TEST_READ_KEY,
  type TestDaemon,
} from '../helpers/harness.ts';
import { BreakerGate, providerGateExtension } from '../../worker/gate/breaker.ts';
import { resolveProvider } from '../../worker/providers/registry.ts';

const PROBE_MS = 1000;
// No rotation here: this file is about client credentials, and a refresh token that never changes
// keeps a slow machine's request timeouts (rotation lost in flight) out of the picture.
const acmeFake = new FakeProvider({ persona: 'standard', rotation: 'never', accessTtlSeconds: 3600 });
const betaFake = new FakeProvider({ persona: 'slack', accessTtlSeconds: 3600 });
let d: TestDaemon;
let providersFile: string;
const db = testDb();

const providersWith = (acmeSecret: string) => ({
  'brk-acme': {
    tokenUrl: acmeFake.tokenUrl,
    clientAuth: 'basic',
    clientId: 'client-id',
    clientSecret: acmeSecret,
    rotation: 'optional',
    refreshLeadSec: 1,
  },
  // Slack's credential error arrives as HTTP 200 {"ok":false,"error":"bad_client_secret"}.
  'brk-slack': { extends: 'slack', tokenUrl: betaFake.tokenUrl, clientId: 'client-id', clientSecret: 'client-secret' },
});

beforeAll(async () => {
  await Promise.all([acmeFake.start(), betaFake.start()]);
  providersFile = writeProvidersFile(providersWith('wrong-secret-value-123'));
  d = await startDaemon(
    {
      PROVIDERS_FILE: providersFile,
      BREAKER_PROBE_INTERVAL_MS: String(PROBE_MS),
      REQUEST_TIMEOUT_MS: '8000',
      LOCK_TTL_MS: '25000',
    },
    { extensions: [providerGateExtension({ probeIntervalMs: PROBE_MS })] },
  );
});

afterAll(async () => {
  await d?.stop();
  await Promise.all([acmeFake.close(), betaFake.close()]);
  await db.$disconnect();
});

async function providerView(key: string) {
  const res = await d.api('GET', '/v1/providers', undefined, TEST_READ_KEY);
  expect(res.status).toBe(200);
  return (
    res.body.providers as {
      key: string;
      breaker: { state: string; lastError: { code: string; description: string | null } | null };
    }[]
  ).find((p) => p.key === key)!;
}

describe('credential breaker (daemon)', () => {
  it('50 connections with a wrong secret: none marked needs_reauth, one probe per interval, all refreshed once the secret is fixed', async () => {
    const grants = Array.from({ length: 50 }, () => acmeFake.issueGrant());
    const ids: string[] = [];
    for (const [i, g] of grants.entries()) {
      const res = await d.api('POST', '/v1/connections', {
        provider: 'brk-acme',
        externalId: `acme-${i}`,
        tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: 2 },
      });
      expect(res.status).toBe(201);
      ids.push(res.body.id);
    }
    // The first credential error opens the breaker; the API shows it with the last error.
    const view = await waitFor(
      async () => {
        const v = await providerView('brk-acme');
        return v.breaker.state !== 'closed' ? v : null;
      },
      20_000,
      'breaker open',
    );
    expect(view.breaker.lastError?.code).toBe('invalid_client');

    // Requests admitted just before it opened have landed (they were one DB write away from being
    // sent); from now on only probes.
    await sleep(1500);
    const seen: number[] = [];
    acmeFake.onRequest = ({ at }) => seen.push(at);
    await waitFor(() => seen.length >= 4, 20_000, 'four probes');
    acmeFake.onRequest = undefined;
    const gaps = seen.slice(1).map((t, i) => t - seen[i]);
    // One probe per interval: never two requests closer than the probe interval (minus timer slack).
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(PROBE_MS * 0.8);

    // Nothing burned: every connection is still active, no needs_reauth event, no failure streak.
    const rows = await db.connection.findMany({ where: { id: { in: ids } } });
    expect(rows.every((r) => r.status === 'active')).toBe(true);
    expect(rows.every((r) => r.consecutiveFailures === 0)).toBe(true);
    expect(await db.outboxEvent.count({ where: { type: 'connection.needs_reauth', provider: 'brk-acme' } })).toBe(0);
    // Exactly one provider.credentials_invalid event for the opening, written with the state.
    const invalid = await db.outboxEvent.findMany({
      where: { type: 'provider.credentials_invalid', provider: 'brk-acme' },
    });
    expect(invalid).toHaveLength(1);
    expect(invalid[0].payload).toMatchObject({ provider: 'brk-acme', errorCode: 'invalid_client' });
    const state = await db.providerState.findUnique({ where: { provider: 'brk-acme' } });
    expect(state?.breakerState).not.toBe('closed');

    // No secret anywhere in the API answer.
    const all = await d.api('GET', '/v1/providers', undefined, TEST_READ_KEY);
    const text = JSON.stringify(all.body);
    expect(text).not.toContain('wrong-secret-value-123');
    expect(text).not.toContain('client-secret');
    expect(text).not.toContain(state!.credentialsFingerprint!);

    // The operator fixes the secret and sends SIGHUP (main.ts calls exactly this): closes at once.
    writeFileSync(providersFile, JSON.stringify({ providers: providersWith('client-secret') }));
    const reload = d.daemon.providers.reload();
    expect(reload.credentialsChanged).toEqual(['brk-acme']);
    await waitFor(async () => (await providerView('brk-acme')).breaker.state === 'closed', 10_000, 'breaker closed');
    const restored = await db.outboxEvent.findMany({
      where: { type: 'provider.credentials_restored', provider: 'brk-acme' },
    });
    expect(restored).toHaveLength(1);
    expect(restored[0].payload).toMatchObject({ reason: 'credentials_changed' });

    // Every connection refreshes with the fixed secret and keeps the provider's current token.
    await waitFor(
      async () => (await db.connection.count({ where: { id: { in: ids }, version: { gte: 2 } } })) === 50,
      40_000,
      'all 50 refreshed',
    );
    const after = await db.connection.findMany({ where: { id: { in: ids } } });
    for (const r of after) {
      const g = grants[Number(r.externalId.split('-')[1])];
      expect(r.status).toBe('active');
      expect(d.daemon.keyring.decrypt(r.refreshTokenEnc)).toBe(acmeFake.currentRefreshToken(g.grantId));
    }
    // A probe still out with the old secret during the reload did not reopen it.
    expect(await db.outboxEvent.count({ where: { type: 'provider.credentials_invalid', provider: 'brk-acme' } })).toBe(
      1,
    );
  });

  it('a probe that succeeds closes the breaker (Slack bad_client_secret in an HTTP 200 body)', async () => {
    betaFake.setFaults({ invalidClient: true });
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const g = betaFake.issueGrant();
      const res = await d.api('POST', '/v1/connections', {
        provider: 'brk-slack',
        externalId: `beta-${i}`,
        tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: 2 },
      });
      ids.push(res.body.id);
    }
    const v = await waitFor(
      async () => {
        const x = await providerView('brk-slack');
        return x.breaker.state !== 'closed' ? x : null;
      },
      20_000,
      'slack breaker open',
    );
    expect(v.breaker.lastError?.code).toBe('bad_client_secret');
    // On-demand callers are refused while it is open: no call, no needs_reauth.
    const before = betaFake.stats().refreshRequests;
    const tok = await d.api('GET', `/v1/connections/${ids[0]}/token?min_valid_seconds=999999`);
    expect(tok.status).toBe(503);
    // Refused by the open breaker (or, if it was this request's turn, the interval's one probe).
    if (tok.body.outcome === 'skipped') expect(tok.body.reason).toBe('breaker_open');
    else expect(tok.body).toMatchObject({ outcome: 'misconfigured', code: 'bad_client_secret' });
    expect(betaFake.stats().refreshRequests - before).toBeLessThanOrEqual(1);
    // The provider starts accepting our credentials again (the secret was rotated on its side).
    betaFake.clearFaults();
    await waitFor(
      async () => (await providerView('brk-slack')).breaker.state === 'closed',
      20_000,
      'closed by a successful probe',
    );
    const restored = await db.outboxEvent.findMany({
      where: { type: 'provider.credentials_restored', provider: 'brk-slack' },
    });
    expect(restored).toHaveLength(1);
    expect(restored[0].payload).toMatchObject({ reason: 'probe_succeeded' });
    await waitFor(
      async () => (await db.connection.count({ where: { id: { in: ids }, version: { gte: 2 } } })) === 10,
      30_000,
      'all 10 refreshed',
    );
    expect(await db.connection.count({ where: { id: { in: ids }, status: 'needs_reauth' } })).toBe(0);
  });
});

describe('breaker state is shared and survives restarts (ProviderState)', () => {
  const def = (secret: string) =>
    resolveProvider(
      'shared-prov',
      { tokenUrl: 'https://a.test/t', clientId: 'id', clientSecret: secret },
      {},
      { allowInsecure: false },
    );
  const log = pino({ level: 'silent' });

  it('two processes: one opens, the other waits; only one probe per interval across both; new credentials close it', async () => {
    let now = Date.parse('2026-11-22T00:00:00Z');
    const clock = () => now;
    const a = new BreakerGate({ probeIntervalMs: 60_000, cacheMs: 0, now: clock });
    const b = new BreakerGate({ probeIntervalMs: 60_000, cacheMs: 0, now: clock });
    a.bind(db, log);
    b.bind(db, log);
    const p = def('bad');
    expect(await b.admit(p, 'c1')).toBe(true);
    await a.report(p, 'credentials', { code: 'invalid_client', description: 'client_secret=bad is wrong' });
    // The other process (and a restarted one: a new gate) sees it open.
    expect(await b.admit(p, 'c2')).toBe(false);
    const restarted = new BreakerGate({ probeIntervalMs: 60_000, cacheMs: 0, now: clock });
    restarted.bind(db, log);
    expect(await restarted.admit(p, 'c3')).toBe(false);
    // After one interval exactly one of them may probe.
    now += 60_000;
    const results = await Promise.all([a.admit(p, 'c4'), b.admit(p, 'c5'), restarted.admit(p, 'c6')]);
    expect(results.filter(Boolean)).toHaveLength(1);
    // The probe fails again: still open, still one event.
    await a.report(p, 'credentials', { code: 'invalid_client', description: 'again' });
    expect(await b.admit(p, 'c7')).toBe(false);
    expect(
      await db.outboxEvent.count({ where: { type: 'provider.credentials_invalid', provider: 'shared-prov' } }),
    ).toBe(1);
    const st = await db.providerState.findUnique({ where: { provider: 'shared-prov' } });
    expect(st?.lastErrorDescription).not.toContain('bad');
    // New credentials (a reload or restart with another secret): admitted at once, breaker closed.
    const fixed = def('good');
    expect(await restarted.admit(fixed, 'c8')).toBe(true);
    expect((await db.providerState.findUnique({ where: { provider: 'shared-prov' } }))?.breakerState).toBe('closed');
    expect(await a.admit(fixed, 'c9')).toBe(true);
    const ev = await db.outboxEvent.findMany({
      where: { type: 'provider.credentials_restored', provider: 'shared-prov' },
    });
    expect(ev).toHaveLength(1);
    expect(ev[0].payload).toMatchObject({ reason: 'credentials_changed' });
  });
});

describe('per-provider limits in the gate', () => {
  it('never runs more than `concurrency` token requests at once for a provider, while another provider is not held up', async () => {
    const gate = new BreakerGate({ probeIntervalMs: 1000 });
    const slow = {
      ...resolveProvider(
        'slow-p',
        { tokenUrl: 'https://a.test/t', clientId: 'i', clientSecret: 's', concurrency: 2 },
        {},
        { allowInsecure: false },
      ),
    };
    const fast = {
      ...resolveProvider(
        'fast-p',
        { tokenUrl: 'https://b.test/t', clientId: 'i', clientSecret: 's', concurrency: 2 },
        {},
        { allowInsecure: false },
      ),
    };
    let active = 0;
    let max = 0;
    const releases: (() => void)[] = [];
    const slowTasks = Array.from({ length: 6 }, () =>
      gate.run(
        slow,
        () =>
          new Promise<void>((resolve) => {
            active++;
            max = Math.max(max, active);
            releases.push(() => {
              active--;
              resolve();
            });
          }),
      ),
    );
    await waitFor(() => releases.length === 2, 2000, 'two slow tasks running');
    // The slow provider is saturated; the fast one runs at once.
    expect(await gate.run(fast, async () => 'fast-done')).toBe('fast-done');
    expect(releases.length).toBe(2);
    let done = false;
    const all = Promise.all(slowTasks).then(() => {
      done = true;
    });
    while (!done) {
      if (releases.length) releases.shift()!();
      await sleep(5);
    }
    await all;
    expect(max).toBe(2);
  });

  it('spaces token requests to ratePerSecond', async () => {
    const gate = new BreakerGate({ probeIntervalMs: 1000 });
    const p = resolveProvider(
      'rated',
      { tokenUrl: 'https://a.test/t', clientId: 'i', clientSecret: 's', ratePerSecond: 10 },
      {},
      { allowInsecure: false },
    );
    const starts: number[] = [];
    await Promise.all(
      Array.from({ length: 5 }, () =>
        gate.run(p, async () => {
          starts.push(Date.now());
        }),
      ),
    );
    starts.sort((x, y) => x - y);
    const gaps = starts.slice(1).map((t, i) => t - starts[i]);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(90);
  });
});
