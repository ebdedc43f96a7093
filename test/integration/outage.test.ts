// With PostgreSQL unreachable the API answers 503 with Retry-After (never 500), and recovers after.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeProvider } from '../fakes/fake-provider.ts';
import { TcpProxy } from '../chaos/tcp-proxy.ts';
import { databaseUrl, startDaemon, waitFor, writeProvidersFile, type TestDaemon } from '../helpers/harness.ts';

const fake = new FakeProvider({ persona: 'standard', rotation: 'always', accessTtlSeconds: 3600 });
const proxy = new TcpProxy('127.0.0.1', Number(new URL(databaseUrl()).port || 5432));
let d: TestDaemon;

beforeAll(async () => {
  await Promise.all([fake.start(), proxy.start()]);
  const viaProxy = new URL(databaseUrl());
  viaProxy.port = String(proxy.port);
  d = await startDaemon({
    DATABASE_URL: viaProxy.toString(),
    PROVIDERS_FILE: writeProvidersFile({
      outage: { tokenUrl: fake.tokenUrl, clientId: 'client-id', clientSecret: 'client-secret', rotation: 'always' },
    }),
  });
});
afterAll(async () => {
  proxy.unblock();
  await d?.stop();
  await Promise.all([fake.close(), proxy.close()]);
});

describe('PostgreSQL outage', () => {
  it('answers 503 with Retry-After while the database is unreachable, then serves again', async () => {
    const g = fake.issueGrant();
    const created = await d.api('POST', '/v1/connections', {
      provider: 'outage',
      externalId: 'o-1',
      tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: 3600 },
    });
    expect(created.status).toBe(201);
    proxy.block();
    const during = await d.api('GET', `/v1/connections/${created.body.id}/token`);
    expect(during.status).toBe(503);
    expect(during.headers.get('retry-after')).toBeTruthy();
    expect(during.body.error).toBe('unavailable');
    const ready = await fetch(`${d.baseUrl}/readyz`);
    expect(ready.status).toBe(503);
    proxy.unblock();
    const after = await waitFor(
      async () => {
        const r = await d.api('GET', `/v1/connections/${created.body.id}/token`);
        return r.status === 200 ? r : null;
      },
      30_000,
      'token served after the outage',
      500,
    );
    expect(after.body.access_token).toBe(g.accessToken);
  });
});
