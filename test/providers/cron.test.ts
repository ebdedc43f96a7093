// Cron refresh (Salesforce: no expiry in the answer): a BullMQ job scheduler per cron provider fans
// out one deduplicated refresh job per active connection, spread over a window.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeProvider } from '../fakes/fake-provider.ts';
import { startDaemon, testDb, waitFor, writeProvidersFile, type TestDaemon } from '../helpers/harness.ts';
import { CronFanout, cronExtension, cronTarget, CRON_QUEUE } from '../../worker/schedule/cron.ts';
import { Queue } from 'bullmq';

const fake = new FakeProvider({ persona: 'salesforce', rotation: 'optional-on' });
const fake2 = new FakeProvider({ persona: 'salesforce' });
let d: TestDaemon;
const db = testDb();
const creds = { clientId: 'client-id', clientSecret: 'client-secret' };

beforeAll(async () => {
  await Promise.all([fake.start(), fake2.start()]);
  const providersFile = writeProvidersFile({
    // Built-in Salesforce behaviour (daily cron by default) under test-only keys.
    'cron-sf': { extends: 'salesforce', tokenUrl: fake.tokenUrl, ...creds },
    'cron-sf2': { extends: 'salesforce', tokenUrl: fake2.tokenUrl, ...creds },
  });
  d = await startDaemon(
    // REFRESH_CRON_<PROVIDER> overrides the daily default: every 2 seconds here.
    {
      PROVIDERS_FILE: providersFile,
      REFRESH_CRON_CRON_SF: '*/2 * * * * *',
      REQUEST_TIMEOUT_MS: '8000',
      LOCK_TTL_MS: '25000',
    },
    { extensions: [cronExtension({ spreadMs: 1500 })] },
  );
});

afterAll(async () => {
  await d?.stop();
  await Promise.all([fake.close(), fake2.close()]);
  await db.$disconnect();
});

async function register(provider: string, f: FakeProvider, externalId: string) {
  const g = f.issueGrant();
  const res = await d.api('POST', '/v1/connections', {
    provider,
    externalId,
    tokens: { ...g.raw, access_token: g.accessToken, refresh_token: g.refreshToken },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.id as string, grantId: g.grantId };
}

describe('cron fan-out', () => {
  it('the env override is the job scheduler pattern; the default stays daily', async () => {
    expect(d.daemon.providers.get('cron-sf')!.expiry.cron).toBe('*/2 * * * * *');
    expect(d.daemon.providers.get('cron-sf2')!.expiry.cron).toBe('0 3 * * *');
    const q = new Queue(CRON_QUEUE, { connection: d.daemon.bullRedis, prefix: d.daemon.queues.prefixOf(CRON_QUEUE) });
    try {
      expect((await q.getJobScheduler('cron:cron-sf'))?.pattern).toBe('*/2 * * * * *');
      expect((await q.getJobScheduler('cron:cron-sf2'))?.pattern).toBe('0 3 * * *');
      // Built-ins without credentials are not scheduled (they could not refresh anyway).
      expect(await q.getJobScheduler('cron:salesforce')).toBeUndefined();
    } finally {
      await q.close();
    }
  });

  it('each tick refreshes every active connection (refresh planned an hour out would otherwise wait)', async () => {
    const conns = await Promise.all([0, 1, 2, 3, 4].map((i) => register('cron-sf', fake, `cron-${i}`)));
    const ids = conns.map((c) => c.id);
    const cronRotated = () =>
      db.refreshAttempt.groupBy({
        by: ['connectionId'],
        where: { connectionId: { in: ids }, trigger: 'cron', outcome: 'rotated' },
        _count: true,
      });
    // Under load a registration-time job may fire before the first tick re-plans it: wait for the
    // property itself, every connection rotated by a cron tick, and at least two refreshes each.
    await waitFor(
      async () =>
        (await db.connection.count({ where: { id: { in: ids }, version: { gte: 3 } } })) === ids.length &&
        (await cronRotated()).length === ids.length,
      40_000,
      'two refreshes each, by cron ticks',
    );
    const rows = await db.connection.findMany({ where: { id: { in: ids } } });
    for (const r of rows) {
      expect(r.status).toBe('active');
      const c = conns.find((x) => x.id === r.id)!;
      expect(d.daemon.keyring.decrypt(r.refreshTokenEnc)).toBe(fake.currentRefreshToken(c.grantId));
    }
    expect(await cronRotated()).toHaveLength(ids.length);
    expect(fake.stats().reuseEvents).toBe(0);
  });

  it('pages by id, spreads targets over the window, never delays an earlier plan, and enqueues one job per connection', async () => {
    const conns = await Promise.all(Array.from({ length: 7 }, (_v, i) => register('cron-sf2', fake2, `page-${i}`)));
    const ids = conns.map((c) => c.id);
    // One connection already has an earlier plan (say a retry): the tick must not push it back.
    const early = new Date(Date.now() + 15_000);
    await db.connection.update({ where: { id: ids[0] }, data: { nextRefreshAt: early } });
    // A connection that needs re-auth is not touched.
    await db.connection.update({ where: { id: ids[1] }, data: { status: 'needs_reauth', nextRefreshAt: null } });
    const fan = new CronFanout(d.daemon, { spreadMs: 30_000, pageSize: 2 });
    try {
      const tick = Date.now() + 20_000;
      const r1 = await fan.fanout(d.daemon.providers.get('cron-sf2')!, tick);
      expect(r1.connections).toBe(6);
      expect(r1.pages).toBe(3);
      const rows = await db.connection.findMany({ where: { id: { in: ids } } });
      for (const r of rows) {
        if (r.id === ids[1]) {
          expect(r.nextRefreshAt).toBeNull();
          continue;
        }
        const t = r.nextRefreshAt!.getTime();
        if (r.id === ids[0]) expect(t).toBe(early.getTime());
        else {
          expect(t).toBe(cronTarget(r.id, tick, 30_000, null));
          expect(t).toBeGreaterThanOrEqual(tick);
          expect(t).toBeLessThan(tick + 30_000);
        }
      }
      // A second tick adds nothing: the job id is the connection id.
      await fan.fanout(d.daemon.providers.get('cron-sf2')!, tick);
      const [q] = d.daemon.queues.refreshQueues('cron-sf2');
      const jobs = await q.getJobs(['delayed', 'waiting', 'active', 'prioritized']);
      const ours = jobs.filter((j) => ids.includes(j.id!));
      expect(ours).toHaveLength(6);
      expect(new Set(ours.map((j) => j.id)).size).toBe(6);
      expect(ours.find((j) => j.id === ids[1])).toBeUndefined();
    } finally {
      await fan.close();
    }
  });
});

describe('cronTarget (pure)', () => {
  it('spreads a large population over the window: no second takes more than a small share', () => {
    const tick = Date.parse('2026-11-22T03:00:00Z');
    const window = 3600_000;
    const n = 20_000;
    const perSecond = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const t = cronTarget(randomUUID(), tick, window, null);
      expect(t).toBeGreaterThanOrEqual(tick);
      expect(t).toBeLessThan(tick + window);
      const s = Math.floor((t - tick) / 1000);
      perSecond.set(s, (perSecond.get(s) ?? 0) + 1);
    }
    // 20 000 over 3600 s is ~5.6 per second; a clump would show as dozens.
    expect(Math.max(...perSecond.values())).toBeLessThan(25);
    expect(perSecond.size).toBeGreaterThan(3000);
  });

  it.each([
    [null, 'tick + offset'],
    [new Date(Date.parse('2026-11-22T02:59:00Z')), 'kept (earlier)'],
    [new Date(Date.parse('2026-11-23T03:00:00Z')), 'tick + offset (later plan moved up)'],
  ])('current %s -> %s', (current, _what) => {
    const tick = Date.parse('2026-11-22T03:00:00Z');
    const id = '0b6f0c7e-94f4-4a53-9a9f-1d7f8e3f2a10';
    const base = cronTarget(id, tick, 3600_000, null);
    const got = cronTarget(id, tick, 3600_000, current);
    expect(got).toBe(current && current.getTime() < base ? current.getTime() : base);
    // Stable per connection.
    expect(cronTarget(id, tick, 3600_000, null)).toBe(base);
  });
});
