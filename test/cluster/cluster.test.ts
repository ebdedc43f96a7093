// The daemon on a real 3x2 Redis Cluster: started from REDIS_CLUSTER_NODES alone (no REDIS_URL),
// two daemons rotate with zero reuse, and a FLUSHALL of every master is repaired by the feeder.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { FakeProvider } from '../fakes/fake-provider.ts';
import { startDaemon, testDb, waitFor, writeProvidersFile, type TestDaemon } from '../helpers/harness.ts';
import { LocalRedisCluster } from '../helpers/redis-cluster.ts';
import { masters } from '../../worker/redis/connect.ts';

const cluster = new LocalRedisCluster();
const fake = new FakeProvider({ persona: 'standard', rotation: 'always', reuseDetection: true, accessTtlSeconds: 4 });
const db = testDb();
let a: TestDaemon;
let b: TestDaemon;

beforeAll(async () => {
  await Promise.all([cluster.start(), fake.start()]);
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
  // REDIS_URL points nowhere: the cluster seeds alone must be enough.
  const env = {
    PROVIDERS_FILE: providersFile,
    REDIS_URL: 'redis://127.0.0.1:1',
    REDIS_CLUSTER_NODES: cluster.seeds,
    QUEUE_PREFIX: `{ort-cluster-${process.pid}}`,
    FEEDER_INTERVAL_MS: '1000',
  };
  a = await startDaemon(env);
  b = await startDaemon({ ...env, PORT: '0' });
}, 90_000);

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await fake.close();
  await db.$disconnect();
  await cluster.stop();
});

async function register(externalId: string) {
  const g = fake.issueGrant();
  const res = await a.api('POST', '/v1/connections', {
    provider: 'acme',
    externalId,
    tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: 3, token_type: 'Bearer' },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as string;
}

describe('Redis Cluster', () => {
  it('two daemons on the cluster rotate tokens with zero reuse', async () => {
    const ids = await Promise.all(Array.from({ length: 10 }, (_, i) => register(`cl-${process.pid}-${i}`)));
    await waitFor(
      async () => {
        const rows = await db.connection.findMany({ where: { id: { in: ids } } });
        return rows.every((r) => r.version >= 3);
      },
      60_000,
      'three rotations each',
    );
    const rows = await db.connection.findMany({ where: { id: { in: ids } } });
    expect(rows.every((r) => r.status === 'active')).toBe(true);
    expect(fake.stats().reuseEvents).toBe(0);
  }, 90_000);

  it('a FLUSHALL of every master is repaired by the feeder and no connection is lost', async () => {
    const ids = await Promise.all(Array.from({ length: 10 }, (_, i) => register(`fl-${process.pid}-${i}`)));
    await waitFor(
      async () => (await db.connection.findMany({ where: { id: { in: ids } } })).every((r) => r.version >= 2),
      60_000,
      'first rotation',
    );
    const nodes = masters(a.daemon.redis);
    expect(nodes.length).toBe(3);
    await Promise.all(nodes.map((n: Redis) => n.flushall()));
    const after = new Map((await db.connection.findMany({ where: { id: { in: ids } } })).map((r) => [r.id, r.version]));
    await waitFor(
      async () =>
        (await db.connection.findMany({ where: { id: { in: ids } } })).every((r) => r.version >= after.get(r.id)! + 2),
      60_000,
      'two rotations after the wipe',
    );
    const rows = await db.connection.findMany({ where: { id: { in: ids } } });
    expect(rows.every((r) => r.status === 'active')).toBe(true);
    expect(fake.stats().reuseEvents).toBe(0);
  }, 120_000);
});
