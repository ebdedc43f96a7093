// The claim statement reads a connection and writes its write-ahead attempt in one round trip. It
// must write the attempt exactly when the refresher's isDue says the refresh is due (otherwise a
// refresh that never calls the provider would leave an "unfinished" attempt, later misread as a
// crash), and refuse while another attempt on the same token version is out.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { Refresher, type RefresherDeps, type RefreshRequest } from '../../worker/refresh/refresher.ts';
import { dueBounds } from '../../worker/refresh/plan.ts';
import { ConnectionStore } from '../../worker/store/connections.ts';
import { testDb } from '../helpers/harness.ts';

const db = testDb();
const store = new ConnectionStore(db);
const SKEW = 2000;
// isDue reads only the policy: the rest of the refresher is not needed to ask it.
const refresher = new Refresher({ policy: { skewToleranceMs: SKEW } } as unknown as RefresherDeps);
const NOW = Date.parse('2026-11-22T12:00:00.000Z');
const at = (deltaMs: number | null) => (deltaMs === null ? null : new Date(NOW + deltaMs));

afterAll(async () => {
  await db.$disconnect();
});

async function connection(opts: {
  status?: 'active' | 'needs_reauth';
  nextRefreshIn: number | null;
  expiresIn: number | null;
  failures?: number;
}) {
  const id = randomUUID();
  await db.connection.create({
    data: {
      id,
      provider: 'claim-test',
      externalId: id,
      accessTokenEnc: 'x',
      refreshTokenEnc: 'y',
      encKeyId: 'k1',
      status: opts.status ?? 'active',
      nextRefreshAt: at(opts.nextRefreshIn),
      expiresAt: at(opts.expiresIn),
      consecutiveFailures: opts.failures ?? 0,
    },
  });
  return id;
}

const claim = (id: string, req: RefreshRequest, exclusiveSinceMs = NOW - 30_000) =>
  store.claim({
    connectionId: id,
    trigger: req.trigger,
    workerId: 'w1',
    startedAt: new Date(NOW),
    exclusiveSince: new Date(exclusiveSinceMs),
    ...dueBounds(req.trigger, NOW, SKEW, req.minValidMs),
  });

describe('claim: read + write-ahead in one statement', () => {
  const cases: Array<{
    name: string;
    row: {
      status?: 'active' | 'needs_reauth';
      nextRefreshIn: number | null;
      expiresIn: number | null;
      failures?: number;
    };
    req: RefreshRequest;
  }> = [
    {
      name: 'scheduled, planned in the past',
      row: { nextRefreshIn: -5000, expiresIn: 60_000 },
      req: { trigger: 'scheduled' },
    },
    {
      name: 'scheduled, planned exactly now',
      row: { nextRefreshIn: 0, expiresIn: 60_000 },
      req: { trigger: 'scheduled' },
    },
    {
      name: 'scheduled, planned within the skew tolerance',
      row: { nextRefreshIn: SKEW, expiresIn: 60_000 },
      req: { trigger: 'scheduled' },
    },
    {
      name: 'scheduled, planned just past the skew tolerance',
      row: { nextRefreshIn: SKEW + 1, expiresIn: 60_000 },
      req: { trigger: 'scheduled' },
    },
    {
      name: 'scheduled, planned an hour out',
      row: { nextRefreshIn: 3_600_000, expiresIn: 7_200_000 },
      req: { trigger: 'scheduled' },
    },
    { name: 'scheduled, no plan', row: { nextRefreshIn: null, expiresIn: null }, req: { trigger: 'scheduled' } },
    { name: 'cron, planned an hour out', row: { nextRefreshIn: 3_600_000, expiresIn: null }, req: { trigger: 'cron' } },
    {
      name: 'on_demand, token valid long enough',
      row: { nextRefreshIn: 3_000_000, expiresIn: 3_600_000 },
      req: { trigger: 'on_demand', minValidMs: 60_000 },
    },
    {
      name: 'on_demand, token expires within min valid',
      row: { nextRefreshIn: 3_000_000, expiresIn: 30_000 },
      req: { trigger: 'on_demand', minValidMs: 60_000 },
    },
    {
      name: 'on_demand, token expires exactly at the bound',
      row: { nextRefreshIn: 3_000_000, expiresIn: 60_000 },
      req: { trigger: 'on_demand', minValidMs: 60_000 },
    },
    {
      name: 'on_demand, no expiry known',
      row: { nextRefreshIn: 3_000_000, expiresIn: null },
      req: { trigger: 'on_demand' },
    },
    {
      name: 'on_demand, failing, retry time to come',
      row: { nextRefreshIn: 1500, expiresIn: -1000, failures: 2 },
      req: { trigger: 'on_demand' },
    },
    {
      name: 'on_demand, failing, retry time now',
      row: { nextRefreshIn: 0, expiresIn: -1000, failures: 2 },
      req: { trigger: 'on_demand' },
    },
    {
      name: 'on_demand, failing, retry time passed within the skew tolerance',
      row: { nextRefreshIn: -500, expiresIn: -1000, failures: 1 },
      req: { trigger: 'on_demand' },
    },
    {
      name: 'on_demand, failing, retry time passed beyond the skew tolerance',
      row: { nextRefreshIn: -SKEW - 500, expiresIn: -1000, failures: 1 },
      req: { trigger: 'on_demand' },
    },
    {
      name: 'forced, failing, retry time to come',
      row: { nextRefreshIn: 60_000, expiresIn: -1000, failures: 3 },
      req: { trigger: 'forced' },
    },
    {
      name: 'forced, planned an hour out',
      row: { nextRefreshIn: 3_600_000, expiresIn: 7_200_000 },
      req: { trigger: 'forced' },
    },
    {
      name: 'replay, planned an hour out',
      row: { nextRefreshIn: 3_600_000, expiresIn: 7_200_000 },
      req: { trigger: 'replay' },
    },
    {
      name: 'forced, needs_reauth',
      row: { status: 'needs_reauth', nextRefreshIn: null, expiresIn: -1000 },
      req: { trigger: 'forced' },
    },
    {
      name: 'scheduled, needs_reauth',
      row: { status: 'needs_reauth', nextRefreshIn: -1000, expiresIn: -1000 },
      req: { trigger: 'scheduled' },
    },
  ];

  it.each(cases)('$name: writes the attempt exactly when isDue', async ({ row, req }) => {
    const id = await connection(row);
    const { row: read, attemptId } = await claim(id, req);
    expect(read?.id).toBe(id);
    const due = read!.status === 'active' && refresher.isDue(read!, req, NOW);
    expect(attemptId !== null).toBe(due);
    expect(await db.refreshAttempt.count({ where: { connectionId: id } })).toBe(due ? 1 : 0);
  });

  it('the cases cover both answers', async () => {
    // A table where every case came out the same would not test the equivalence.
    const dueCount = cases.filter(
      ({ row, req }) =>
        (row.status ?? 'active') === 'active' &&
        refresher.isDue(
          {
            nextRefreshAt: at(row.nextRefreshIn),
            expiresAt: at(row.expiresIn),
            consecutiveFailures: row.failures ?? 0,
          } as never,
          req,
          NOW,
        ),
    ).length;
    expect(dueCount).toBeGreaterThan(3);
    expect(dueCount).toBeLessThan(cases.length - 3);
  });

  it('returns the row as load() does', async () => {
    const id = await connection({ nextRefreshIn: -1000, expiresIn: 5000 });
    const { row } = await claim(id, { trigger: 'scheduled' });
    expect(row).toEqual(await store.load(id));
  });

  it('an unknown or malformed id reads nothing and writes nothing', async () => {
    expect(await claim(randomUUID(), { trigger: 'forced' })).toEqual({ row: null, attemptId: null });
    expect(await claim('not-a-uuid', { trigger: 'forced' })).toEqual({ row: null, attemptId: null });
  });

  it('refuses while another attempt on the same version is unfinished and recent; allows after it finished or aged', async () => {
    const id = await connection({ nextRefreshIn: -1000, expiresIn: 5000 });
    const first = await claim(id, { trigger: 'scheduled' });
    expect(first.attemptId).not.toBeNull();
    // Same version, first still out: refused, and nothing written.
    expect((await claim(id, { trigger: 'forced' })).attemptId).toBeNull();
    expect(await db.refreshAttempt.count({ where: { connectionId: id } })).toBe(1);
    // The first is older than the window (a dead process's attempt, a lock TTL ago): allowed.
    expect((await claim(id, { trigger: 'forced' }, NOW + 1)).attemptId).not.toBeNull();
    // Finished attempts never block.
    const id2 = await connection({ nextRefreshIn: -1000, expiresIn: 5000 });
    const a = (await claim(id2, { trigger: 'scheduled' })).attemptId!;
    await store.finishAttempt({ attemptId: a, now: new Date(NOW), outcome: 'transient', durationMs: 1 });
    expect((await claim(id2, { trigger: 'scheduled' })).attemptId).not.toBeNull();
    // An unfinished attempt on an older version (the row has moved on) does not block the new one.
    const id3 = await connection({ nextRefreshIn: -1000, expiresIn: 5000 });
    expect((await claim(id3, { trigger: 'scheduled' })).attemptId).not.toBeNull();
    await db.connection.update({ where: { id: id3 }, data: { version: { increment: 1 } } });
    expect((await claim(id3, { trigger: 'scheduled' })).attemptId).not.toBeNull();
  });

  it('dropAttempt removes an unsent claim only', async () => {
    const id = await connection({ nextRefreshIn: -1000, expiresIn: 5000 });
    const a = (await claim(id, { trigger: 'scheduled' })).attemptId!;
    await store.dropAttempt(a);
    expect(await db.refreshAttempt.count({ where: { connectionId: id } })).toBe(0);
    const b = (await claim(id, { trigger: 'scheduled' })).attemptId!;
    await store.finishAttempt({ attemptId: b, now: new Date(NOW), outcome: 'transient', durationMs: 1 });
    await store.dropAttempt(b);
    expect(await db.refreshAttempt.count({ where: { connectionId: id } })).toBe(1);
  });
});
