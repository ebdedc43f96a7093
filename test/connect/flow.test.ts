// The hosted connect flow end to end, in a real browser against the fake provider's authorization
// server: a new connection, a reconnect after a revocation (same id, refreshes resume, webhook),
// consent denied.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../worker/config/env.ts';
import { webhookExtension } from '../../worker/webhooks/dispatcher.ts';
import { FakeProvider } from '../fakes/fake-provider.ts';
import { testDb, testEnv, waitFor, writeProvidersFile, type TestDaemon } from '../helpers/harness.ts';
import { WebhookReceiver } from '../webhooks/receiver.ts';
import { runCli } from '../../worker/ops/cli.ts';
import { createOpsContext } from '../../worker/ops/context.ts';
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

const SECRET = `whsec_${randomBytes(16).toString('hex')}`;
const fake = new FakeProvider({ rotation: 'always', accessTtlSeconds: 4 });
const app = new ReturnApp();
const receiver = new WebhookReceiver(SECRET);
const db = testDb();
let d: TestDaemon;
let browser: Browser;

beforeAll(async () => {
  await Promise.all([fake.start(), app.start(), receiver.start()]);
  const env = {
    PROVIDERS_FILE: writeProvidersFile({
      fakecloud: providerEntry(fake),
      norevoke: providerEntry(fake, { revocationUrl: undefined }),
    }),
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET: SECRET,
    WEBHOOK_DISPATCH_INTERVAL_MS: '100',
  };
  const ext = webhookExtension(loadConfig(testEnv(env)), { retryBaseMs: 200, retryMaxMs: 1000, timeoutMs: 2000 })!;
  d = await startConnectDaemon(env, app, [ext]);
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await d?.stop();
  await Promise.all([fake.close(), app.close(), receiver.close()]);
  await db.$disconnect();
});

const webhooks = (type: string) =>
  receiver
    .firstDeliveries()
    .map((r) => JSON.parse(r.body))
    .filter((e) => e.type === type);

describe('connect flow in a real browser', () => {
  it('a new connection: PKCE + state + scopes at the provider, an HttpOnly SameSite=Lax cookie, then connected on the return URL', async () => {
    const s = await newSession(d, {
      provider: 'fakecloud',
      externalId: 'acct-new',
      returnUrl: app.returnUrl,
      scopes: ['write'],
    });
    expect(s.mode).toBe('connect');
    expect(s.url).toMatch(new RegExp(`^${d.config.publicUrl}/connect/[A-Za-z0-9_-]{43}$`));

    // The link answers a redirect to the provider and sets the binding cookie (seen without a browser first).
    const probe = await fetch(s.url, { redirect: 'manual' });
    expect(probe.status).toBe(302);
    const cookie = probe.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).not.toMatch(/Secure/); // PUBLIC_URL is http here
    const auth = new URL(probe.headers.get('location')!);
    expect(auth.origin + auth.pathname).toBe(fake.authorization.authorizeUrl);
    expect(auth.searchParams.get('response_type')).toBe('code');
    expect(auth.searchParams.get('client_id')).toBe(fake.clientId);
    expect(auth.searchParams.get('redirect_uri')).toBe(`${d.config.publicUrl}/oauth/callback`);
    expect(auth.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(auth.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(auth.searchParams.get('code_challenge_method')).toBe('S256');
    // The refresh-token scope is kept beside the app's own.
    expect(auth.searchParams.get('scope')).toBe('offline_access write');

    const ctx = await newProfile(browser);
    const out = await connectInBrowser(ctx, fake, s.url);
    expect(out.status).toBe(200);
    expect(out.url.origin + out.url.pathname).toBe(app.returnUrl);
    expect(out.url.searchParams.get('status')).toBe('connected');
    expect(out.url.searchParams.get('session_id')).toBe(s.id);
    const id = out.url.searchParams.get('connection_id')!;
    const conn = await d.api('GET', `/v1/connections/${id}`);
    expect(conn.body).toMatchObject({ provider: 'fakecloud', externalId: 'acct-new', status: 'active', version: 1 });
    expect((await d.api('GET', `/v1/connect-sessions/${s.id}`)).body).toMatchObject({
      id: s.id,
      status: 'completed',
      connectionId: id,
      provider: 'fakecloud',
      externalId: 'acct-new',
    });
    // The token the app gets is the one the provider issued through the exchange.
    const tok = await d.api('GET', `/v1/connections/${id}/token?min_valid_seconds=0`);
    expect(fake.checkAccessToken(tok.body.access_token).active).toBe(true);
    const ev = await db.outboxEvent.findMany({ where: { connectionId: id, type: 'connection.created' } });
    expect(ev).toHaveLength(1);
    // The binding cookie is cleared at the end, again HttpOnly and SameSite=Lax.
    const cookies = await ctx.cookies();
    expect(cookies.find((c) => c.name === 'ort_connect')).toBeUndefined();
    await ctx.close();
  });

  it('reconnect after a revocation: same id, version+1, refreshes resume, connection.recovered webhook with reason reconnected', async () => {
    const ctx = await newProfile(browser);
    const first = await connectInBrowser(
      ctx,
      fake,
      (await newSession(d, { provider: 'fakecloud', externalId: 'acct-re', returnUrl: app.returnUrl })).url,
      'allow',
      'alice',
    );
    const id = first.url.searchParams.get('connection_id')!;
    const grant = fake.ledger().grants.find((g) => g.userId === 'alice')!;
    fake.revokeGrant(grant.grantId);
    await waitFor(
      async () => (await d.api('GET', `/v1/connections/${id}`)).body.status === 'needs_reauth',
      30_000,
      'needs_reauth',
    );
    const before = (await d.api('GET', `/v1/connections/${id}`)).body;

    const s = await newSession(d, { provider: 'fakecloud', externalId: 'acct-re', returnUrl: app.returnUrl });
    expect(s).toMatchObject({ mode: 'reconnect', connectionId: id });
    const again = await connectInBrowser(ctx, fake, s.url, 'allow', 'alice');
    expect(again.url.searchParams.get('status')).toBe('reconnected');
    expect(again.url.searchParams.get('connection_id')).toBe(id);
    const after = (await d.api('GET', `/v1/connections/${id}`)).body;
    expect(after).toMatchObject({ id, status: 'active', consecutiveFailures: 0 });
    expect(after.version).toBe(before.version + 1);
    expect(after.reauthReason).toBeUndefined();

    // The schedule resumes: the daemon refreshes the new grant on its own (4 s access tokens).
    const newGrant = fake
      .ledger()
      .grants.filter((g) => g.userId === 'alice' && g.status === 'active')
      .at(-1)!;
    await waitFor(
      () => (fake.stats().perGrant[newGrant.grantId]?.refreshes ?? 0) >= 1,
      30_000,
      'a refresh of the new grant',
    );
    const hook = await waitFor(
      () => webhooks('connection.recovered').find((e) => e.data.connectionId === id),
      20_000,
      'recovered webhook',
    );
    expect(hook.data).toMatchObject({
      connectionId: id,
      reason: 'reconnected',
      provider: 'fakecloud',
      externalId: 'acct-re',
    });
    await ctx.close();
  });

  it('consent denied: back to the return URL with error=access_denied; the session reads failed; no connection', async () => {
    const ctx = await newProfile(browser);
    const s = await newSession(d, {
      provider: 'fakecloud',
      externalId: 'acct-deny',
      returnUrl: `${app.returnUrl}?tab=integrations`,
    });
    const out = await connectInBrowser(ctx, fake, s.url, 'deny');
    expect(out.url.origin + out.url.pathname).toBe(app.returnUrl);
    expect(out.url.searchParams.get('tab')).toBe('integrations');
    expect(out.url.searchParams.get('error')).toBe('access_denied');
    expect(out.url.searchParams.get('error_description')).toBeTruthy();
    expect(out.url.searchParams.get('session_id')).toBe(s.id);
    expect((await d.api('GET', `/v1/connect-sessions/${s.id}`)).body).toMatchObject({
      status: 'failed',
      error: 'access_denied',
    });
    expect(await db.connection.count({ where: { externalId: 'acct-deny' } })).toBe(0);
    await ctx.close();
  });

  it('DELETE ?revoke=true revokes the refresh token itself at the provider first (RFC 7009) and says so', async () => {
    const g = fake.issueGrant();
    const c = await d.api('POST', '/v1/connections', {
      provider: 'fakecloud',
      externalId: 'acct-revoke',
      tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: 3600 },
    });
    const r = await d.api('DELETE', `/v1/connections/${c.body.id}?revoke=true`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: c.body.id, deleted: true, revoked: true });
    expect(fake.authorization.revocations.at(-1)).toMatchObject({
      token: g.refreshToken,
      hint: 'refresh_token',
      grantId: g.grantId,
    });
    expect(fake.ledger().grants.find((x) => x.grantId === g.grantId)?.status).toBe('revoked');
    expect((await d.api('GET', `/v1/connections/${c.body.id}`)).status).toBe(404);

    // Without a revocationUrl: deleted, and the answer says it was not revoked.
    const g2 = fake.issueGrant();
    const c2 = await d.api('POST', '/v1/connections', {
      provider: 'norevoke',
      externalId: 'acct-norevoke',
      tokens: { access_token: g2.accessToken, refresh_token: g2.refreshToken, expires_in: 3600 },
    });
    const r2 = await d.api('DELETE', `/v1/connections/${c2.body.id}?revoke=true`);
    expect(r2.body).toMatchObject({ deleted: true, revoked: false, reason: 'not_supported' });
    expect(fake.ledger().grants.find((x) => x.grantId === g2.grantId)?.status).toBe('active');
    // Plain DELETE stays as it was: 204, nothing revoked.
    const g3 = fake.issueGrant();
    const c3 = await d.api('POST', '/v1/connections', {
      provider: 'fakecloud',
      externalId: 'acct-plain-delete',
      tokens: { access_token: g3.accessToken, refresh_token: g3.refreshToken, expires_in: 3600 },
    });
    expect((await d.api('DELETE', `/v1/connections/${c3.body.id}`)).status).toBe(204);
    expect(fake.ledger().grants.find((x) => x.grantId === g3.grantId)?.status).toBe('active');
    expect((await d.api('DELETE', `/v1/connections/${c3.body.id}?revoke=maybe`)).status).toBe(400);
  });

  it('every session leaves a trace that `why` and `connections show` read: when and how often the user reconnected, why a flow failed', async () => {
    const c = await db.connection.findUniqueOrThrow({
      where: { provider_externalId: { provider: 'fakecloud', externalId: 'acct-re' } },
    });
    // A failed attempt to reconnect too.
    const ctx = await newProfile(browser);
    await connectInBrowser(
      ctx,
      fake,
      (await newSession(d, { provider: 'fakecloud', externalId: 'acct-re', returnUrl: app.returnUrl })).url,
      'deny',
    );
    await ctx.close();
    const ops = async (...args: string[]) => {
      const out: string[] = [];
      const io = { out: (l: string) => out.push(l), err: () => undefined, tty: false };
      const code = await runCli(args, io, (json) => createOpsContext(d.config, io, json, d.daemon));
      return { code, text: out.join('\n') };
    };
    const why = await ops('why', c.id, '--json');
    expect(why.code).toBe(0);
    const trace = JSON.parse(why.text).connectFlow;
    expect(trace).toMatchObject({ reconnects: 1, reconnectsLast30d: 1 });
    expect(trace.connectedAt).toBeTruthy();
    expect(trace.failures[0]).toMatchObject({ error: 'access_denied' });
    const text = await ops('why', c.id);
    expect(text.text).toMatch(/Reconnected by the user once/);
    expect(text.text).toMatch(/access_denied - the user declined consent/);
    const show = await ops('connections', 'show', c.id);
    expect(show.text).toMatch(/Connect flow:/);
    expect(show.text).toMatch(/Connected through the hosted flow/);
    expect(JSON.parse((await ops('connections', 'show', c.id, '--json')).text).connectFlow.reconnects).toBe(1);
  });
});
