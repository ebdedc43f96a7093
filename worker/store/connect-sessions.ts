// Connect sessions (hosted connect / reconnect flow). Only hashes of the connect token, the state
// and the browser binding are stored; consuming a state is one atomic UPDATE.
import type { ConnectSession, Prisma } from '../generated/prisma/client.ts';
import type { Db } from './db.ts';

type Tx = Prisma.TransactionClient;

export type { ConnectSession };

export type SessionStatus = 'pending' | 'completed' | 'failed' | 'expired';

/** Why a callback's state was refused (read-only lookup, after the atomic consume found nothing). */
export type StateRefusal = 'unknown' | 'used' | 'expired' | 'other_browser';

export function statusOf(s: Pick<ConnectSession, 'status' | 'expiresAt'>, nowMs: number): SessionStatus {
  if (s.status === 'pending' && s.expiresAt.getTime() <= nowMs) return 'expired';
  return s.status as SessionStatus;
}

export class ConnectSessions {
  constructor(private readonly db: Db) {}

  create(data: {
    tokenHash: string;
    provider: string;
    externalId: string;
    returnUrl: string;
    connectionId: string | null;
    scopes: string[];
    metadata: Record<string, unknown>;
    expiresAt: Date;
  }): Promise<ConnectSession> {
    return this.db.connectSession.create({ data: { ...data, metadata: data.metadata as Prisma.InputJsonValue } });
  }

  byId(id: string): Promise<ConnectSession | null> {
    return this.db.connectSession.findUnique({ where: { id } });
  }

  byTokenHash(tokenHash: string): Promise<ConnectSession | null> {
    return this.db.connectSession.findUnique({ where: { tokenHash } });
  }

  /**
   * A visit to the connect link: a fresh state, verifier and browser binding replace any earlier
   * visit's (only the latest tab can finish). Null when the session is no longer startable.
   */
  async begin(
    id: string,
    v: { stateHash: string; bindingHash: string; codeVerifierEnc: string | null },
    now: Date,
  ): Promise<ConnectSession | null> {
    const rows = await this.db.$queryRaw<{ id: string }[]>`
      UPDATE "ConnectSession" SET "stateHash" = ${v.stateHash}, "bindingHash" = ${v.bindingHash}, "codeVerifierEnc" = ${v.codeVerifierEnc}, "startedAt" = ${now}
      WHERE "id" = ${id}::uuid AND "status" = 'pending' AND "stateConsumedAt" IS NULL AND "expiresAt" > ${now}
      RETURNING "id"`;
    return rows.length ? this.byId(id) : null;
  }

  /** Consumes a state atomically: only once, only from the browser it was issued to, only in time. */
  async consume(stateHash: string, bindingHash: string, now: Date): Promise<ConnectSession | null> {
    const rows = await this.db.$queryRaw<{ id: string }[]>`
      UPDATE "ConnectSession" SET "stateConsumedAt" = ${now}
      WHERE "stateHash" = ${stateHash} AND "bindingHash" = ${bindingHash} AND "stateConsumedAt" IS NULL
        AND "status" = 'pending' AND "expiresAt" > ${now}
      RETURNING "id"`;
    return rows.length ? this.byId(rows[0].id) : null;
  }

  /** Why consume() found nothing. Reads only: a refused callback changes nothing. */
  async refusal(
    stateHash: string,
    bindingHash: string | null,
    now: Date,
  ): Promise<{ why: StateRefusal; session?: ConnectSession }> {
    const s = await this.db.connectSession.findUnique({ where: { stateHash } });
    if (!s) return { why: 'unknown' };
    if (s.stateConsumedAt || s.status !== 'pending') return { why: 'used', session: s };
    if (s.expiresAt.getTime() <= now.getTime()) return { why: 'expired', session: s };
    if (bindingHash !== s.bindingHash) return { why: 'other_browser', session: s };
    return { why: 'used', session: s };
  }

  async finish(
    id: string,
    r: {
      status: 'completed' | 'failed';
      outcome?: 'connected' | 'reconnected';
      resultConnectionId?: string;
      errorCode?: string;
      errorDescription?: string;
    },
    now: Date,
    tx: Tx | Db = this.db,
  ): Promise<void> {
    await tx.connectSession.update({
      where: { id },
      data: {
        status: r.status,
        outcome: r.outcome ?? null,
        resultConnectionId: r.resultConnectionId ?? null,
        errorCode: r.errorCode ?? null,
        errorDescription: r.errorDescription ?? null,
        finishedAt: now,
        // The verifier is useless after the exchange; do not keep it.
        codeVerifierEnc: null,
      },
    });
  }

  /** Sessions about one connection (by result or by provider + externalId), newest first. */
  history(c: { id: string; provider: string; externalId: string }, limit = 20): Promise<ConnectSession[]> {
    return this.db.connectSession.findMany({
      where: {
        OR: [{ resultConnectionId: c.id }, { connectionId: c.id }, { provider: c.provider, externalId: c.externalId }],
      },
      orderBy: { createdAt: 'desc' },
      take: limit,
    });
  }
}
