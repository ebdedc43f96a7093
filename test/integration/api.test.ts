// The /v1 contract: shapes, validation, scopes, re-authorization, removal, and the two lost races.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeProvider } from '../fakes/fake-provider.ts';
import {
  startDaemon,
  testDb,
  waitFor,
  writeProvidersFile,
  TEST_READ_KEY,
  type TestDaemon,
} from '../helpers/harness.ts';

const fake = new FakeProvider({
  persona: 'standard',
  rotation: 'always',
  reuseDetection: true,
  accessTtlSeconds: 3600,
});
const db = testDb();
let d: TestDaemon;

async function register(externalId: string, expiresIn = 3600) {
  const g = fake.issueGrant();
  const res = await d.api('POST', '/v1/connections', {
    provider: 'api',
    externalId,
    tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: expiresIn },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.id as string, grant: g };
}

beforeAll(async () => {
  await fake.start();
  d = await startDaemon({
    PROVIDERS_FILE: writeProvidersFile({
      api: {
        tokenUrl: fake.tokenUrl,
        clientAuth: 'basic',
        clientId: 'client-id',
        clientSecret: 'client-secret',
        rotation: 'always',
        refreshLeadSec: 1,
      },
    }),
  });
});
afterAll(async () => {
  await d?.stop();
  await fake.close();
  await db.$disconnect();
});

describe('POST /v1/connections', () => {
  it('creates and returns the schedule, never a token', async () => {
    const { id, grant } = await register('create-1');
    const got = await d.api('GET', `/v1/connections/${id}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id, provider: 'api', externalId: 'create-1', status: 'active' });
    expect(got.body.expiresAt).toBeTruthy();
    expect(got.body.nextRefreshAt).toBeTruthy();
    expect(JSON.stringify(got.body)).not.toContain(grant.refreshToken);
    expect(JSON.stringify(got.body)).not.toContain(grant.accessToken);
  });
  it.each([
    [{ externalId: 'x', tokens: { access_token: 'a', refresh_token: 'r' } }, 'provider'],
    [{ provider: 'nope', externalId: 'x', tokens: { access_token: 'a', refresh_token: 'r' } }, 'provider'],
    [{ provider: 'api', tokens: { access_token: 'a', refresh_token: 'r' } }, 'externalId'],
    [{ provider: 'api', externalId: 'x' }, 'tokens'],
    [{ provider: 'api', externalId: 'x', tokens: { access_token: 'a' } }, 'tokens.refresh_token'],
    [{ provider: 'api', externalId: 'x', tokens: { refresh_token: 'r' } }, 'tokens.access_token'],
    [
      { provider: 'api', externalId: 'x', tokens: { access_token: 'a', refresh_token: 'r', expires_in: -5 } },
      'tokens.expires_in',
    ],
    [
      { provider: 'api', externalId: 'x', tokens: { access_token: 'a', refresh_token: 'r' }, metadata: 'str' },
      'metadata',
    ],
    ['{"provider": "api", ', 'body'],
    [[1, 2], 'body'],
  ])('400 naming the field: %j', async (body, field) => {
    const before = await db.connection.count();
    const res = await d.api('POST', '/v1/connections', body);
    expect(res.status).toBe(400);
    expect(res.body.field).toBe(field);
    expect(await db.connection.count()).toBe(before);
  });
  it('409 on a duplicate externalId, with the existing id', async () => {
    const { id } = await register('dup-1');
    const res = await d.api('POST', '/v1/connections', {
      provider: 'api',
      externalId: 'dup-1',
      tokens: { access_token: 'a', refresh_token: 'r' },
    });
    expect(res.status).toBe(409);
    expect(res.body.id).toBe(id);
  });
});

describe('auth', () => {
  it('401 without or with a wrong key, 403 for a read key on /token, read key can read', async () => {
    const { id } = await register('auth-1');
    expect((await d.api('GET', `/v1/connections/${id}`, undefined, 'wrong-key-wrong-key-wrong')).status).toBe(401);
    const noAuth = await fetch(`${d.baseUrl}/v1/connections/${id}`);
    expect(noAuth.status).toBe(401);
    expect((await d.api('GET', `/v1/connections/${id}`, undefined, TEST_READ_KEY)).status).toBe(200);
    const forbidden = await d.api('GET', `/v1/connections/${id}/token`, undefined, TEST_READ_KEY);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toEqual({ error: 'forbidden' });
    expect((await fetch(`${d.baseUrl}/healthz`)).status).toBe(200);
    const ready = await fetch(`${d.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
  });
});

describe('token, refresh, re-authorization, removal', () => {
  it('GET /token returns the access token without refreshing when valid', async () => {
    const { id, grant } = await register('token-1');
    const calls = fake.stats().refreshRequests;
    const res = await d.api('GET', `/v1/connections/${id}/token`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ access_token: grant.accessToken, refreshed: false });
    expect(fake.stats().refreshRequests).toBe(calls);
    expect((await d.api('GET', `/v1/connections/${id}/token?min_valid_seconds=abc`)).body.field).toBe(
      'min_valid_seconds',
    );
  });
  it('POST /refresh forces a rotation and returns the outcome', async () => {
    const { id, grant } = await register('force-1');
    const res = await d.api('POST', `/v1/connections/${id}/refresh`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ outcome: 'rotated', version: 2 });
    const row = (await db.connection.findUnique({ where: { id } }))!;
    expect(d.daemon.keyring.decrypt(row.refreshTokenEnc)).toBe(fake.currentRefreshToken(grant.grantId));
  });
  it('PUT /tokens after needs_reauth: active again, version+1, schedule resumes, recovered event', async () => {
    const { id, grant } = await register('reauth-1');
    fake.revokeGrant(grant.grantId);
    const r = await d.api('POST', `/v1/connections/${id}/refresh`);
    expect(r.body).toMatchObject({ outcome: 'needs_reauth', reauthReason: 'revoked' });
    const v1 = (await db.connection.findUnique({ where: { id } }))!.version;
    const g2 = fake.issueGrant();
    const put = await d.api('PUT', `/v1/connections/${id}/tokens`, {
      access_token: g2.accessToken,
      refresh_token: g2.refreshToken,
      expires_in: 2,
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ status: 'active', version: v1 + 1 });
    expect(put.body.reauthReason).toBeUndefined();
    await waitFor(
      async () => (await db.connection.findUnique({ where: { id } }))!.version >= v1 + 2,
      20_000,
      'schedule resumed',
    );
    expect(await db.outboxEvent.count({ where: { connectionId: id, type: 'connection.recovered' } })).toBe(1);
    expect((await d.api('PUT', `/v1/connections/${id}/tokens`, { access_token: 'only' })).body.field).toBe(
      'body.refresh_token',
    );
  });
  it('DELETE removes the connection and its job', async () => {
    const { id } = await register('del-1');
    expect((await d.api('DELETE', `/v1/connections/${id}`)).status).toBe(204);
    expect((await d.api('GET', `/v1/connections/${id}`)).status).toBe(404);
    expect((await d.api('DELETE', `/v1/connections/${id}`)).status).toBe(404);
    expect((await d.api('GET', `/v1/connections/not-a-uuid`)).body.field).toBe('id');
  });
});

describe('lost races', () => {
  it('a rotation that lands after the app stored newer tokens is fenced off: the newer token stands', async () => {
    const { id } = await register('race-rotate');
    fake.setFaults({ delayMs: 1000, count: 1 });
    const refreshing = d.api('POST', `/v1/connections/${id}/refresh`);
    await new Promise((r) => setTimeout(r, 300));
    const g2 = fake.issueGrant();
    // The user re-authorized meanwhile: the app stores a new token set.
    expect(
      (
        await d.api('PUT', `/v1/connections/${id}/tokens`, {
          access_token: g2.accessToken,
          refresh_token: g2.refreshToken,
          expires_in: 3600,
        })
      ).status,
    ).toBe(200);
    const out = await refreshing;
    expect(out.body.outcome).toBe('lost_race');
    const row = (await db.connection.findUnique({ where: { id } }))!;
    expect(d.daemon.keyring.decrypt(row.refreshTokenEnc)).toBe(g2.refreshToken);
    expect(row.status).toBe('active');
    const attempt = await db.refreshAttempt.findFirst({ where: { connectionId: id }, orderBy: { startedAt: 'desc' } });
    expect(attempt?.outcome).toBe('lost_race');
  });
  it('invalid_grant for a token that is no longer current marks nothing', async () => {
    const { id, grant } = await register('race-grant');
    fake.setFaults({ delayMs: 1000, count: 1 });
    const refreshing = d.api('POST', `/v1/connections/${id}/refresh`);
    await new Promise((r) => setTimeout(r, 300));
    fake.revokeGrant(grant.grantId);
    const g2 = fake.issueGrant();
    expect(
      (
        await d.api('PUT', `/v1/connections/${id}/tokens`, {
          access_token: g2.accessToken,
          refresh_token: g2.refreshToken,
          expires_in: 3600,
        })
      ).status,
    ).toBe(200);
    const out = await refreshing;
    expect(out.body.outcome).toBe('lost_race');
    const row = (await db.connection.findUnique({ where: { id } }))!;
    expect(row.status).toBe('active');
    expect(row.reauthReason).toBeNull();
    expect(await db.outboxEvent.count({ where: { connectionId: id, type: 'connection.needs_reauth' } })).toBe(0);
  });
});
