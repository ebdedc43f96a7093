// A master of a real 3x2 Redis Cluster (password-protected) SIGKILLed while two daemons rotate
// single-use refresh tokens: its replica takes over, /readyz goes unready and back, the provider
// sees no reuse, PostgreSQL holds every grant's current token (no rotation lost), and every
// connection rotates again after the failover.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeProvider } from '../fakes/fake-provider.ts';
import {
  startDaemon,
  TEST_ENCRYPTION_KEY,
  testDb,
  waitFor,
  writeProvidersFile,
  type TestDaemon,
} from '../helpers/harness.ts';
import { LocalRedisCluster } from '../helpers/redis-cluster.ts';
import { judge, type TrackedConnection, type Verdict } from '../chaos/checker.ts';
import { Keyring } from '../../worker/crypto/keyring.ts';
import { masters } from '../../worker/redis/connect.ts';
import { queueKeyOf } from '../../worker/redis/keys.ts';

const N = 20;
const cluster = new LocalRedisCluster({ password: `pw-${process.pid}-cluster` });
const fake = new FakeProvider({
  persona: 'standard',
  rotation: 'always',
  reuseDetection: true,
  graceSeconds: 0,
  accessTtlSeconds: 4,
});
const db = testDb();
const keyring = new Keyring([{ id: 'k1', key: Buffer.from(TEST_ENCRYPTION_KEY, 'base64') }]);
let a: TestDaemon;
let b: TestDaemon;
const tracked: TrackedConnection[] = [];

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
  const env = {
    PROVIDERS_FILE: providersFile,
    REDIS_URL: 'redis://127.0.0.1:1',
    ...cluster.env,
    QUEUE_PREFIX: `{ort-failover-${process.pid}}`,
  };
  a = await startDaemon(env);
  b = await startDaemon(env);
}, 90_000);

afterAll(async () => {
  // Bounded: after a failed run the cluster may be down, and BullMQ's client retries forever.
  const bounded = (p?: Promise<void>) =>
    Promise.race([p, new Promise((r) => setTimeout(r, 20_000).unref())]).catch(() => undefined);
  await Promise.all([bounded(a?.stop()), bounded(b?.stop())]);
  await fake.close();
  await db.$disconnect();
  await cluster.stop();
});

async function register(externalId: string): Promise<void> {
  const g = fake.issueGrant();
  const res = await a.api('POST', '/v1/connections', {
    provider: 'acme',
    externalId,
    tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: 3, token_type: 'Bearer' },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  tracked.push({ id: res.body.id as string, grantId: g.grantId, provider: 'acme' });
}

const versions = async () =>
  new Map(
    (await db.connection.findMany({ where: { id: { in: tracked.map((t) => t.id) } } })).map((r) => [r.id, r.version]),
  );

/** /readyz of daemon a every 100 ms, as the sequence of distinct answers (200, 503, 200, ...). */
function watchReadiness(): { seen: number[]; details: string[]; stop: () => void } {
  const seen: number[] = [];
  const details: string[] = [];
  let on = true;
  void (async () => {
    while (on) {
      const r = await fetch(`${a.baseUrl}/readyz`).catch(() => undefined);
      const status = r?.status ?? 0;
      const body = r ? await r.text() : '';
      if (seen.at(-1) !== status) {
        seen.push(status);
        details.push(body.slice(0, 300));
      }
      await new Promise((res) => setTimeout(res, 100));
    }
  })();
  return { seen, details, stop: () => (on = false) };
}

/** Every connection's verdict by the chaos suite's checker: ledger at the provider vs PostgreSQL. */
async function verdicts(): Promise<Map<string, Verdict>> {
  const ledger = fake.ledger();
  return judge({
    db,
    keyring,
    ledgers: new Map([['acme', ledger]]),
    connections: tracked,
    revokedByUs: new Set(),
    deaths: [],
    pauses: [],
    allowedLossReasons: new Set(),
    nowMs: Date.now(),
  });
}

/**
 * For a failure message: the connections that did not rotate, their jobs' states, readiness, and
 * whether the queue client answers (a failover has been seen to leave BullMQ's workers idle with
 * overdue delayed jobs while every client answers).
 */
async function stuck(after: Map<string, number>): Promise<string> {
  const now = await versions();
  const [q] = a.daemon.queues.refreshQueues('acme');
  const lines = await Promise.all(
    [...now]
      .filter(([id, v]) => v < after.get(id)! + 2)
      .map(async ([id, v]) => `${id} v${after.get(id)}->v${v} job ${await q.getJobState(id).catch(String)}`),
  );
  const ready = await fetch(`${a.baseUrl}/readyz`).then((r) => r.text());
  // BullMQ's own view: overdue delayed jobs, the wake-up marker, and whether the workers run.
  const marker = await a.daemon.bullRedis.zrange(
    queueKeyOf(a.config.queuePrefix, q.name, 'marker'),
    0,
    -1,
    'WITHSCORES',
  );
  const delayed = await q.getDelayed(0, 0);
  const due = delayed[0] ? `${Date.now() - (delayed[0].timestamp + delayed[0].delay)} ms overdue` : 'none';
  const running = [a, b].map((d) =>
    d.daemon.refreshWorkers
      ?.get('acme')
      ?.map((w) => w.isRunning())
      .join('/'),
  );
  lines.push(`first delayed ${due}; marker [${marker.join(',')}]; workers running ${running.join(',')}`);
  const pings = await Promise.all(
    [a, b].map((d) =>
      Promise.race([
        d.daemon.bullRedis.ping().then(
          () => 'pong',
          (e: Error) => e.message,
        ),
        new Promise((r) => setTimeout(() => r('ping hangs'), 3000)),
      ]),
    ),
  );
  const state = [a, b].map((d, i) => `queue client ${d.daemon.bullRedis.status}, ping ${String(pings[i])}`);
  return `${lines.join('\n')}\nreadyz ${ready}\ndaemons: ${state.join(' | ')}`;
}

describe('Redis Cluster failover', () => {
  it('a master SIGKILLed mid-run fails over to its replica: no reuse, no rotation lost, readiness dips and returns', async () => {
    for (let i = 0; i < N; i++) await register(`fo-${process.pid}-${i}`);
    await waitFor(async () => [...(await versions()).values()].every((v) => v >= 3), 60_000, 'two rotations each');

    // The master holding the most keys (the queues' slot lives there): its loss hurts the most.
    const nodes = masters(a.daemon.redis);
    expect(nodes.length).toBe(3);
    const sizes = await Promise.all(nodes.map((n) => n.dbsize()));
    const victim = Number(nodes[sizes.indexOf(Math.max(...sizes))].options.port);
    const readiness = watchReadiness();
    await new Promise((r) => setTimeout(r, 500));
    const before = fake.stats().successes;
    await cluster.kill(victim);
    await cluster.waitFailover(victim);
    expect(await cluster.masterPorts()).not.toContain(victim);
    expect((await cluster.masterPorts()).length).toBe(3);

    // Readiness: ready, then unready (a slot without a master), then ready again on the new map.
    await waitFor(() => readiness.seen.length >= 3 && readiness.seen.at(-1) === 200, 60_000, 'readyz back to 200');
    readiness.stop();
    expect(readiness.seen.slice(0, 3), readiness.details.join('\n')).toEqual([200, 503, 200]);

    // Every connection rotates twice more on the promoted replica, with the provider rotating throughout.
    const after = await versions();
    await waitFor(
      async () => [...(await versions())].every(([id, v]) => v >= after.get(id)! + 2),
      60_000,
      'two rotations each after the failover',
    ).catch(async (e: Error) => {
      throw new Error(`${e.message}\n${await stuck(after)}`);
    });
    expect(fake.stats().successes).toBeGreaterThan(before);

    // No reuse at the provider; every grant's current token is the one PostgreSQL holds (none lost).
    const final = await waitFor(
      async () => {
        const v = await verdicts();
        const kinds = [...v.values()].map((x) => x.kind);
        return kinds.every((k) => k === 'healthy') || kinds.includes('violation') ? v : undefined;
      },
      30_000,
      'every connection healthy',
    );
    const bad = [...final].filter(([, v]) => v.kind !== 'healthy');
    expect(bad, JSON.stringify(bad)).toEqual([]);
    expect(fake.stats().reuseEvents).toBe(0);
    const rows = await db.connection.findMany({ where: { id: { in: tracked.map((t) => t.id) } } });
    expect(rows.filter((r) => r.status !== 'active')).toEqual([]);
  }, 150_000);
});
