// The provider-wide outage hold's shared state (columns hold* of ProviderState, one row per
// provider), so every process holds, probes and releases together. The rules are in
// providers/outage-policy.ts; the gate that drives them is gate/outage-hold.ts.
import type { ProviderState } from '../generated/prisma/client.ts';
import { CLOSED_HOLD, type HoldSnapshot, type HoldState } from '../providers/outage-policy.ts';
import type { Db } from './db.ts';

type HoldRow = Pick<ProviderState, 'holdState' | 'holdSince' | 'holdNextProbeAt' | 'holdProbes'>;

export function holdOf(row: HoldRow | null | undefined): HoldSnapshot {
  if (!row || row.holdState === 'closed') return CLOSED_HOLD;
  return {
    state: row.holdState as HoldState,
    since: row.holdSince?.getTime() ?? null,
    nextProbeAt: row.holdNextProbeAt?.getTime() ?? null,
    probes: row.holdProbes,
  };
}

const date = (ms: number | null) => (ms === null ? null : new Date(ms));

export async function readHold(db: Db, provider: string): Promise<HoldSnapshot> {
  return holdOf(
    await db.providerState.findUnique({
      where: { provider },
      select: { holdState: true, holdSince: true, holdNextProbeAt: true, holdProbes: true },
    }),
  );
}

/**
 * Opens the hold unless one is already on (another process may have opened it first); returns the
 * hold as it now is and whether this call opened it.
 */
export async function openHold(
  db: Db,
  provider: string,
  h: HoldSnapshot,
  nowMs: number,
): Promise<{ opened: boolean; hold: HoldSnapshot }> {
  const now = new Date(nowMs);
  const opened = await db.$executeRaw`
    INSERT INTO "ProviderState" ("provider", "holdState", "holdSince", "holdNextProbeAt", "holdProbes", "updatedAt")
    VALUES (${provider}, ${h.state}, ${date(h.since)}, ${date(h.nextProbeAt)}, ${h.probes}, ${now})
    ON CONFLICT ("provider") DO UPDATE SET "holdState" = EXCLUDED."holdState", "holdSince" = EXCLUDED."holdSince",
      "holdNextProbeAt" = EXCLUDED."holdNextProbeAt", "holdProbes" = EXCLUDED."holdProbes", "updatedAt" = EXCLUDED."updatedAt"
    WHERE "ProviderState"."holdState" = 'closed'`;
  return { opened: opened === 1, hold: opened === 1 ? h : await readHold(db, provider) };
}

/**
 * Claims the hold's one probe across all processes: only the caller that saw the hold as `seen`
 * (same probe count, probe due) moves it to `next`. True for the winner.
 */
export async function claimHoldProbe(
  db: Db,
  provider: string,
  seen: HoldSnapshot,
  next: HoldSnapshot,
  nowMs: number,
): Promise<boolean> {
  const n = await db.$executeRaw`
    UPDATE "ProviderState" SET "holdState" = ${next.state}, "holdProbes" = ${next.probes},
      "holdNextProbeAt" = ${date(next.nextProbeAt)}, "updatedAt" = ${new Date(nowMs)}
    WHERE "provider" = ${provider} AND "holdState" <> 'closed' AND "holdProbes" = ${seen.probes}
      AND ("holdNextProbeAt" IS NULL OR "holdNextProbeAt" <= ${new Date(nowMs)})`;
  return n === 1;
}

/** The probe failed: back to holding (the next probe time is the one its claim set). */
export async function failHoldProbe(db: Db, provider: string, h: HoldSnapshot, nowMs: number): Promise<void> {
  await db.$executeRaw`
    UPDATE "ProviderState" SET "holdState" = 'holding', "holdNextProbeAt" = ${date(h.nextProbeAt)}, "updatedAt" = ${new Date(nowMs)}
    WHERE "provider" = ${provider} AND "holdState" = 'probing' AND "holdProbes" = ${h.probes}`;
}

/** Ends the hold. Only the caller that actually closed it gets `released` (and releases the waiters). */
export async function releaseHold(
  db: Db,
  provider: string,
  nowMs: number,
): Promise<{ released: false } | { released: true; since: number; probes: number }> {
  const rows = await db.$queryRaw<{ since: Date | null; probes: number }[]>`
    UPDATE "ProviderState" AS s SET "holdState" = 'closed', "holdSince" = NULL, "holdNextProbeAt" = NULL,
      "holdProbes" = 0, "updatedAt" = ${new Date(nowMs)}
    FROM (SELECT "provider", "holdSince", "holdProbes" FROM "ProviderState" WHERE "provider" = ${provider} FOR UPDATE) AS old
    WHERE s."provider" = old."provider" AND s."holdState" <> 'closed'
    RETURNING old."holdSince" AS since, old."holdProbes" AS probes`;
  const r = rows[0];
  return r ? { released: true, since: r.since?.getTime() ?? nowMs, probes: r.probes } : { released: false };
}

/**
 * The connections that waited on the hold: active, of this provider, and due by `at` or failed since
 * `failedSince` and not refreshed since (their own retry time may lie later). Their plan becomes `at`, so the refresh that
 * the caller re-schedules for them is due; returns their ids, oldest plan first.
 */
export async function releaseHeldConnections(
  db: Db,
  provider: string,
  failedSince: Date,
  at: Date,
  limit: number,
): Promise<string[]> {
  const rows = await db.$queryRaw<{ id: string }[]>`
    UPDATE "Connection" AS c SET "nextRefreshAt" = ${at}
    FROM (
      SELECT "id" FROM "Connection"
      WHERE "provider" = ${provider} AND "status" = 'active'
        AND "nextRefreshAt" IS NOT NULL
        AND ("nextRefreshAt" <= ${at} OR ("lastErrorCode" IS NOT NULL AND "lastErrorAt" >= ${failedSince}))
      ORDER BY "nextRefreshAt" NULLS LAST, "id"
      LIMIT ${limit}
    ) AS w
    WHERE c."id" = w."id"
    RETURNING c."id"`;
  return rows.map((r) => r.id);
}
