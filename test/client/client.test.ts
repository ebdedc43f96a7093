// The client against a real daemon and a fake provider over HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeProvider } from '../fakes/fake-provider.ts';
import { startDaemon, writeProvidersFile, TEST_API_KEY, type TestDaemon } from '../helpers/harness.ts';
import { NeedsReauthError, OAuthRefresher, ProviderUnavailableError, verifyWebhook } from '../../client/src/index.ts';
import { deliveryHeaders, newWebhookSecret, signingKeys } from '../../worker/webhooks/signing.ts';

const fake = new FakeProvider({ persona: 'standard', rotation: 'always', accessTtlSeconds: 3600 });
let d: TestDaemon;
let requests = 0;
let client: OAuthRefresher;

beforeAll(async () => {
  await fake.start();
  d = await startDaemon({
    PROVIDERS_FILE: writeProvidersFile({
      cl: { tokenUrl: fake.tokenUrl, clientId: 'client-id', clientSecret: 'client-secret', rotation: 'always' },
    }),
  });
  const counting: typeof fetch = (input, init) => {
    requests++;
    return fetch(input, init);
  };
  client = new OAuthRefresher({ baseUrl: d.baseUrl, apiKey: TEST_API_KEY, fetch: counting });
});
afterAll(async () => {
  await d?.stop();
  await fake.close();
});

async function register(externalId: string, expiresIn = 3600) {
  const g = fake.issueGrant();
  const c = await client.createConnection({
    provider: 'cl',
    externalId,
    tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: expiresIn },
  });
  return { id: c.id, grant: g };
}

describe('oauth-refresher-client', () => {
  it('100 concurrent getToken calls on a cold cache make one HTTP request, then none', async () => {
    const { id, grant } = await register(`coalesce-${Date.now()}`);
    const before = requests;
    const tokens = await Promise.all(Array.from({ length: 100 }, () => client.getToken(id, { minValidSeconds: 60 })));
    expect(requests - before).toBe(1);
    expect(new Set(tokens.map((t) => t.accessToken))).toEqual(new Set([grant.accessToken]));
    await client.getToken(id, { minValidSeconds: 60 });
    expect(requests - before).toBe(1);
  });

  it('a revoked connection throws NeedsReauthError with the reason', async () => {
    const { id, grant } = await register(`revoked-${Date.now()}`, 30);
    fake.revokeGrant(grant.grantId);
    const err = await client.getToken(id, { minValidSeconds: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NeedsReauthError);
    expect((err as NeedsReauthError).reason).toBe('revoked');
  });

  it('a provider outage surfaces retryAfterSeconds', async () => {
    const { id } = await register(`outage-${Date.now()}`, 30);
    fake.setFaults({ status: 503 });
    try {
      const err = await client.getToken(id, { minValidSeconds: 300 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProviderUnavailableError);
      expect((err as ProviderUnavailableError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    } finally {
      fake.clearFaults();
    }
  });

  it('replaceTokens brings a needs_reauth connection back with the new tokens, uncached', async () => {
    const { id, grant } = await register(`replace-${Date.now()}`, 30);
    fake.revokeGrant(grant.grantId);
    await expect(client.getToken(id, { minValidSeconds: 300 })).rejects.toBeInstanceOf(NeedsReauthError);
    const g = fake.issueGrant();
    const c = await client.replaceTokens(
      id,
      { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: 3600 },
      { team: 't-1' },
    );
    expect(c).toMatchObject({ id, status: 'active', metadata: { team: 't-1' } });
    expect((await client.getToken(id, { minValidSeconds: 60 })).accessToken).toBe(g.accessToken);
    const bad = await client.replaceTokens(id, { access_token: 'a' } as never).catch((e: unknown) => e);
    expect(bad).toMatchObject({ status: 400, field: 'tokens.refresh_token' });
  });

  it('listConnections follows the cursor over several pages', async () => {
    const prefix = `page-${Date.now()}`;
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await register(`${prefix}-${i}`)).id);
    const seen: string[] = [];
    const before = requests;
    for await (const c of client.listConnections({ provider: 'cl', limit: 2 })) seen.push(c.id);
    expect(requests - before).toBeGreaterThanOrEqual(3);
    for (const id of ids) expect(seen).toContain(id);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('verifyWebhook accepts a signed delivery and rejects a tampered one', () => {
    const secret = newWebhookSecret();
    const body = JSON.stringify({
      type: 'connection.needs_reauth',
      timestamp: new Date().toISOString(),
      data: { connectionId: 'c', provider: 'cl', externalId: 'x', reason: 'revoked' },
    });
    const headers = deliveryHeaders(signingKeys(secret), 'evt_1', body, Date.now());
    const ev = verifyWebhook(body, headers, secret);
    expect(ev.type).toBe('connection.needs_reauth');
    expect(ev.id).toBe('evt_1');
    expect(() => verifyWebhook(body.replace('revoked', 'expired'), headers, secret)).toThrow();
  });
});
