// Shared setup for the connect flow tests: a fake provider with its authorization server, the app
// (a return page on 127.0.0.1), a daemon whose PUBLIC_URL is its own address, and a real browser.
import { createServer as createNetServer } from 'node:net';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { expect } from 'vitest';
import type { DaemonExtension } from '../../worker/interfaces.ts';
import type { FakeProvider } from '../fakes/fake-provider.ts';
import { startDaemon, type TestDaemon } from '../helpers/harness.ts';
export { launchBrowser, newProfile } from '../helpers/browser.ts';

export async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** The app's return page: records every URL the daemon sent the browser back to. */
export class ReturnApp {
  readonly hits: URL[] = [];
  private server?: Server;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.hits.push(new URL(req.url ?? '/', `http://127.0.0.1:${this.port}`));
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<h1 id="back">Back in the app</h1>');
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as AddressInfo).port;
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get returnUrl(): string {
    return `${this.base}/app/connected`;
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

export function providerEntry(fake: FakeProvider, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    tokenUrl: fake.tokenUrl,
    authorizeUrl: fake.authorization.authorizeUrl,
    revocationUrl: fake.authorization.revocationUrl,
    clientAuth: 'basic',
    clientId: fake.clientId,
    clientSecret: fake.clientSecret,
    rotation: 'always',
    refreshLeadSec: 1,
    scopes: ['read'],
    requiredScopes: ['offline_access'],
    displayName: 'Fake Cloud',
    ...extra,
  };
}

export async function startConnectDaemon(
  env: Record<string, string>,
  app: ReturnApp,
  extensions: DaemonExtension[] = [],
): Promise<TestDaemon> {
  const port = await freePort();
  return startDaemon(
    { PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}`, CONNECT_RETURN_URLS: `${app.base}/app`, ...env },
    { extensions },
  );
}

export interface CreatedSession {
  id: string;
  url: string;
  expiresAt: string;
  mode: string;
  connectionId?: string;
}

export async function newSession(d: TestDaemon, body: Record<string, unknown>): Promise<CreatedSession> {
  const r = await d.api('POST', '/v1/connect-sessions', body);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body as CreatedSession;
}

/** Opens the connect link and stops on the provider's consent page. */
export async function openConsent(ctx: BrowserContext, url: string): Promise<Page> {
  const page = await ctx.newPage();
  const res = await page.goto(url);
  expect(res?.status()).toBe(200);
  await page.waitForSelector('#allow');
  return page;
}

/** Clicks Allow or Deny and waits for the page the browser ends on once it left the provider. */
async function decide(
  page: Page,
  fake: FakeProvider,
  decision: 'allow' | 'deny',
  user = 'user-1',
): Promise<{ url: URL; status: number }> {
  await page.fill('#user', user);
  const settled = page.waitForResponse(
    (r) => !r.url().startsWith(fake.url) && r.request().isNavigationRequest() && r.status() !== 302,
  );
  await page.click(`#${decision}`);
  const res = await settled;
  await page.waitForLoadState();
  return { url: new URL(page.url()), status: res.status() };
}

/** The whole flow in one browser profile. */
export async function connectInBrowser(
  ctx: BrowserContext,
  fake: FakeProvider,
  url: string,
  decision: 'allow' | 'deny' = 'allow',
  user = 'user-1',
) {
  const page = await openConsent(ctx, url);
  const out = await decide(page, fake, decision, user);
  return { ...out, page };
}

export type { Browser, BrowserContext };
