// When Redis loses a refresh lock while the request is out (FLUSHALL, a restart without persistence),
// a second process can take the connection. The write-ahead row in PostgreSQL is the guard that
// still holds: the second process must not present the same single-use refresh token. Two daemons
// on different queue prefixes never see each other's Redis lock, exactly like after a wipe.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeProvider } from '../fakes/fake-provider.ts';
import { startDaemon, testDb, waitFor, writeProvidersFile, type TestDaemon } from '../helpers/harness.ts';

const fake = new FakeProvider({
  persona: 'standard',
  rotation: 'always',
  reuseDetection: true,
  accessTtlSeconds: 3600,
});
let a: TestDaemon;
let b: TestDaemon;
const db = testDb();

beforeAll(async () => {
  await fake.start();
  const providersFile = writeProvidersFile({
    acme: {
      tokenUrl: fake.tokenUrl,
      clientAuth: 'basic',
      clientId: 'client-id',
      clientSecret: 'client-secret',
      rotation: 'always',
    },
  });
  a = await startDaemon({ PROVIDERS_FILE: providersFile });
  b = await startDaemon({ PROVIDERS_FILE: providersFile });
  expect(a.config.queuePrefix).not.toBe(b.config.queuePrefix);
});

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await fake.close();
  await db.$disconnect();
});

describe('lock lost in Redis while a refresh is in flight', () => {
  it('a second process does not present the refresh token the first one is using', async () => {
    const g = fake.issueGrant();
    const reg = await a.api('POST', '/v1/connections', {
      provider: 'acme',
      externalId: 'lock-loss-1',
      tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: 3600 },
    });
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    const id = reg.body.id as string;

    // The provider rotates at once but answers 5 s later: process A's request is out (long enough
    // for B's request to arrive while it is, even on a loaded machine).
    fake.setFaults({ delayAfterRotateMs: 5000, count: 1 });
    const first = a.api('POST', `/v1/connections/${id}/refresh`);
    await waitFor(
      async () => (await db.refreshAttempt.count({ where: { connectionId: id, finishedAt: null } })) === 1,
      5000,
      'A in flight',
    );

    // Process B cannot see A's Redis lock; it must stand back and then report what A stored.
    const second = await b.api('POST', `/v1/connections/${id}/refresh`);
    const firstRes = await first;
    expect(firstRes.body.outcome).toBe('rotated');
    expect(second.body.outcome).toBe('lost_race');

    expect(fake.stats().perGrant[g.grantId]?.refreshes).toBe(1);
    expect(fake.stats().reuseEvents).toBe(0);
    const row = (await db.connection.findUnique({ where: { id } }))!;
    expect(row.status).toBe('active');
    expect(a.daemon.keyring.decrypt(row.refreshTokenEnc)).toBe(fake.currentRefreshToken(g.grantId));
    // B left no attempt row behind: the guard refused its write-ahead insert.
    const attempts = await db.refreshAttempt.findMany({ where: { connectionId: id } });
    expect(attempts.map((x) => x.outcome)).toEqual(['rotated']);
  });
});
