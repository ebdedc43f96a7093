// The credential breaker's shared state (ProviderState, one row per provider) and the outbox events
// of its transitions, each written in the same transaction as the transition.
import type { ProviderState } from '../generated/prisma/client.ts';
import type { Db } from './db.ts';
import { enqueueEvent } from './outbox.ts';

export function readProviderState(db: Db, provider: string): Promise<ProviderState | null> {
  return db.providerState.findUnique({ where: { provider } });
}

export function providerStates(db: Db, providers: string[]): Promise<ProviderState[]> {
  return db.providerState.findMany({ where: { provider: { in: providers } } });
}

/** Rows whose breaker is open or half-open (checked at start against the current credentials). */
export function openBreakerStates(db: Db): Promise<ProviderState[]> {
  return db.providerState.findMany({ where: { breakerState: { not: 'closed' } } });
}

/** Claims the one probe of this interval across all processes: true for whoever moved lastProbeAt. */
export async function claimProbe(db: Db, provider: string, nowMs: number, probeIntervalMs: number): Promise<boolean> {
  const claimed = await db.$executeRaw`
    UPDATE "ProviderState" SET "breakerState" = 'half_open', "lastProbeAt" = ${new Date(nowMs)}, "updatedAt" = ${new Date(nowMs)}
    WHERE "provider" = ${provider} AND "breakerState" <> 'closed'
      AND ("lastProbeAt" IS NULL OR "lastProbeAt" <= ${new Date(nowMs - probeIntervalMs)})`;
  return claimed === 1;
}

export interface BreakerOpening {
  provider: string;
  fingerprint: string;
  code: string;
  /** Already scrubbed of secrets and truncated. */
  description: string;
  nowMs: number;
  probeIntervalMs: number;
}

/** Opens (or keeps open) the breaker; emits provider.credentials_invalid when it was closed. */
export async function recordBreakerOpen(db: Db, o: BreakerOpening): Promise<{ wasClosed: boolean; openedAt: Date }> {
  const now = new Date(o.nowMs);
  return db.$transaction(async (tx) => {
    await tx.$executeRaw`
      INSERT INTO "ProviderState" ("provider", "breakerState", "updatedAt") VALUES (${o.provider}, 'closed', ${now})
      ON CONFLICT ("provider") DO NOTHING`;
    const rows = await tx.$queryRaw<{ breakerState: string; openedAt: Date | null }[]>`
      SELECT "breakerState", "openedAt" FROM "ProviderState" WHERE "provider" = ${o.provider} FOR UPDATE`;
    const wasClosed = rows[0]?.breakerState !== 'open' && rows[0]?.breakerState !== 'half_open';
    await tx.providerState.update({
      where: { provider: o.provider },
      data: {
        breakerState: 'open',
        ...(wasClosed ? { openedAt: now } : {}),
        lastProbeAt: now,
        lastErrorCode: o.code,
        lastErrorDescription: o.description,
        credentialsFingerprint: o.fingerprint,
      },
    });
    if (wasClosed) {
      await enqueueEvent(tx, 'provider.credentials_invalid', {
        provider: o.provider,
        payload: {
          provider: o.provider,
          errorCode: o.code,
          errorDescription: o.description,
          openedAt: now.toISOString(),
          probeIntervalMs: o.probeIntervalMs,
        },
      });
    }
    return { wasClosed, openedAt: wasClosed ? now : (rows[0]?.openedAt ?? now) };
  });
}

/** Closes the breaker if it is not closed; emits provider.credentials_restored once. False: it was closed. */
export async function recordBreakerClose(
  db: Db,
  c: { provider: string; fingerprint: string; reason: string; nowMs: number },
): Promise<boolean> {
  const now = new Date(c.nowMs);
  return db.$transaction(async (tx) => {
    const rows = await tx.$queryRaw<{ breakerState: string; openedAt: Date | null; lastErrorCode: string | null }[]>`
      SELECT "breakerState", "openedAt", "lastErrorCode" FROM "ProviderState" WHERE "provider" = ${c.provider} FOR UPDATE`;
    const row = rows[0];
    if (!row || row.breakerState === 'closed') return false;
    await tx.providerState.update({
      where: { provider: c.provider },
      data: { breakerState: 'closed', openedAt: null, credentialsFingerprint: c.fingerprint },
    });
    await enqueueEvent(tx, 'provider.credentials_restored', {
      provider: c.provider,
      payload: {
        provider: c.provider,
        reason: c.reason,
        openedAt: row.openedAt?.toISOString() ?? null,
        closedAt: now.toISOString(),
        openForMs: row.openedAt ? c.nowMs - row.openedAt.getTime() : null,
        lastErrorCode: row.lastErrorCode,
      },
    });
    return true;
  });
}
