// The fenced rotation commit is one statement, run either as a prepared statement on the pool or,
// inside a transaction (connection.recovered), through Prisma: both paths must write the same thing.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ConnectionStore, type RotationCommit } from '../../worker/store/connections.ts';
import type { Db } from '../../worker/store/db.ts';
import { testDb } from '../helpers/harness.ts';

const db = testDb();
const store = new ConnectionStore(db);
const NOW = Date.parse('2026-11-22T12:00:00.000Z');

afterAll(async () => {
  await db.$disconnect();
});

async function claimed(version = 3) {
  const id = randomUUID();
  await db.connection.create({
    data: {
      id,
      provider: 'commit-test',
      externalId: id,
      accessTokenEnc: 'at-old',
      refreshTokenEnc: 'rt-old',
      encKeyId: 'k1',
      version,
      tokenType: 'bearer',
      scope: 'old',
      metadata: { keep: 1 },
      consecutiveFailures: 2,
      failingSince: new Date(NOW - 60_000),
      lastErrorCode: 'http_503',
      nextRefreshAt: new Date(NOW),
    },
  });
  const { attemptId } = await store.claim({
    connectionId: id,
    trigger: 'forced',
    workerId: 'w1',
    startedAt: new Date(NOW),
    exclusiveSince: new Date(NOW - 30_000),
    dueBy: null,
    expiringBefore: null,
    backoffUntil: null,
  });
  return { id, attemptId: attemptId!, version };
}

const commit = (id: string, attemptId: string, versionBefore: number): RotationCommit => ({
  connectionId: id,
  attemptId,
  tokenFingerprint: 'fp-1',
  versionBefore,
  accessTokenEnc: 'at-new',
  refreshTokenEnc: 'rt-new',
  encKeyId: 'k2',
  scope: 'new',
  expiresAt: new Date(NOW + 3600_000),
  refreshExpiresAt: new Date(NOW + 86400_000),
  metadata: { added: 'x' },
  now: new Date(NOW + 100),
  nextRefreshAt: new Date(NOW + 2700_000),
  httpStatus: 200,
  durationMs: 100,
  commitWindowUs: 42,
});

async function state(id: string, attemptId: string) {
  const c = await db.connection.findUniqueOrThrow({ where: { id } });
  const a = await db.refreshAttempt.findUniqueOrThrow({ where: { id: attemptId } });
  return {
    connection: {
      accessTokenEnc: c.accessTokenEnc,
      refreshTokenEnc: c.refreshTokenEnc,
      encKeyId: c.encKeyId,
      tokenType: c.tokenType,
      scope: c.scope,
      expiresAt: c.expiresAt?.toISOString(),
      refreshExpiresAt: c.refreshExpiresAt?.toISOString(),
      metadata: c.metadata,
      version: c.version,
      lastRefreshedAt: c.lastRefreshedAt?.toISOString(),
      nextRefreshAt: c.nextRefreshAt?.toISOString(),
      consecutiveFailures: c.consecutiveFailures,
      failingSince: c.failingSince,
      lastErrorCode: c.lastErrorCode,
      updatedAt: c.updatedAt.toISOString(),
    },
    attempt: {
      finishedAt: a.finishedAt?.toISOString(),
      outcome: a.outcome,
      providerRotated: a.providerRotated,
      httpStatus: a.httpStatus,
      versionAfter: a.versionAfter,
      durationMs: a.durationMs,
      commitWindowUs: a.commitWindowUs,
      tokenFingerprint: a.tokenFingerprint,
    },
  };
}

/** The same store on a transaction client: no pool underneath, so the Prisma path runs. */
const inTx = <T>(fn: (s: ConnectionStore) => Promise<T>) =>
  db.$transaction((tx) => fn(new ConnectionStore(tx as unknown as Db)));

describe('commitRotation', () => {
  it('writes the same row and attempt through the pool and through a transaction', async () => {
    const a = await claimed();
    const b = await claimed();
    expect(await store.commitRotation(commit(a.id, a.attemptId, a.version))).toBe(4);
    expect(await inTx((s) => s.commitRotation(commit(b.id, b.attemptId, b.version)))).toBe(4);
    const sa = await state(a.id, a.attemptId);
    expect(sa).toEqual(await state(b.id, b.attemptId));
    expect(sa.connection).toMatchObject({
      accessTokenEnc: 'at-new',
      refreshTokenEnc: 'rt-new',
      encKeyId: 'k2',
      tokenType: 'bearer',
      scope: 'new',
      metadata: { keep: 1, added: 'x' },
      version: 4,
      expiresAt: new Date(NOW + 3600_000).toISOString(),
      consecutiveFailures: 0,
      failingSince: null,
      lastErrorCode: null,
    });
    expect(sa.attempt).toMatchObject({
      outcome: 'rotated',
      providerRotated: true,
      versionAfter: 4,
      commitWindowUs: 42,
      tokenFingerprint: 'fp-1',
    });
  });

  it.each([['pool'], ['transaction']])(
    '%s: a retried commit of the same write is idempotent; a stale version loses the race',
    async (path) => {
      const run = (c: RotationCommit) => (path === 'pool' ? store.commitRotation(c) : inTx((s) => s.commitRotation(c)));
      const a = await claimed();
      expect(await run(commit(a.id, a.attemptId, a.version))).toBe(4);
      expect(await run(commit(a.id, a.attemptId, a.version))).toBe(4);
      const b = await claimed();
      expect(await run(commit(b.id, b.attemptId, b.version - 1))).toBeNull();
      const sb = await state(b.id, b.attemptId);
      expect(sb.connection).toMatchObject({ version: 3, refreshTokenEnc: 'rt-old' });
      expect(sb.attempt).toMatchObject({ outcome: 'lost_race', providerRotated: true, versionAfter: null });
    },
  );
});
