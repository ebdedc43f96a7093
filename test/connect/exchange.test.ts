// Code exchanges that fail (invalid_grant, 503, Slack's ok:false, bad client credentials, no refresh
// token) change no connection and end on the return URL with the flow's error; Slack's success keeps
// both token sets. Without PUBLIC_URL the connect endpoints answer 503.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { providerGateExtension } from '../../worker/gate/breaker.ts';
import { FakeProvider } from '../fakes/fake-provider.ts';
import { startDaemon, testDb, waitFor, writeProvidersFile, type TestDaemon } from '../helpers/harness.ts';
import {
  connectInBrowser,
  launchBrowser,
  newProfile,
  newSession,
  providerEntry,
  ReturnApp,
  startConnectDaemon,
  type Browser,
} from './support.ts';

const fake = new FakeProvider({ rotation: 'always', accessTtlSeconds: 3600 });
// Slack does not require PKCE (the built-in sends none: opting in makes the app public).
const slack = new FakeProvider({ persona: 'slack', authorize: { requirePkce: false } });
const app = new ReturnApp();
const db = testDb();
let d: TestDaemon;
let browser: Browser;

beforeAll(async () => {
  await Promise.all([fake.start(), slack.start(), app.start()]);
  d = await startConnectDaemon(
    {
      PROVIDERS_FILE: writeProvidersFile({
        fakecloud: providerEntry(fake),
        slackfake: {
          extends: 'slack',
          tokenUrl: slack.tokenUrl,
          authorizeUrl: slack.authorization.authorizeUrl,
          clientId: slack.clientId,
          clientSecret: slack.clientSecret,
          invalidCodeErrors: ['invalid_code', 'code_already_used'],
        },
      }),
    },
    app,
    [providerGateExtension({ probeIntervalMs: 1000 })],
  );
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await d?.stop();
  await Promise.all([fake.close(), slack.close(), app.close()]);
  await db.$disconnect();
});

async function flow(provider: string, externalId: string, f: FakeProvider = fake) {
  const ctx = await newProfile(browser);
  const s = await newSession(d, { provider, externalId, returnUrl: app.returnUrl });
  const out = await connectInBrowser(ctx, f, s.url);
  await ctx.close();
  const session = (await d.api('GET', `/v1/connect-sessions/${s.id}`)).body;
  return { s, url: out.url, q: (k: string) => out.url.searchParams.get(k), session };
}

describe('code exchange outcomes', () => {
  it('a code the provider refuses (expired) ends with error=invalid_grant, saying what is likely; nothing is created', async () => {
    fake.authorization.options.codeTtlMs = -1;
    try {
      const r = await flow('fakecloud', 'acct-expired-code');
      expect(r.q('error')).toBe('invalid_grant');
      expect(r.q('error_description')).toMatch(/expired/);
      expect(r.q('session_id')).toBe(r.s.id);
      expect(r.session).toMatchObject({ status: 'failed', error: 'invalid_grant' });
      expect(await db.connection.count({ where: { externalId: 'acct-expired-code' } })).toBe(0);
    } finally {
      fake.authorization.options.codeTtlMs = undefined;
    }
  });

  it('a failed exchange during a reconnect leaves the connection exactly as it was', async () => {
    const ok = await flow('fakecloud', 'acct-keep');
    const id = ok.q('connection_id')!;
    const before = await db.connection.findUniqueOrThrow({ where: { id } });
    fake.setFaults({ status: 503, count: 1 });
    const r = await flow('fakecloud', 'acct-keep');
    expect(r.q('error')).toBe('provider_unavailable');
    expect(r.q('connection_id')).toBeNull();
    const after = await db.connection.findUniqueOrThrow({ where: { id } });
    expect(after).toEqual(before);
  });

  it('an exchange answered 503 ends with error=provider_unavailable, and the code is sent once only', async () => {
    const exchanges = fake.authorization.exchanges.length;
    const requests = fake.stats().refreshRequests;
    fake.setFaults({ status: 503, retryAfterSeconds: 1, count: 5 });
    try {
      const r = await flow('fakecloud', 'acct-503');
      expect(r.q('error')).toBe('provider_unavailable');
      expect(fake.stats().refreshRequests).toBe(requests + 1);
      expect(fake.authorization.exchanges.length).toBe(exchanges); // the fault answered; no code was consumed
      expect(await db.connection.count({ where: { externalId: 'acct-503' } })).toBe(0);
    } finally {
      fake.clearFaults();
    }
  });

  it("Slack's ok:false for a bad code ends with error=invalid_grant; a transient ok:false with provider_unavailable", async () => {
    slack.authorization.options.codeTtlMs = -1;
    try {
      const r = await flow('slackfake', 'T-bad', slack);
      expect(r.q('error')).toBe('invalid_grant');
    } finally {
      slack.authorization.options.codeTtlMs = undefined;
    }
    slack.setFaults({ slackError: 'internal_error', count: 1 });
    const r2 = await flow('slackfake', 'T-busy', slack);
    expect(r2.q('error')).toBe('provider_unavailable');
    expect(await db.connection.count({ where: { provider: 'slackfake' } })).toBe(0);
  });

  it('Slack: a successful exchange keeps both token sets (bot and user), as POST /v1/connections does', async () => {
    const r = await flow('slackfake', 'T-ok', slack);
    expect(r.q('status')).toBe('connected');
    const rows = await db.connection.findMany({ where: { provider: 'slackfake' }, orderBy: { externalId: 'asc' } });
    expect(rows.map((x) => x.externalId)).toEqual(['T-ok', 'T-ok#user']);
    expect(rows[1].parentId).toBe(rows[0].id);
  });

  it("bad client credentials end with error=misconfigured and the provider's credential breaker opens", async () => {
    fake.setFaults({ invalidClient: true, count: 1 });
    const r = await flow('fakecloud', 'acct-misconf');
    expect(r.q('error')).toBe('misconfigured');
    await waitFor(
      async () => (await db.providerState.findUnique({ where: { provider: 'fakecloud' } }))?.breakerState === 'open',
      10_000,
      'breaker open',
    );
    // The next good answer closes it again.
    const ok = await flow('fakecloud', 'acct-after-misconf');
    expect(ok.q('status')).toBe('connected');
    await waitFor(
      async () => (await db.providerState.findUnique({ where: { provider: 'fakecloud' } }))?.breakerState === 'closed',
      10_000,
      'breaker closed',
    );
  });

  it('an expiring access token without a refresh token creates no connection: error=no_refresh_token, naming the missing setting', async () => {
    fake.setFaults({ omitRefreshToken: true, count: 1 });
    const r = await flow('fakecloud', 'acct-no-rt');
    expect(r.q('error')).toBe('no_refresh_token');
    expect(r.q('error_description')).toMatch(/refresh token/);
    expect(await db.connection.count({ where: { externalId: 'acct-no-rt' } })).toBe(0);
  });

  it('a token without expiry and without refresh token is stored as non-expiring and never refreshed', async () => {
    fake.setFaults({ status: 200, body: { access_token: 'at_forever_0123456789', token_type: 'bearer' }, count: 1 });
    const r = await flow('fakecloud', 'acct-forever');
    expect(r.q('status')).toBe('connected');
    const id = r.q('connection_id')!;
    const row = await db.connection.findUniqueOrThrow({ where: { id } });
    expect(row).toMatchObject({ status: 'active', expiresAt: null, nextRefreshAt: null });
    const tok = await d.api('GET', `/v1/connections/${id}/token?min_valid_seconds=3600`);
    expect(tok.body).toMatchObject({ access_token: 'at_forever_0123456789', expires_at: null, refreshed: false });
    const requests = fake.stats().refreshRequests;
    expect((await d.api('POST', `/v1/connections/${id}/refresh`)).body).toMatchObject({ outcome: 'skipped' });
    expect(fake.stats().refreshRequests).toBe(requests);
    expect((await db.connection.findUniqueOrThrow({ where: { id } })).status).toBe('active');
  });

  it('without PUBLIC_URL the connect endpoints answer a clear 503; everything else works', async () => {
    const bare = await startDaemon({
      ROLES: 'api',
      PROVIDERS_FILE: writeProvidersFile({ fakecloud: providerEntry(fake) }),
    });
    try {
      const r = await bare.api('POST', '/v1/connect-sessions', {
        provider: 'fakecloud',
        externalId: 'x',
        returnUrl: app.returnUrl,
      });
      expect(r.status).toBe(503);
      expect(r.body.message).toMatch(/PUBLIC_URL/);
      expect((await fetch(`${bare.baseUrl}/connect/${'A'.repeat(43)}`, { redirect: 'manual' })).status).toBe(503);
      expect((await fetch(`${bare.baseUrl}/oauth/callback?state=x`, { redirect: 'manual' })).status).toBe(503);
      expect((await bare.api('GET', '/v1/connections')).status).toBe(200);
    } finally {
      await bare.stop();
    }
  });
});
