// Transactional outbox: an event row is written in the same transaction as the state change that
// causes it, so no state changes without its event and no event leaves for a rolled-back change.
import type { Prisma } from '../generated/prisma/client.ts';
import type { Db } from './db.ts';

export type EventType =
  | 'connection.created'
  | 'connection.needs_reauth'
  | 'connection.recovered'
  | 'connection.refresh_failing'
  | 'provider.credentials_invalid'
  | 'provider.credentials_restored';

type Tx = Prisma.TransactionClient;

export async function enqueueEvent(
  tx: Tx,
  type: EventType,
  data: { connectionId?: string; provider?: string; payload: Record<string, unknown> },
): Promise<void> {
  await tx.outboxEvent.create({
    data: {
      type,
      connectionId: data.connectionId ?? null,
      provider: data.provider ?? null,
      payload: data.payload as Prisma.InputJsonValue,
    },
  });
}

/** An event the dispatcher claimed (leased) for one delivery attempt. */
export interface ClaimedEvent {
  id: string;
  type: string;
  connectionId: string | null;
  provider: string | null;
  payload: unknown;
  createdAt: Date;
  attempts: number;
}

/**
 * The dispatcher's claim ($1 lease until, $2 now, $3 batch size): due undelivered events whose
 * connection (or, for provider events, provider) has no older event still pending, leased in the
 * same statement. Both lookups run on the partial indexes over pending rows (schema.prisma):
 * the oldest pending in (createdAt, id) order, and one probe per candidate into
 * (connectionId, createdAt, id). The two NOT EXISTS are separate (not one CASE) so that the probe
 * can use the index. The bench prints its plan at 1,000,000 rows (scripts/bench.ts, phase outbox).
 */
export const OUTBOX_CLAIM_SQL = `
  UPDATE "OutboxEvent" AS o SET "nextAttemptAt" = $1
  WHERE o."id" IN (
    SELECT e."id" FROM "OutboxEvent" e
    WHERE e."deliveredAt" IS NULL AND e."deadAt" IS NULL AND e."nextAttemptAt" <= $2
      AND NOT EXISTS (
        SELECT 1 FROM "OutboxEvent" p
        WHERE e."connectionId" IS NOT NULL AND p."connectionId" = e."connectionId"
          AND p."deliveredAt" IS NULL AND p."deadAt" IS NULL
          AND (p."createdAt", p."id") < (e."createdAt", e."id")
      )
      AND NOT EXISTS (
        SELECT 1 FROM "OutboxEvent" p
        WHERE e."connectionId" IS NULL AND p."connectionId" IS NULL AND p."provider" IS NOT DISTINCT FROM e."provider"
          AND p."deliveredAt" IS NULL AND p."deadAt" IS NULL
          AND (p."createdAt", p."id") < (e."createdAt", e."id")
      )
    ORDER BY e."createdAt", e."id"
    LIMIT $3
    FOR UPDATE SKIP LOCKED
  )
  RETURNING o."id", o."type", o."connectionId", o."provider", o."payload", o."createdAt", o."attempts"`;

/** Claims up to `batchSize` due events in order and leases them until `leaseUntil`. */
export function claimDueEvents(
  db: Db,
  at: { now: Date; leaseUntil: Date; batchSize: number },
): Promise<ClaimedEvent[]> {
  // Parameters are bound ($1..$3), never spliced into the text.
  return db.$queryRawUnsafe<ClaimedEvent[]>(OUTBOX_CLAIM_SQL, at.leaseUntil, at.now, at.batchSize);
}
