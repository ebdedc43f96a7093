// GET .../token answers from each process's token cache: a change made in another process (a
// rotation, a reconnect's new tokens, needs_reauth, a delete) is seen within about a second and
// nothing older is served after it; while the change listener is down the cache is bypassed.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeProvider } from '../fakes/fake-provider.ts';
import {
  databaseUrl,
  startDaemon,
  TEST_API_KEY,
  testDb,
  testEnv,
  waitFor,
  writeProvidersFile,
  type TestDaemon,
} from '../helpers/harness.ts';
import { spawnDaemon, type DaemonProcess } from '../helpers/processes.ts';
import { OnDemand } from '../../worker/refresh/ondemand.ts';
import { TokenCache } from '../../worker/refresh/token-cache.ts';
import { TokenChangeListener } from '../../worker/store/token-notify.ts';

const fake = new FakeProvider({
  persona: 'standard',
  rotation: 'always',
  reuseDetection: true,
  accessTtlSeconds: 3600,
});
const db = testDb();
/** Wide: the change is usually seen within milliseconds; this machine may be very busy. */
const SEEN_WITHIN_MS = 5000;

const call = async (port: number, method: string, path: string, body?: unknown) => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${TEST_API_KEY}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
};

const providers = () =>
  writeProvidersFile({
    cache: {
      tokenUrl: fake.tokenUrl,
      clientAuth: 'basic',
      clientId: 'client-id',
      clientSecret: 'client-secret',
      rotation: 'always',
    },
  });

beforeAll(() => fake.start());
afterAll(async () => {
  await fake.close();
  await db.$disconnect();
});

describe('token cache across two processes', () => {
  let a: DaemonProcess;
  let b: DaemonProcess;

  beforeAll(async () => {
    const env = testEnv({ PROVIDERS_FILE: providers(), LOG_LEVEL: 'warn' });
    [a, b] = await Promise.all([spawnDaemon(env), spawnDaemon(env)]);
  }, 90_000);
  afterAll(() => Promise.all([a?.stop('SIGKILL'), b?.stop('SIGKILL')]));

  const register = async (externalId: string) => {
    const g = fake.issueGrant();
    const res = await call(b.port, 'POST', '/v1/connections', {
      provider: 'cache',
      externalId,
      tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: 3600 },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return { id: res.body.id as string, grant: g };
  };
  const tokenIn = (p: DaemonProcess, id: string) => call(p.port, 'GET', `/v1/connections/${id}/token`);

  /** Reads through A until `ok`; then 20 more reads must all still be `ok` (nothing older comes back). */
  async function seenByA(id: string, ok: (r: { status: number; body: any }) => boolean) {
    const t0 = Date.now();
    await waitFor(async () => ok(await tokenIn(a, id)), SEEN_WITHIN_MS, 'process A to see the change', 20);
    const ms = Date.now() - t0;
    for (let i = 0; i < 20; i++) expect(ok(await tokenIn(a, id))).toBe(true);
    return ms;
  }

  it('sees a rotation and new tokens from process B, and keeps answering from its cache between changes', async () => {
    const c = await register('rotate');
    const first = await tokenIn(a, c.id);
    expect(first.body.access_token).toBe(c.grant.accessToken);
    // A forced rotation in B: A must answer with B's new token, never the old one again.
    const r = await call(b.port, 'POST', `/v1/connections/${c.id}/refresh`);
    expect(r.body.outcome, JSON.stringify(r.body)).toBe('rotated');
    const rotated = (await tokenIn(b, c.id)).body.access_token as string;
    expect(rotated).not.toBe(c.grant.accessToken);
    await seenByA(c.id, (x) => x.body?.access_token === rotated);
    // A reconnect's tokens (PUT .../tokens) in B.
    const g = fake.issueGrant();
    const put = await call(b.port, 'PUT', `/v1/connections/${c.id}/tokens`, {
      tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: 3600 },
    });
    expect(put.status).toBe(200);
    await seenByA(c.id, (x) => x.body?.access_token === g.accessToken);
  });

  it('stops serving a connection that B marked needs_reauth or deleted', async () => {
    const revoked = await register('revoked');
    const deleted = await register('deleted');
    for (const c of [revoked, deleted]) expect((await tokenIn(a, c.id)).status).toBe(200);
    fake.revokeGrant(revoked.grant.grantId);
    const r = await call(b.port, 'POST', `/v1/connections/${revoked.id}/refresh`);
    expect(r.body.outcome).toBe('needs_reauth');
    await seenByA(revoked.id, (x) => x.status === 409 && x.body.status === 'needs_reauth');
    expect((await call(b.port, 'DELETE', `/v1/connections/${deleted.id}`)).status).toBe(204);
    await seenByA(deleted.id, (x) => x.status === 404);
  });
});

/** A TCP relay to PostgreSQL that can be cut: the listener's connection goes through it. */
class Relay {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;

  async up(): Promise<void> {
    const target = new URL(databaseUrl());
    const s = createServer((client) => {
      const upstream = connect(Number(target.port || 5432), target.hostname);
      for (const x of [client, upstream]) {
        this.sockets.add(x);
        x.on('error', () => undefined);
        x.on('close', () => {
          this.sockets.delete(x);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => s.listen(this.port, '127.0.0.1', () => r()));
    this.port = (s.address() as { port: number }).port;
    this.server = s;
  }

  /** Refuses new connections and cuts the open ones. */
  async down(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const x of this.sockets) x.destroy();
    await new Promise((r) => s?.close(r));
  }

  url(): string {
    const u = new URL(databaseUrl());
    u.host = `127.0.0.1:${this.port}`;
    return u.toString();
  }
}

describe('token cache while the change listener is down', () => {
  let d: TestDaemon;
  const relay = new Relay();
  const cache = new TokenCache({ maxEntries: 100, maxAgeMs: 60_000 });
  let listener: TokenChangeListener;
  let od: OnDemand;

  beforeAll(async () => {
    d = await startDaemon({ PROVIDERS_FILE: providers(), ROLES: 'api' });
    await relay.up();
    // This process's parts, with a cache whose listener connects through the relay.
    listener = new TokenChangeListener({
      databaseUrl: relay.url(),
      onChange: (id) => cache.forget(id),
      onLive: (live) => cache.setLive(live),
      retryMs: 100,
      heartbeatMs: 1000,
    });
    od = new OnDemand(d.daemon.store, d.daemon.refresher, d.daemon.keyring, { waitMs: 5000, cache });
    await listener.start();
  }, 60_000);
  afterAll(async () => {
    await listener?.stop();
    await relay.down().catch(() => undefined);
    await d?.stop();
  });

  it('goes to the database for every read until the listener is back, then caches again', async () => {
    const g = fake.issueGrant();
    const res = await d.api('POST', '/v1/connections', {
      provider: 'cache',
      externalId: 'listener-down',
      tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: 3600 },
    });
    const id = res.body.id as string;
    expect(cache.isLive).toBe(true);
    expect(await od.token(id, 60_000)).toMatchObject({ kind: 'token', accessToken: g.accessToken });
    expect(cache.size).toBe(1);

    await relay.down();
    await waitFor(() => !cache.isLive, SEEN_WITHIN_MS, 'the listener to notice the loss', 10);
    // A change nobody hears (its notification goes to a listener that is not there).
    await db.$executeRaw`UPDATE "Connection" SET "status" = 'needs_reauth', "reauthReason" = 'revoked' WHERE "id" = ${id}::uuid`;
    expect(await od.token(id, 60_000)).toMatchObject({ kind: 'needs_reauth', reauthReason: 'revoked' });
    await db.$executeRaw`UPDATE "Connection" SET "status" = 'active', "reauthReason" = NULL WHERE "id" = ${id}::uuid`;
    expect(await od.token(id, 60_000)).toMatchObject({ kind: 'token' });
    expect(cache.size).toBe(0);

    await relay.up();
    await waitFor(() => cache.isLive, SEEN_WITHIN_MS, 'the listener to reconnect', 10);
    expect(await od.token(id, 60_000)).toMatchObject({ kind: 'token', accessToken: g.accessToken });
    expect(cache.size).toBe(1);
    // And live again: a change is heard.
    await db.$executeRaw`UPDATE "Connection" SET "status" = 'needs_reauth', "reauthReason" = 'revoked' WHERE "id" = ${id}::uuid`;
    await waitFor(async () => (await od.token(id, 60_000)).kind === 'needs_reauth', SEEN_WITHIN_MS, 'the change', 10);
  });
});
