// REFRESH_QUEUE_SHARDS=8 on a real 3x2 Redis Cluster: each shard queue is a slot of its own, so one
// provider's refresh jobs spread over every master; two daemons still rotate with zero reuse; and
// `ops reconcile` (one EXISTS pipeline per queue: a cluster pipeline holds one node's keys) works.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { FakeProvider } from '../fakes/fake-provider.ts';
import { startDaemon, testDb, waitFor, writeProvidersFile, type TestDaemon } from '../helpers/harness.ts';
import { LocalRedisCluster } from '../helpers/redis-cluster.ts';
import { masters } from '../../worker/redis/connect.ts';
import { namespaceOf } from '../../worker/redis/keys.ts';
import { refreshQueueNames } from '../../worker/schedule/policy.ts';
import { runCli } from '../../worker/ops/cli.ts';
import { createOpsContext, createOpsDaemon } from '../../worker/ops/context.ts';
import pino from 'pino';

const SHARDS = 8;
// Enough that every one of the 8 shards holds some (an empty shard: 8 x (7/8)^120, about 1e-6).
const N = 120;
const PREFIX = `{ort-shards-${process.pid}}`;
const cluster = new LocalRedisCluster();
const fake = new FakeProvider({ persona: 'standard', rotation: 'always', reuseDetection: true, accessTtlSeconds: 4 });
const db = testDb();
let a: TestDaemon;
let b: TestDaemon;

beforeAll(async () => {
  await Promise.all([cluster.start(), fake.start()]);
  const env = {
    PROVIDERS_FILE: writeProvidersFile({
      acme: {
        tokenUrl: fake.tokenUrl,
        clientAuth: 'basic',
        clientId: 'client-id',
        clientSecret: 'client-secret',
        rotation: 'always',
        refreshLeadSec: 1,
      },
    }),
    REDIS_URL: 'redis://127.0.0.1:1',
    REDIS_CLUSTER_NODES: cluster.seeds,
    QUEUE_PREFIX: PREFIX,
    REFRESH_QUEUE_SHARDS: String(SHARDS),
    FEEDER_INTERVAL_MS: '1000',
  };
  a = await startDaemon(env);
  b = await startDaemon(env);
}, 90_000);

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await fake.close();
  await db.$disconnect();
  await cluster.stop();
});

/** Refresh job keys (BullMQ job hashes) of the provider held by one node, by shard queue. */
async function jobKeysOn(node: Redis): Promise<Map<string, number>> {
  // Read without the key layout (redis/keys.ts), so a layout that put every queue in one slot shows.
  const job = /:(refresh-acme-\d+):[0-9a-f]{8}-[0-9a-f-]{27}$/;
  const byQueue = new Map<string, number>();
  let cursor = '0';
  do {
    const [next, keys] = await node.scan(cursor, 'MATCH', `*${namespaceOf(PREFIX)}*`, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) {
      const m = job.exec(k);
      if (m) byQueue.set(m[1], (byQueue.get(m[1]) ?? 0) + 1);
    }
  } while (cursor !== '0');
  return byQueue;
}

describe('REFRESH_QUEUE_SHARDS=8 on a Redis Cluster', () => {
  it("spreads one provider's refresh jobs over every master; two daemons rotate with zero reuse", async () => {
    expect(a.daemon.refreshWorkers!.get('acme')!.map((w) => w.name)).toEqual(refreshQueueNames('acme', SHARDS));
    const ids = await Promise.all(
      Array.from({ length: N }, async (_v, i) => {
        const g = fake.issueGrant();
        const res = await a.api('POST', '/v1/connections', {
          provider: 'acme',
          externalId: `sh-${process.pid}-${i}`,
          tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: 3 },
        });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        return res.body.id as string;
      }),
    );
    // Between rotations every job is delayed on its shard: each master holds some of them.
    const nodes = masters(a.daemon.redis);
    expect(nodes.length).toBe(3);
    const perMaster = await Promise.all(nodes.map(jobKeysOn));
    const shardsSeen = new Set(perMaster.flatMap((m) => [...m.keys()]));
    for (const m of perMaster) expect([...m.values()].reduce((x, y) => x + y, 0)).toBeGreaterThan(0);
    expect(shardsSeen.size).toBe(SHARDS);
    // A queue lives on one node only (its keys share one slot).
    const owners = [...shardsSeen].map((q) => perMaster.filter((m) => m.has(q)).length);
    expect(owners.every((n) => n === 1)).toBe(true);

    await waitFor(
      async () => (await db.connection.count({ where: { id: { in: ids }, version: { gte: 3 } } })) === N,
      90_000,
      'two rotations each',
    );
    const rows = await db.connection.findMany({ where: { id: { in: ids } } });
    expect(rows.every((r) => r.status === 'active')).toBe(true);
    expect(fake.stats().reuseEvents).toBe(0);
    // Both daemons run a worker on each shard queue.
    const workers = await Promise.all([a, b].map((d) => d.daemon.queues.refreshQueues('acme')[0].getWorkers()));
    expect(workers[0].length).toBeGreaterThanOrEqual(2);
  }, 150_000);

  it('ops reconcile on the cluster puts removed jobs back on their shards', async () => {
    const rows = await db.connection.findMany({ where: { provider: 'acme', status: 'active' }, take: 30 });
    // Remove the jobs of the connections not being refreshed right now, on every shard they sit on.
    let removed = 0;
    for (const r of rows) {
      const job = await a.daemon.queues.refreshQueueFor('acme', r.id).getJob(r.id);
      if (job && (await job.getState()) === 'delayed')
        removed += await job.remove().then(
          () => 1,
          () => 0,
        );
    }
    expect(removed).toBeGreaterThan(5);
    const ops = createOpsDaemon(a.config, pino({ level: 'silent' }));
    const out: string[] = [];
    const io = { out: (l: string) => out.push(l), err: () => undefined, tty: false };
    try {
      expect(await runCli(['reconcile', '--json'], io, (json) => createOpsContext(a.config, io, json, ops))).toBe(0);
    } finally {
      await ops.close();
    }
    // The daemons' own feeders may have put some back first; together every job is back.
    expect(JSON.parse(out.join('\n')).scanned).toBeGreaterThan(0);
    const have = await a.daemon.queues.haveJobs(rows.map((r) => ({ provider: 'acme', id: r.id })));
    expect(have.filter((x) => !x).length).toBeLessThanOrEqual(2);
    expect(fake.stats().reuseEvents).toBe(0);
  }, 60_000);
});
