// Aggregates over refresh attempts for reports: `ops report`'s dead-grant counts and the
// console's hourly chart.
import type { Db } from './db.ts';

export interface DeadGrantRow {
  provider: string;
  metadata: unknown;
  /** In the current period (else the previous one). */
  cur: boolean;
  n: number;
}

/** Dead-grant answers (needs_reauth or invalid_grant) per provider and metadata, both periods. */
export function deadGrantCounts(db: Db, from: Date, prevFrom: Date): Promise<DeadGrantRow[]> {
  return db.$queryRaw<DeadGrantRow[]>`
    SELECT a."provider", c."metadata", (a."startedAt" >= ${from}) AS cur, count(*)::int AS n
    FROM "RefreshAttempt" a JOIN "Connection" c ON c."id" = a."connectionId"
    WHERE a."startedAt" >= ${prevFrom} AND (a."outcome" = 'needs_reauth' OR a."errorCode" = 'invalid_grant')
    GROUP BY a."provider", c."metadata", cur`;
}

export interface HourlyRow {
  provider: string;
  /** Hours since `from` (0 is the oldest). */
  bucket: number;
  refreshes: number;
  failures: number;
  needsReauth: number;
  deadGrants: number;
}

/** Attempts per provider and hour since `from`: successes, failures, needs_reauth, dead grants. */
export function hourlyAttempts(db: Db, from: Date): Promise<HourlyRow[]> {
  return db.$queryRaw<HourlyRow[]>`
    SELECT "provider", floor(extract(epoch FROM ("startedAt" - ${from})) / 3600)::int AS bucket,
      (count(*) FILTER (WHERE "outcome" IN ('rotated', 'lost_race')))::int AS refreshes,
      (count(*) FILTER (WHERE "outcome" IN ('transient', 'misconfigured')))::int AS failures,
      (count(*) FILTER (WHERE "outcome" = 'needs_reauth'))::int AS "needsReauth",
      (count(*) FILTER (WHERE "outcome" = 'needs_reauth' OR "errorCode" = 'invalid_grant'))::int AS "deadGrants"
    FROM "RefreshAttempt"
    WHERE "startedAt" >= ${from}
    GROUP BY "provider", bucket`;
}
