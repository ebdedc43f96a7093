// The refresh pipeline end to end: real Redis, real PostgreSQL, a fake provider over HTTP with
// single-use rotation and reuse detection (presenting a spent token revokes the grant).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namespacePattern } from '../../worker/redis/keys.ts';
import { FakeProvider } from '../fakes/fake-provider.ts';
import {
  deleteKeys,
  startDaemon,
  testDb,
  testRedis,
  waitFor,
  writeProvidersFile,
  sleep,
  type TestDaemon,
} from '../helpers/harness.ts';

const fake = new FakeProvider({ persona: 'standard', rotation: 'always', reuseDetection: true, accessTtlSeconds: 4 });
let d: TestDaemon;
const db = testDb();

async function register(externalId: string, expiresIn = 4) {
  const g = fake.issueGrant();
  const res = await d.api('POST', '/v1/connections', {
    provider: 'acme',
    externalId,
    tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: expiresIn, token_type: 'Bearer' },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.id as string, grantId: g.grantId };
}

beforeAll(async () => {
  await fake.start();
  const providersFile = writeProvidersFile({
    acme: {
      tokenUrl: fake.tokenUrl,
      clientAuth: 'basic',
      clientId: 'client-id',
      clientSecret: 'client-secret',
      rotation: 'always',
      refreshLeadSec: 1,
    },
  });
  d = await startDaemon({ PROVIDERS_FILE: providersFile });
});

afterAll(async () => {
  await d?.stop();
  await fake.close();
  await db.$disconnect();
});

describe('refresh pipeline', () => {
  it('rotates tokens many times ahead of expiry and stores each new refresh token', async () => {
    const { id, grantId } = await register('rotate-1', 3);
    await waitFor(
      async () => (await db.connection.findUnique({ where: { id } }))!.version >= 5,
      30_000,
      'five rotations',
    );
    const row = (await db.connection.findUnique({ where: { id } }))!;
    expect(row.status).toBe('active');
    // The stored refresh token is the provider's current one, and nothing was ever reused.
    expect(d.daemon.keyring.decrypt(row.refreshTokenEnc)).toBe(fake.currentRefreshToken(grantId));
    expect(fake.stats().reuseEvents).toBe(0);
    // Never expired: every refresh happened before the previous access token's expiry.
    const attempts = await db.refreshAttempt.findMany({ where: { connectionId: id }, orderBy: { startedAt: 'asc' } });
    expect(attempts.length).toBeGreaterThanOrEqual(4);
    expect(attempts.every((a) => a.outcome === 'rotated' && a.finishedAt)).toBe(true);
    // Tokens are not stored in plain text.
    expect(row.refreshTokenEnc).not.toContain(fake.currentRefreshToken(grantId)!);
  });

  it('20 concurrent on-demand token requests plus the scheduled job cause exactly one provider refresh', async () => {
    // Due at once: the scheduled job and the on-demand requests all want this refresh.
    const { id, grantId } = await register('single-flight-1', 1);
    const before = fake.stats().perGrant[grantId]?.refreshes ?? 0;
    const results = await Promise.all(
      Array.from({ length: 20 }, () => d.api('GET', `/v1/connections/${id}/token?min_valid_seconds=2`)),
    );
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    const tokens = new Set(results.map((r) => r.body.access_token));
    expect(tokens.size).toBe(1);
    expect((fake.stats().perGrant[grantId]?.refreshes ?? 0) - before).toBe(1);
    expect(fake.stats().reuseEvents).toBe(0);
  });

  it('invalid_grant on a revoked grant marks needs_reauth once and stops calling the provider', async () => {
    const { id, grantId } = await register('revoked-1', 2);
    fake.revokeGrant(grantId);
    const row = await waitFor(
      async () => {
        const r = await db.connection.findUnique({ where: { id } });
        return r?.status === 'needs_reauth' ? r : null;
      },
      20_000,
      'needs_reauth',
    );
    expect(row.reauthReason).toBe('revoked');
    expect(row.lastErrorCode).toBe('invalid_grant');
    const calls = fake.stats().perGrant[grantId]?.refreshes ?? 0;
    await sleep(3000);
    expect(fake.stats().perGrant[grantId]?.refreshes ?? 0).toBe(calls);
    const res = await d.api('GET', `/v1/connections/${id}/token`);
    expect(res.status).toBe(409);
    expect(res.body).toEqual({ status: 'needs_reauth', reauthReason: 'revoked' });
    const events = await db.outboxEvent.findMany({ where: { connectionId: id, type: 'connection.needs_reauth' } });
    expect(events).toHaveLength(1);
  });

  it('a 5xx storm marks nothing and recovers afterwards', async () => {
    const { id, grantId } = await register('storm-1', 2);
    fake.setFaults({ status: 503 });
    await sleep(4000);
    let row = (await db.connection.findUnique({ where: { id } }))!;
    expect(row.status).toBe('active');
    expect(row.consecutiveFailures).toBeGreaterThan(0);
    fake.clearFaults();
    row = await waitFor(
      async () => {
        const r = (await db.connection.findUnique({ where: { id } }))!;
        return r.consecutiveFailures === 0 && r.version > 1 ? r : null;
      },
      20_000,
      'recovery',
    );
    expect(row.status).toBe('active');
    expect(d.daemon.keyring.decrypt(row.refreshTokenEnc)).toBe(fake.currentRefreshToken(grantId));
  });

  it('wiping Redis mid-run is repaired by the feeder and no connection is lost', async () => {
    const ids = await Promise.all([0, 1, 2, 3, 4].map((i) => register(`flush-${i}`, 3)));
    await sleep(1500);
    // Wipe everything this daemon keeps in Redis (queues, jobs, locks, the feeder's job scheduler):
    // what FLUSHALL does to it, without touching other test files sharing this Redis.
    const redis = testRedis();
    const deleted = await deleteKeys(redis, namespacePattern(d.config.queuePrefix));
    await redis.quit();
    expect(deleted).toBeGreaterThan(5);
    await waitFor(
      async () => {
        const rows = await db.connection.findMany({ where: { id: { in: ids.map((x) => x.id) } } });
        return rows.every((r) => r.version >= 3);
      },
      30_000,
      'rotations after the wipe',
    );
    const rows = await db.connection.findMany({ where: { id: { in: ids.map((x) => x.id) } } });
    for (const r of rows) {
      const g = ids.find((x) => x.id === r.id)!;
      expect(r.status).toBe('active');
      expect(d.daemon.keyring.decrypt(r.refreshTokenEnc)).toBe(fake.currentRefreshToken(g.grantId));
    }
  });
});
