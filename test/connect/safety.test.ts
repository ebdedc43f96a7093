// The callback's safety properties, each in a real browser: a tampered state, a replayed callback,
// an expired session, a flow finished in another browser (or one holding its own connect cookie),
// an iss from another issuer, return URLs outside the allowlist, pages that echo nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { FakeProvider } from '../fakes/fake-provider.ts';
import { testDb, writeProvidersFile, type TestDaemon } from '../helpers/harness.ts';
import {
  connectInBrowser,
  launchBrowser,
  newProfile,
  newSession,
  openConsent,
  providerEntry,
  ReturnApp,
  startConnectDaemon,
  type Browser,
} from './support.ts';

const fake = new FakeProvider({
  rotation: 'always',
  accessTtlSeconds: 3600,
  authorize: { issuer: 'https://fake.example/issuer' },
});
const app = new ReturnApp();
const db = testDb();
let d: TestDaemon;
let browser: Browser;

beforeAll(async () => {
  await Promise.all([fake.start(), app.start()]);
  d = await startConnectDaemon(
    {
      PROVIDERS_FILE: writeProvidersFile({
        fakecloud: providerEntry(fake, { issuer: 'https://fake.example/issuer' }),
        mixup: providerEntry(fake, { issuer: 'https://other.example/issuer' }),
        noauth: { tokenUrl: fake.tokenUrl, clientId: 'x', clientSecret: 'y' },
      }),
    },
    app,
  );
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await d?.stop();
  await Promise.all([fake.close(), app.close()]);
  await db.$disconnect();
});

/** Clicks Allow and captures the provider's redirect to the callback without following it. */
async function captureCallback(page: Page): Promise<URL> {
  let captured: string | undefined;
  // Redirects are not routed one by one: take the decision's answer and keep its Location.
  await page.route(`${fake.url}/authorize/decision`, async (route) => {
    const res = await route.fetch({ maxRedirects: 0 });
    captured = res.headers().location;
    return route.fulfill({ status: 200, contentType: 'text/html', body: '<p>held</p>' });
  });
  await page.click('#allow');
  for (let i = 0; i < 100 && !captured; i++) await new Promise((r) => setTimeout(r, 50));
  await page.unrouteAll();
  expect(captured).toBeTruthy();
  return new URL(captured!);
}

async function visit(page: Page, url: string): Promise<{ status: number; text: string; html: string; url: string }> {
  const res = await page.goto(url);
  return { status: res!.status(), text: await page.innerText('body'), html: await page.content(), url: page.url() };
}

const session = (externalId: string, extra: Record<string, unknown> = {}) =>
  newSession(d, { provider: 'fakecloud', externalId, returnUrl: app.returnUrl, ...extra });

describe('callback safety', () => {
  it('a tampered state is refused with a plain 400 page, changes nothing and redirects nowhere; the real callback still completes', async () => {
    const ctx = await newProfile(browser);
    const s = await session('acct-tamper');
    const page = await openConsent(ctx, s.url);
    const cb = await captureCallback(page);
    const code = cb.searchParams.get('code')!;
    const state = cb.searchParams.get('state')!;
    const hitsBefore = app.hits.length;
    const exchangesBefore = fake.authorization.exchanges.length;
    const tampered = new URL(cb);
    tampered.searchParams.set('state', `${state.slice(0, -2)}${state.endsWith('AA') ? 'BB' : 'AA'}`);
    const r = await visit(page, tampered.toString());
    expect(r.status).toBe(400);
    expect(r.url).toBe(tampered.toString());
    expect(r.text).toMatch(/expired or was already used/);
    expect(r.text).toMatch(/go back to the app/i);
    for (const secret of [code, state, tampered.searchParams.get('state')!]) expect(r.html).not.toContain(secret);
    expect(app.hits.length).toBe(hitsBefore);
    expect(fake.authorization.exchanges.length).toBe(exchangesBefore);
    expect((await d.api('GET', `/v1/connect-sessions/${s.id}`)).body.status).toBe('pending');

    const ok = await visit(page, cb.toString());
    expect(ok.status).toBe(200);
    expect(new URL(ok.url).searchParams.get('status')).toBe('connected');
    await ctx.close();
  });

  it('a replayed callback is refused and the connection the first one made stays intact (the code is not sent again)', async () => {
    const ctx = await newProfile(browser);
    const s = await session('acct-replay');
    const page = await openConsent(ctx, s.url);
    const cb = await captureCallback(page);
    const first = await visit(page, cb.toString());
    const id = new URL(first.url).searchParams.get('connection_id')!;
    const before = (await d.api('GET', `/v1/connections/${id}`)).body;
    const exchanges = fake.authorization.exchanges.length;
    const replay = await visit(page, cb.toString());
    expect(replay.status).toBe(400);
    expect(replay.text).toMatch(/expired or was already used/);
    expect(fake.authorization.exchanges.length).toBe(exchanges);
    const after = (await d.api('GET', `/v1/connections/${id}`)).body;
    expect(after).toMatchObject({ status: 'active', version: before.version });
    const tok = await d.api('GET', `/v1/connections/${id}/token?min_valid_seconds=0`);
    expect(fake.checkAccessToken(tok.body.access_token).active).toBe(true);
    // In another browser too (no cookie): refused the same way.
    const other = await newProfile(browser);
    expect((await visit(await other.newPage(), cb.toString())).status).toBe(400);
    await Promise.all([ctx.close(), other.close()]);
  });

  it('a replay carrying the same browser cookie (a double submit, a copied cookie) is refused too: the state is single-use', async () => {
    const ctx = await newProfile(browser);
    const s = await session('acct-double');
    const page = await openConsent(ctx, s.url);
    const cb = await captureCallback(page);
    const cookie = (await ctx.cookies()).find((c) => c.name === 'ort_connect')!;
    const send = () => fetch(cb, { redirect: 'manual', headers: { cookie: `ort_connect=${cookie.value}` } });
    const [a, b] = await Promise.all([send(), send()]);
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual([302, 400]);
    const winner = a.status === 302 ? a : b;
    expect(new URL(winner.headers.get('location')!).searchParams.get('status')).toBe('connected');
    const third = await send();
    expect(third.status).toBe(400);
    expect(await db.connection.count({ where: { externalId: 'acct-double' } })).toBe(1);
    await ctx.close();
  });

  it('an expired session: the link answers a 4xx page and never redirects to the provider; a callback after expiry is refused', async () => {
    const ctx = await newProfile(browser);
    const s = await session('acct-expired');
    await db.connectSession.update({ where: { id: s.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const requests = fake.authorization.requests.length;
    const page = await ctx.newPage();
    const r = await visit(page, s.url);
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    expect(r.text).toMatch(/expired/);
    expect(fake.authorization.requests.length).toBe(requests);
    expect((await d.api('GET', `/v1/connect-sessions/${s.id}`)).body).toMatchObject({ status: 'expired' });

    // Expiring while the user is at the provider.
    const s2 = await session('acct-expired-2');
    const page2 = await openConsent(ctx, s2.url);
    await db.connectSession.update({ where: { id: s2.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const cb = await captureCallback(page2);
    const late = await visit(page2, cb.toString());
    expect(late.status).toBe(400);
    expect(late.text).toMatch(/expired/);
    expect(await db.connection.count({ where: { externalId: { startsWith: 'acct-expired' } } })).toBe(0);
    await ctx.close();
  });

  it('an unknown or forged connect token answers a 4xx page without redirecting', async () => {
    const page = await browser.newPage();
    for (const t of ['nope', 'A'.repeat(43), 'x'.repeat(300), 'bad%E0%A4%A']) {
      const r = await visit(page, `${d.config.publicUrl}/connect/${t}`);
      expect([400, 404, 414]).toContain(r.status);
      expect(r.url).toBe(`${d.config.publicUrl}/connect/${t}`);
      expect(r.html).not.toContain(t);
    }
    await page.close();
  });

  it('a session started in one browser and finished in another is refused, also when that browser holds its own connect cookie', async () => {
    const alice = await newProfile(browser);
    const mallory = await newProfile(browser);
    const s = await session('acct-two-browsers');
    const aPage = await openConsent(alice, s.url);
    const authorizeUrl = aPage.url();
    // Finished in a browser without any connect cookie.
    const mPage = await mallory.newPage();
    await mPage.goto(authorizeUrl);
    const cb = await captureCallback(mPage);
    const r = await visit(mPage, cb.toString());
    expect(r.status).toBe(400);
    expect(r.text).toMatch(/another browser/);
    expect((await d.api('GET', `/v1/connect-sessions/${s.id}`)).body.status).toBe('pending');

    // Mallory starts her own session (her browser now holds a connect cookie) and feeds Alice's consent in.
    const own = await session('acct-mallory');
    await openConsent(mallory, own.url);
    expect((await mallory.cookies()).some((c) => c.name === 'ort_connect' && c.httpOnly && c.sameSite === 'Lax')).toBe(
      true,
    );
    const aliceAgain = await openConsent(alice, s.url);
    const stolen = await captureCallback(aliceAgain);
    const r2 = await visit(await mallory.newPage(), stolen.toString());
    expect(r2.status).toBe(400);
    expect(await db.connection.count({ where: { externalId: 'acct-two-browsers' } })).toBe(0);
    // Alice herself can still finish with that very callback: nothing was consumed.
    const done = await visit(aliceAgain, stolen.toString());
    expect(new URL(done.url).searchParams.get('status')).toBe('connected');
    await Promise.all([alice.close(), mallory.close()]);
  });

  it('an iss from another issuer is not exchanged (RFC 9207 mix-up defence)', async () => {
    const ctx = await newProfile(browser);
    const s = await newSession(d, { provider: 'mixup', externalId: 'acct-mixup', returnUrl: app.returnUrl });
    const exchanges = fake.authorization.exchanges.length;
    const out = await connectInBrowser(ctx, fake, s.url);
    expect(out.url.searchParams.get('error')).toBe('invalid_issuer');
    expect(fake.authorization.exchanges.length).toBe(exchanges);
    expect((await d.api('GET', `/v1/connect-sessions/${s.id}`)).body).toMatchObject({
      status: 'failed',
      error: 'invalid_issuer',
    });
    await ctx.close();
  });

  it('return URLs outside the allowlist, unknown providers and providers without authorizeUrl are 400s naming the field', async () => {
    const base = app.base;
    const port = app.port;
    const bad = [
      `http://localhost:${port}/app/x`, // localhost is not 127.0.0.1
      `https://127.0.0.1:${port}/app/x`, // another scheme
      `http://127.0.0.1:${port + 1}/app/x`, // another port
      `http://user:pw@127.0.0.1:${port}/app/x`, // user info
      `${base}/application`, // not under /app
      `${base}/other`,
      'javascript:alert(1)',
      'data:text/html,hi',
      '//127.0.0.1/app',
      '/app/relative',
      `${base}/app/../admin`,
    ];
    for (const returnUrl of bad) {
      const r = await d.api('POST', '/v1/connect-sessions', { provider: 'fakecloud', externalId: 'acct-x', returnUrl });
      expect(r.status, returnUrl).toBe(400);
      expect(r.body.field, returnUrl).toBe('returnUrl');
    }
    for (const ok of [`${base}/app`, `${base}/app/`, `${base}/app/deep/path?x=1`]) {
      expect(
        (await d.api('POST', '/v1/connect-sessions', { provider: 'fakecloud', externalId: 'acct-x', returnUrl: ok }))
          .status,
        ok,
      ).toBe(201);
    }
    expect(
      (await d.api('POST', '/v1/connect-sessions', { provider: 'nosuch', externalId: 'a', returnUrl: app.returnUrl }))
        .body.field,
    ).toBe('provider');
    const noauth = await d.api('POST', '/v1/connect-sessions', {
      provider: 'noauth',
      externalId: 'a',
      returnUrl: app.returnUrl,
    });
    expect(noauth.status).toBe(400);
    expect(noauth.body.field).toBe('provider');
  });

  it('connectionId: another provider or externalId is a 409; a read key cannot create sessions', async () => {
    const ctx = await newProfile(browser);
    const out = await connectInBrowser(ctx, fake, (await session('acct-cid')).url);
    const id = out.url.searchParams.get('connection_id')!;
    expect(
      (
        await d.api('POST', '/v1/connect-sessions', {
          provider: 'fakecloud',
          externalId: 'acct-other',
          connectionId: id,
          returnUrl: app.returnUrl,
        })
      ).status,
    ).toBe(409);
    expect(
      (
        await d.api('POST', '/v1/connect-sessions', {
          provider: 'mixup',
          externalId: 'acct-cid',
          connectionId: id,
          returnUrl: app.returnUrl,
        })
      ).status,
    ).toBe(409);
    const same = await session('acct-cid', { connectionId: id });
    expect(same).toMatchObject({ mode: 'reconnect', connectionId: id });
    const { TEST_READ_KEY } = await import('../helpers/harness.ts');
    expect(
      (
        await d.api(
          'POST',
          '/v1/connect-sessions',
          { provider: 'fakecloud', externalId: 'a', returnUrl: app.returnUrl },
          TEST_READ_KEY,
        )
      ).status,
    ).toBe(403);
    expect((await d.api('GET', `/v1/connect-sessions/${same.id}`, undefined, TEST_READ_KEY)).status).toBe(200);
    await ctx.close();
  });

  it('no page echoes a query string, a code or a state, 404s included', async () => {
    const page = await browser.newPage();
    const marker = 'SECRETMARKER0123456789abcdefghijklmnopqrstu';
    for (const path of [
      `/nope?code=${marker}&state=${marker}`,
      `/oauth/callback?code=${marker}&state=${marker}`,
      `/oauth/callback?error=${marker}&state=${marker}`,
      `/oauth/callback?code=${marker}`,
      `/connect/${marker}?state=${marker}`,
    ]) {
      const r = await visit(page, `${d.config.publicUrl}${path}`);
      expect(r.status, path).toBeGreaterThanOrEqual(400);
      expect(r.html, path).not.toContain(marker);
      const raw = await fetch(`${d.config.publicUrl}${path}`, { redirect: 'manual' });
      expect(await raw.text(), path).not.toContain(marker);
    }
    await page.close();
  });
});
