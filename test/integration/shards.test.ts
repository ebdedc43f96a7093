// REFRESH_QUEUE_SHARDS on one Redis: a provider's connections are refreshed through its shard
// queues (each connection on the shard its id hashes to), and the provider's concurrency holds in
// total across the shards. No gate extension here: the shard workers' own concurrency is what
// limits the token requests, so a split that gave each shard the whole concurrency would show.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeProvider } from '../fakes/fake-provider.ts';
import { startDaemon, testDb, waitFor, writeProvidersFile, type TestDaemon } from '../helpers/harness.ts';
import { refreshQueueNameFor, refreshQueueNames } from '../../worker/schedule/policy.ts';

const SHARDS = 4;
const CONCURRENCY = 4;
const SLOW_MS = 2000;
const N = 24;
const fake = new FakeProvider({
  persona: 'standard',
  rotation: 'always',
  reuseDetection: true,
  accessTtlSeconds: 3600,
});
const db = testDb();
let d: TestDaemon;

beforeAll(async () => {
  await fake.start();
  fake.setFaults({ delayMs: SLOW_MS });
  d = await startDaemon({
    REFRESH_QUEUE_SHARDS: String(SHARDS),
    REQUEST_TIMEOUT_MS: '10000',
    LOCK_TTL_MS: '30000',
    PROVIDERS_FILE: writeProvidersFile({
      sharded: {
        tokenUrl: fake.tokenUrl,
        clientAuth: 'basic',
        clientId: 'client-id',
        clientSecret: 'client-secret',
        rotation: 'always',
        refreshLeadSec: 1,
        concurrency: CONCURRENCY,
      },
    }),
  });
}, 60_000);

afterAll(async () => {
  await d?.stop();
  await fake.close();
  await db.$disconnect();
});

/** Largest number of request starts inside any window shorter than one slow answer. */
function maxStartsWithin(starts: number[], windowMs: number): number {
  const s = [...starts].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < s.length; i++) {
    while (j + 1 < s.length && s[j + 1] - s[i] < windowMs) j++;
    best = Math.max(best, j - i + 1);
  }
  return best;
}

describe('REFRESH_QUEUE_SHARDS=4 on one Redis', () => {
  it('runs shard workers only for providers in use (configured, or with connections), not every built-in', async () => {
    const workers = d.daemon.refreshWorkers!;
    const all = d.daemon.providers.all();
    expect(all.filter((p) => p.configured).map((p) => p.key)).toEqual(['sharded']);
    expect(all.length).toBeGreaterThan(10);
    expect(workers.count()).toBe(SHARDS);
    // An unconfigured built-in that gains a connection gets its shard workers (the in-use check).
    const builtin = all.find((p) => !p.configured)!;
    expect(workers.get(builtin.key)).toBeUndefined();
    const res = await d.api('POST', '/v1/connections', {
      provider: builtin.key,
      externalId: 'in-use-1',
      tokens: { access_token: 'a', refresh_token: 'r', expires_in: 3600 },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    await waitFor(() => workers.get(builtin.key)?.length === SHARDS, 15_000, "the built-in's shard workers");
    expect(workers.count()).toBe(2 * SHARDS);
  });

  it("refreshes a provider's connections through its shard queues, within the provider's concurrency in total", async () => {
    const workers = d.daemon.refreshWorkers!.get('sharded')!;
    expect(workers.map((w) => w.name)).toEqual(refreshQueueNames('sharded', SHARDS));
    expect(workers.map((w) => w.concurrency)).toEqual([1, 1, 1, 1]);
    // Which shard worker ran which connection.
    const ranOn = new Map<string, string>();
    for (const w of workers) w.on('active', (job) => ranOn.set(job.data.connectionId, w.name));
    const starts: number[] = [];
    fake.onRequest = ({ at }) => starts.push(at);

    const ids = await Promise.all(
      Array.from({ length: N }, async (_v, i) => {
        const g = fake.issueGrant();
        const res = await d.api('POST', '/v1/connections', {
          provider: 'sharded',
          externalId: `shard-${i}`,
          tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: 3 },
        });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        return res.body.id as string;
      }),
    );
    // Each job sits on the shard its id hashes to.
    for (const id of ids) {
      const q = d.daemon.queues.refreshQueueFor('sharded', id);
      expect(q.name).toBe(refreshQueueNameFor('sharded', id, SHARDS));
      expect(await q.getJob(id)).toBeTruthy();
    }
    await waitFor(
      async () => (await db.connection.count({ where: { id: { in: ids }, version: { gte: 2 } } })) === N,
      90_000,
      'every connection rotated once',
    );
    for (const id of ids) expect(ranOn.get(id)).toBe(refreshQueueNameFor('sharded', id, SHARDS));
    expect(new Set(ranOn.values()).size).toBeGreaterThanOrEqual(3);
    // At most CONCURRENCY requests in flight at once over all shards; and they did run in parallel.
    const peak = maxStartsWithin(starts, SLOW_MS - 300);
    expect(peak).toBeLessThanOrEqual(CONCURRENCY);
    expect(peak).toBeGreaterThanOrEqual(2);
    expect(fake.stats().reuseEvents).toBe(0);
  }, 120_000);
});
