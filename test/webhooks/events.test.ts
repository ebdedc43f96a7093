// Webhook events end to end: real refreshes against fake providers cause state transitions; each
// transition writes one event in its transaction; the dispatcher delivers all of them, signed, to a
// receiver that fails at first and is down for a while.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../worker/config/env.ts';
import { createDb, type Db } from '../../worker/store/db.ts';
import { webhookExtension } from '../../worker/webhooks/dispatcher.ts';
import { FakeProvider } from '../fakes/fake-provider.ts';
import { sleep, startDaemon, testEnv, waitFor, writeProvidersFile, type TestDaemon } from '../helpers/harness.ts';
import { isolatedDatabase } from '../security/support.ts';
import { WebhookReceiver } from './receiver.ts';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const fakeA = new FakeProvider({ rotation: 'always', accessTtlSeconds: 30 });
const fakeB = new FakeProvider({ rotation: 'always', accessTtlSeconds: 30 });
const receiver = new WebhookReceiver(SECRET);
let iso: { url: string; drop: () => Promise<void> };
let db: Db;
let d: TestDaemon;

async function register(provider: string, fake: FakeProvider, externalId: string, expiresIn: number) {
  const g = fake.issueGrant();
  const res = await d.api('POST', '/v1/connections', {
    provider,
    externalId,
    tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: expiresIn },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.id as string, grantId: g.grantId };
}

const eventsOf = (connectionId: string) =>
  db.outboxEvent.findMany({ where: { connectionId }, orderBy: { createdAt: 'asc' } });

beforeAll(async () => {
  iso = await isolatedDatabase('whevents');
  db = createDb(iso.url, { poolSize: 4 });
  await Promise.all([fakeA.start(), fakeB.start(), receiver.start()]);
  const providersFile = writeProvidersFile({
    wha: {
      tokenUrl: fakeA.tokenUrl,
      clientAuth: 'basic',
      clientId: 'client-id',
      clientSecret: 'client-secret',
      rotation: 'always',
      refreshLeadSec: 1,
    },
    whb: {
      tokenUrl: fakeB.tokenUrl,
      clientAuth: 'basic',
      clientId: 'client-id',
      clientSecret: 'client-secret',
      rotation: 'always',
      refreshLeadSec: 1,
    },
  });
  const env = testEnv({
    DATABASE_URL: iso.url,
    PROVIDERS_FILE: providersFile,
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET: SECRET,
    WEBHOOK_DISPATCH_INTERVAL_MS: '100',
  });
  const ext = webhookExtension(loadConfig(env), { retryBaseMs: 200, retryMaxMs: 1000, timeoutMs: 2000 })!;
  expect(ext).not.toBeNull();
  receiver.failFirst(3, 502);
  d = await startDaemon(env, { extensions: [ext] });
});

afterAll(async () => {
  await d?.stop();
  await Promise.all([fakeA.close(), fakeB.close(), receiver.close()]);
  await db?.$disconnect();
  await iso?.drop();
});

describe('webhook events from state transitions', () => {
  it('needs_reauth, refresh_failing and recovered are each sent once per transition, and all arrive signed despite failures and downtime', async () => {
    // A: the user revokes the grant -> needs_reauth (with reason and the provider's error code).
    const a = await register('wha', fakeA, 'user-a', 2);
    fakeA.revokeGrant(a.grantId);
    await waitFor(
      async () => (await db.connection.findUnique({ where: { id: a.id } }))?.status === 'needs_reauth',
      20_000,
      'A needs_reauth',
    );

    // The receiver goes down for a while.
    await receiver.down();

    // B: the provider fails (503) while B's access token has expired -> one refresh_failing for the streak.
    const b = await register('whb', fakeB, 'user-b', 2);
    // C: the same failures while C's access token is still valid -> no event.
    const c = await register('whb', fakeB, 'user-c', 600);
    fakeB.setFaults({ status: 503 });
    const forced = await d.api('POST', `/v1/connections/${c.id}/refresh`);
    expect(forced.body.outcome).toBe('transient');
    await waitFor(
      async () => (await db.refreshAttempt.count({ where: { connectionId: b.id, outcome: 'transient' } })) >= 5,
      30_000,
      'B failing repeatedly',
    );
    expect((await eventsOf(b.id)).map((e) => e.type)).toEqual(['connection.refresh_failing']);
    await receiver.up();
    fakeB.clearFaults();
    await waitFor(async () => (await eventsOf(b.id)).length === 2, 20_000, 'B recovered');

    // A: the app stores a new token set after the user reconnects -> recovered.
    const g2 = fakeA.issueGrant();
    const put = await d.api('PUT', `/v1/connections/${a.id}/tokens`, {
      access_token: g2.accessToken,
      refresh_token: g2.refreshToken,
      expires_in: 600,
    });
    expect(put.status).toBe(200);
    // Replacing tokens of an active connection is not a transition: no second recovered event.
    const g3 = fakeA.issueGrant();
    expect(
      (
        await d.api('PUT', `/v1/connections/${a.id}/tokens`, {
          access_token: g3.accessToken,
          refresh_token: g3.refreshToken,
          expires_in: 600,
        })
      ).status,
    ).toBe(200);

    await waitFor(
      async () =>
        (await db.outboxEvent.count({ where: { deliveredAt: null } })) === 0 && (await db.outboxEvent.count()) >= 4,
      40_000,
      'every event delivered',
    );
    await sleep(500);

    const all = await db.outboxEvent.findMany({ orderBy: { createdAt: 'asc' } });
    expect((await eventsOf(a.id)).map((e) => e.type)).toEqual(['connection.needs_reauth', 'connection.recovered']);
    expect((await eventsOf(b.id)).map((e) => e.type)).toEqual(['connection.refresh_failing', 'connection.recovered']);
    expect(await eventsOf(c.id)).toEqual([]);

    // Delivered: every event, at least once, each copy verifiable; the receiver saw failures and retries.
    expect(receiver.deliveredIds()).toEqual(new Set(all.map((e) => e.id)));
    expect(receiver.requests.every((r) => r.verified)).toBe(true);
    expect(receiver.requests.some((r) => r.status === 502)).toBe(true);
    for (const e of all)
      expect(new Set(receiver.requests.filter((r) => r.id === e.id).map((r) => r.body)).size).toBe(1);

    const body = (id: string) => JSON.parse(receiver.requests.find((r) => r.id === id)!.body);
    const [reauth, recoveredA] = await eventsOf(a.id);
    expect(body(reauth.id)).toMatchObject({
      type: 'connection.needs_reauth',
      timestamp: reauth.createdAt.toISOString(),
      data: {
        connectionId: a.id,
        provider: 'wha',
        externalId: 'user-a',
        reason: 'revoked',
        errorCode: 'invalid_grant',
      },
    });
    expect(body(recoveredA.id).data).toMatchObject({ connectionId: a.id, externalId: 'user-a', after: 'reconnect' });
    const [failing, recoveredB] = await eventsOf(b.id);
    expect(body(failing.id).data).toMatchObject({
      connectionId: b.id,
      externalId: 'user-b',
      errorCode: 'temporarily_unavailable',
    });
    expect(body(recoveredB.id).data).toMatchObject({ connectionId: b.id, after: 'refresh_failures' });
    // Per connection, the receiver got them in the order they happened.
    const firsts = receiver.firstDeliveries().map((r) => r.id);
    expect(firsts.indexOf(reauth.id)).toBeLessThan(firsts.indexOf(recoveredA.id));
    expect(firsts.indexOf(failing.id)).toBeLessThan(firsts.indexOf(recoveredB.id));

    // No token ever travels in a webhook.
    const tokens = [...fakeA.ledger().grants, ...fakeB.ledger().grants].flatMap((g) => g.issued);
    const wire = receiver.requests.map((r) => r.body).join('\n');
    expect(tokens.length).toBeGreaterThan(5);
    for (const t of tokens) expect(wire).not.toContain(t);
  });
});
