// Two daemon processes (`npm start` each) on the same Redis and PostgreSQL never spend one refresh
// token twice; SIGTERM drains and exits 0.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeProvider } from '../fakes/fake-provider.ts';
import { TEST_API_KEY, testDb, testEnv, waitFor, writeProvidersFile } from '../helpers/harness.ts';
import { spawnDaemon, type DaemonProcess } from '../helpers/processes.ts';
import { Keyring } from '../../worker/crypto/keyring.ts';
import { parseEncryptionKeys } from '../../worker/config/env.ts';

const fake = new FakeProvider({ persona: 'standard', rotation: 'always', reuseDetection: true, accessTtlSeconds: 3 });
const db = testDb();
let a: DaemonProcess;
let b: DaemonProcess;
let env: Record<string, string | undefined>;

beforeAll(async () => {
  await fake.start();
  env = testEnv({
    PROVIDERS_FILE: writeProvidersFile({
      duo: {
        tokenUrl: fake.tokenUrl,
        clientAuth: 'basic',
        clientId: 'client-id',
        clientSecret: 'client-secret',
        rotation: 'always',
        refreshLeadSec: 1,
      },
    }),
    LOG_LEVEL: 'warn',
  });
  [a, b] = await Promise.all([spawnDaemon(env), spawnDaemon(env)]);
}, 90_000);

afterAll(async () => {
  await Promise.all([a?.stop('SIGKILL'), b?.stop('SIGKILL')]);
  await fake.close();
  await db.$disconnect();
});

describe('two daemon processes', () => {
  it('share the work and never spend a refresh token twice; SIGTERM exits 0', async () => {
    const keyring = new Keyring(parseEncryptionKeys(env));
    const conns: { id: string; grantId: string }[] = [];
    for (let i = 0; i < 24; i++) {
      const g = fake.issueGrant();
      // Register half through each process: both APIs write the same database.
      const port = i % 2 === 0 ? a.port : b.port;
      const res = await fetch(`http://127.0.0.1:${port}/v1/connections`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          provider: 'duo',
          externalId: `duo-${i}`,
          tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: 3 },
        }),
      });
      expect(res.status).toBe(201);
      conns.push({ id: ((await res.json()) as { id: string }).id, grantId: g.grantId });
    }
    // Meanwhile hammer on-demand refreshes through both processes at once.
    const hammer = (async () => {
      for (let round = 0; round < 10; round++) {
        await Promise.all(
          conns.slice(0, 6).flatMap((c) =>
            [a.port, b.port].map((port) =>
              fetch(`http://127.0.0.1:${port}/v1/connections/${c.id}/token?min_valid_seconds=2`, {
                headers: { authorization: `Bearer ${TEST_API_KEY}` },
              }).then((r) => r.text()),
            ),
          ),
        );
        await new Promise((r) => setTimeout(r, 700));
      }
    })();
    await waitFor(
      async () => {
        const rows = await db.connection.findMany({ where: { id: { in: conns.map((c) => c.id) } } });
        return rows.every((r) => r.version >= 5);
      },
      60_000,
      'every connection rotated at least 4 times',
    ).catch(async (e: Error) => {
      const rows = await db.connection.findMany({
        where: { id: { in: conns.map((c) => c.id) } },
        select: { version: true, status: true, lastErrorCode: true, nextRefreshAt: true },
      });
      const outcomes = await db.refreshAttempt.groupBy({ by: ['outcome', 'errorCode'], _count: true });
      throw new Error(
        `${e.message}\nrows: ${JSON.stringify(rows)}\noutcomes: ${JSON.stringify(outcomes)}\nA: ${a.output().slice(-1500)}\nB: ${b.output().slice(-1500)}`,
      );
    });
    await hammer;
    expect(fake.stats().reuseEvents).toBe(0);
    const rows = await db.connection.findMany({ where: { id: { in: conns.map((c) => c.id) } } });
    for (const r of rows) {
      expect(r.status).toBe('active');
      expect(keyring.decrypt(r.refreshTokenEnc)).toBe(
        fake.currentRefreshToken(conns.find((c) => c.id === r.id)!.grantId),
      );
    }
    const workers = await db.refreshAttempt.groupBy({
      by: ['workerId'],
      where: { connectionId: { in: conns.map((c) => c.id) } },
      _count: true,
    });
    expect(workers.length).toBe(2);
    // Graceful shutdown: drains and exits 0.
    expect(await a.stop('SIGTERM')).toBe(0);
    expect(await b.stop('SIGTERM')).toBe(0);
    expect(fake.stats().reuseEvents).toBe(0);
  }, 120_000);
});
