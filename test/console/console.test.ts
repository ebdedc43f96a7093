// The web console in a real browser, on seeded data in a real daemon and PostgreSQL: sign-in with a
// read key (and a wrong key refused), the overview's counts and spike, the filtered list, a
// needs_reauth connection's diagnosis, the reconnect link for token keys, an accessibility pass.
// Screenshots go to test-output/console/ (git-ignored) for a person to look at.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import axeCore from 'axe-core';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../worker/ops/cli.ts';
import { createOpsContext } from '../../worker/ops/context.ts';
import { freePort } from '../connect/support.ts';
import { launchBrowser, newProfile } from '../helpers/browser.ts';
import {
  startDaemon,
  testDb,
  TEST_API_KEY,
  TEST_READ_KEY,
  writeProvidersFile,
  type TestDaemon,
} from '../helpers/harness.ts';

const SHOTS = join(process.cwd(), 'test-output', 'console');
const AXE = axeCore.source;
const db = testDb();
let d: TestDaemon;
let browser: Browser;
const ids: Record<string, string> = {};
const issuedTokens: string[] = [];

const entry = (displayName: string) => ({
  tokenUrl: 'http://127.0.0.1:9/token',
  authorizeUrl: 'http://127.0.0.1:9/authorize',
  clientAuth: 'basic',
  clientId: 'console-client',
  clientSecret: 'console-secret-never-shown',
  rotation: 'always',
  scopes: ['read'],
  displayName,
});

async function seed(provider: string, externalId: string): Promise<string> {
  const tokens = {
    access_token: `at-${externalId}-secret`,
    refresh_token: `rt-${externalId}-secret`,
    expires_in: 3600,
  };
  issuedTokens.push(tokens.access_token, tokens.refresh_token);
  const r = await d.api('POST', '/v1/connections', { provider, externalId, tokens });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.id as string;
}

/** A disconnection as the refresher records it: a rotation earlier, then a dead grant. */
async function disconnect(
  id: string,
  provider: string,
  reason: string,
  description: string,
  agoMs: number,
): Promise<void> {
  const at = new Date(Date.now() - agoMs);
  await db.refreshAttempt.create({
    data: {
      connectionId: id,
      provider,
      trigger: 'scheduled',
      workerId: 'w1',
      startedAt: new Date(at.getTime() - 3_600_000),
      finishedAt: new Date(at.getTime() - 3_599_000),
      outcome: 'rotated',
      httpStatus: 200,
      providerRotated: true,
      versionBefore: 1,
      versionAfter: 2,
      durationMs: 120,
    },
  });
  await db.refreshAttempt.create({
    data: {
      connectionId: id,
      provider,
      trigger: 'scheduled',
      workerId: 'w1',
      startedAt: at,
      finishedAt: new Date(at.getTime() + 90),
      outcome: 'needs_reauth',
      httpStatus: 400,
      errorCode: 'invalid_grant',
      errorDescription: description,
      versionBefore: 2,
      durationMs: 90,
    },
  });
  await db.connection.update({
    where: { id },
    data: {
      status: 'needs_reauth',
      version: 2,
      reauthReason: reason,
      reauthAt: new Date(at.getTime() + 90),
      nextRefreshAt: null,
      lastErrorCode: 'invalid_grant',
      lastErrorDescription: description,
      lastErrorAt: new Date(at.getTime() + 90),
      consecutiveFailures: 1,
      lastRefreshedAt: new Date(at.getTime() - 3_599_000),
    },
  });
}

const text = async (page: Page, selector: string) => (await page.textContent(selector))?.replace(/\s+/g, ' ').trim();

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function axe(page: Page): Promise<{ id: string; impact: string; nodes: number }[]> {
  // Evaluated through the DevTools protocol: the page's own CSP (no script at all) stays in force.
  await page.evaluate(AXE);
  return page.evaluate<{ id: string; impact: string; nodes: number }[]>(
    "axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })))",
  );
}

async function signIn(page: Page, key: string): Promise<number> {
  await page.goto(`${d.baseUrl}/console`);
  expect(new URL(page.url()).pathname).toBe('/console/sign-in');
  await page.fill('#key', key);
  const res = page.waitForResponse((r) => r.request().method() === 'POST');
  await page.click('button[type=submit]');
  const status = (await res).status();
  await page.waitForLoadState();
  return status;
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  const port = await freePort();
  d = await startDaemon({
    ROLES: 'api',
    PORT: String(port),
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    CONNECT_RETURN_URLS: 'http://127.0.0.1:1/app',
    PROVIDERS_FILE: writeProvidersFile({ fakecloud: entry('Fake Cloud'), acme: entry('Acme') }),
  });
  // fakecloud: 6 active, 4 disconnected in the last hours (a spike: none the day before); acme: 3 + 1.
  for (let i = 1; i <= 6; i++) ids[`fc-${i}`] = await seed('fakecloud', `fc-active-${i}`);
  for (let i = 1; i <= 4; i++) {
    ids[`fc-dead-${i}`] = await seed('fakecloud', `fc-gone-${i}`);
    await disconnect(ids[`fc-dead-${i}`], 'fakecloud', 'revoked', 'Token has been expired or revoked.', i * 3_600_000);
  }
  for (let i = 1; i <= 3; i++) ids[`acme-${i}`] = await seed('acme', `acme-active-${i}`);
  ids['acme-html'] = await seed('acme', 'acme-<b>bold</b>&"q"');
  await disconnect(ids['acme-html'], 'acme', 'expired', 'expired access/refresh token', 2 * 3_600_000);
  browser = await launchBrowser();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await d?.stop();
  await db.$disconnect();
});

describe('web console in a real browser', () => {
  it('a wrong key is refused: 401, the form again, no session cookie', async () => {
    const ctx = await newProfile(browser);
    const page = await ctx.newPage();
    expect(await signIn(page, 'not-a-key-0123456789')).toBe(401);
    await expect(page.textContent('[role=alert]')).resolves.toMatch(/not accepted/);
    expect((await ctx.cookies()).find((c) => c.name === 'ort_console')).toBeUndefined();
    await shot(page, '0-sign-in-refused');
    // Straight to a page without a session: back to the form.
    await page.goto(`${d.baseUrl}/console/connections/${ids['fc-dead-1']}`);
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    await ctx.close();
  });

  it('signs in with a read key (HttpOnly SameSite=Lax cookie without the key) and shows the right counts and the spike', async () => {
    const ctx = await newProfile(browser);
    const page = await ctx.newPage();
    const violations: string[] = [];
    page.on('console', (m) => violations.push(m.text()));
    expect(await signIn(page, TEST_READ_KEY)).toBe(303);
    expect(new URL(page.url()).pathname).toBe('/console');
    const cookie = (await ctx.cookies()).find((c) => c.name === 'ort_console')!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', secure: false, path: '/console' });
    expect(cookie.value).not.toContain(TEST_READ_KEY);
    expect(await text(page, '#total-active')).toBe('9');
    expect(await text(page, '#total-needs-reauth')).toBe('5');
    const row = async (name: string) =>
      (await page.locator('#counts tbody tr', { hasText: name }).locator('td').allTextContents()).map((s) => s.trim());
    expect(await row('Fake Cloud')).toEqual(['6', '4', '10']);
    expect(await row('Acme')).toEqual(['3', '1', '4']);
    const fc = page.locator('[data-provider=fakecloud]');
    await expect(fc.locator('.spike-note').first().textContent()).resolves.toMatch(
      /invalid_grant spike: provider fakecloud: 4 dead-grant answers/,
    );
    expect(await fc.locator('path.spike').count()).toBe(4);
    expect(await fc.locator('svg').getAttribute('aria-label')).toMatch(/4 refreshes, 0 failures, 4 needs_reauth/);
    // The stylesheet loads under the CSP, and nothing was refused.
    expect(await page.evaluate<string>("getComputedStyle(document.querySelector('header')).backgroundColor")).toBe(
      'rgb(31, 45, 61)',
    );
    expect(violations.filter((v) => /Content Security Policy/.test(v))).toEqual([]);
    await shot(page, '1-overview');
    await ctx.storageState({ path: join(SHOTS, '.read-session.json') });
    await ctx.close();
  });

  it('filters and pages the list; a value with markup is shown as text', async () => {
    const ctx = await browser.newContext({ storageState: join(SHOTS, '.read-session.json') });
    const page = await ctx.newPage();
    await page.goto(`${d.baseUrl}/console/connections`);
    expect(await text(page, '#result-count')).toBe('1-14 of 14 connections');
    await page.selectOption('#f-status', 'needs_reauth');
    await page.selectOption('#f-provider', 'fakecloud');
    await page.click('form.filters button[type=submit]');
    await page.waitForLoadState();
    expect(await text(page, '#result-count')).toBe('1-4 of 4 connections');
    expect(new URL(page.url()).searchParams.get('status')).toBe('needs_reauth');
    const names = await page.locator('#connections tbody tr td:first-child').allTextContents();
    expect(names.sort()).toEqual(['fc-gone-1', 'fc-gone-2', 'fc-gone-3', 'fc-gone-4']);
    await shot(page, '2-connections-filtered');
    // Search by a piece of the externalId, and by reason.
    await page.goto(`${d.baseUrl}/console/connections?q=ACTIVE-2`);
    expect((await page.locator('#connections tbody tr td:first-child').allTextContents()).sort()).toEqual([
      'acme-active-2',
      'fc-active-2',
    ]);
    await page.goto(`${d.baseUrl}/console/connections?reason=expired`);
    expect(await page.locator('#connections tbody tr td:first-child').allTextContents()).toEqual([
      'acme-<b>bold</b>&"q"',
    ]);
    expect(await page.locator('#connections b').count()).toBe(0);
    await ctx.close();
  });

  it('a needs_reauth connection reads its diagnosis in the words of `ops why`; a read key sees no reconnect button', async () => {
    const ctx = await browser.newContext({ storageState: join(SHOTS, '.read-session.json') });
    const page = await ctx.newPage();
    await page.goto(`${d.baseUrl}/console/connections?status=needs_reauth&provider=fakecloud`);
    await page.click('#connections a:text-is("fc-gone-1")');
    await page.waitForLoadState();
    expect(new URL(page.url()).pathname).toBe(`/console/connections/${ids['fc-dead-1']}`);
    // The same words as `ops why` on the same daemon.
    const out: string[] = [];
    const io = { out: (l: string) => out.push(l), err: () => undefined, tty: false };
    await runCli(['why', ids['fc-dead-1'], '--json'], io, (json) => createOpsContext(d.config, io, json, d.daemon));
    const cli = JSON.parse(out.join('\n')).diagnosis;
    expect(cli.code).toBe('revoked');
    expect(await text(page, '#diag')).toBe(`Diagnosis: ${cli.headline}.`.replace(/\s+/g, ' '));
    expect(await text(page, '#next-step')).toBe(`Next step: ${cli.nextStep}`.replace(/\s+/g, ' '));
    expect(await page.textContent('#diagnosis')).toMatch(/needs a key with token access/);
    expect(await page.locator('form[action$="/reconnect"]').count()).toBe(0);
    expect(await page.locator('#attempts tbody tr').count()).toBe(2);
    await expect(page.textContent('#attempts')).resolves.toMatch(/invalid_grant/);
    await shot(page, '3-connection-needs-reauth');
    const body = await page.content();
    for (const t of [...issuedTokens, 'console-secret-never-shown']) expect(body).not.toContain(t);
    // A reconnect POST with a read key is refused.
    const res = await page.request.post(`${d.baseUrl}/console/connections/${ids['fc-dead-1']}/reconnect`, {
      maxRedirects: 0,
    });
    expect(res.status()).toBe(403);
    await ctx.close();
  });

  it('a token key gets the reconnect button: a form POST that creates a reconnect session and shows its link', async () => {
    const ctx = await newProfile(browser);
    const page = await ctx.newPage();
    expect(await signIn(page, TEST_API_KEY)).toBe(303);
    await page.goto(`${d.baseUrl}/console/connections/${ids['fc-dead-2']}`);
    await page.click('form[action$="/reconnect"] button');
    await page.waitForLoadState();
    const link = (await page.textContent('#reconnect-link'))!.trim();
    expect(link).toMatch(new RegExp(`^${d.config.publicUrl}/connect/[A-Za-z0-9_-]{43}$`));
    const s = await db.connectSession.findFirstOrThrow({
      where: { connectionId: ids['fc-dead-2'] },
      orderBy: { createdAt: 'desc' },
    });
    expect(s).toMatchObject({
      provider: 'fakecloud',
      externalId: 'fc-gone-2',
      status: 'pending',
      returnUrl: 'http://127.0.0.1:1/app',
    });
    await shot(page, '4-reconnect-link');
    // Sign out: the cookie is gone and the pages are closed again.
    await page.click('header button');
    await page.waitForLoadState();
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    await page.goto(`${d.baseUrl}/console`);
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    await ctx.close();
  });

  it('headers: a strict CSP, no caching, no framing; pages work without JavaScript', async () => {
    const ctx = await browser.newContext({ storageState: join(SHOTS, '.read-session.json'), javaScriptEnabled: false });
    const page = await ctx.newPage();
    const res = (await page.goto(`${d.baseUrl}/console/connections?status=needs_reauth`))!;
    const h = res.headers();
    expect(h['content-security-policy']).toBe(
      "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    expect(h['cache-control']).toBe('no-store');
    expect(h['x-frame-options']).toBe('DENY');
    expect(await text(page, '#result-count')).toBe('1-5 of 5 connections');
    expect(await page.locator('script').count()).toBe(0);
    // The provider card shows an outage hold from PostgreSQL (shared by every process), no script needed.
    const since = new Date('2026-01-10T12:00:00.000Z');
    const hold = {
      holdState: 'probing',
      holdSince: since,
      holdNextProbeAt: new Date(since.getTime() + 3000),
      holdProbes: 4,
    };
    await db.providerState.upsert({ where: { provider: 'acme' }, create: { provider: 'acme', ...hold }, update: hold });
    try {
      await page.goto(`${d.baseUrl}/console`);
      expect(await page.locator('[data-provider=acme]').textContent()).toMatch(
        /Outage hold: probing\s+since 2026-01-10T12:00:00.000Z · 4 probe\(s\) sent · next probe 2026-01-10T12:00:03.000Z/,
      );
    } finally {
      await db.providerState.update({ where: { provider: 'acme' }, data: { holdState: 'closed', holdProbes: 0 } });
    }
    await ctx.close();
  });

  it('accessibility: axe-core finds no serious or critical violation on any page', async () => {
    const ctx = await browser.newContext({ storageState: join(SHOTS, '.read-session.json') });
    const page = await ctx.newPage();
    const pages = [
      '/console',
      '/console/connections',
      `/console/connections?status=needs_reauth`,
      `/console/connections/${ids['fc-dead-1']}`,
      `/console/connections/${ids['fc-1']}`,
    ];
    for (const p of pages) {
      await page.goto(`${d.baseUrl}${p}`);
      const bad = (await axe(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
      expect(bad, p).toEqual([]);
    }
    const anon = await newProfile(browser);
    const signin = await anon.newPage();
    await signin.goto(`${d.baseUrl}/console/sign-in`);
    expect((await axe(signin)).filter((v) => v.impact === 'serious' || v.impact === 'critical')).toEqual([]);
    await anon.close();
    await ctx.close();
  });
});

describe('web console over plain HTTP', () => {
  const post = (headers: Record<string, string>) =>
    fetch(`${d.baseUrl}/console/sign-in`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams({ key: TEST_READ_KEY }).toString(),
    });

  it('a sign-in POST from another site is refused even with a right key; a same-site one gets the cookie', async () => {
    const refused: Record<string, string>[] = [
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { origin: 'http://evil.example' },
      { origin: 'null' },
    ];
    for (const h of refused) {
      const r = await post(h);
      expect(r.status, JSON.stringify(h)).toBe(403);
      expect(r.headers.get('set-cookie')).toBeNull();
    }
    const ok = await post({ 'sec-fetch-site': 'same-origin' });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('set-cookie')).toMatch(
      /^ort_console=\d+\.[A-Za-z0-9_-]{43}; Path=\/console; Max-Age=43200; HttpOnly; SameSite=Lax$/,
    );
  });

  it('CONSOLE_ENABLED=false: no console routes', async () => {
    const off = await startDaemon({ ROLES: 'api', CONSOLE_ENABLED: 'false', PROVIDERS_FILE: writeProvidersFile({}) });
    try {
      expect((await fetch(`${off.baseUrl}/console/sign-in`)).status).toBe(404);
      expect((await fetch(`${off.baseUrl}/console`)).status).toBe(404);
    } finally {
      await off.stop();
    }
  });
});
