// Shared lookups for ops commands.
import type { Connection, Prisma } from '../generated/prisma/client.ts';
import type { Db } from '../store/db.ts';
import { UsageError } from './args.ts';
import { isUuid } from '../util/ids.ts';

export class NotFound extends Error {}

/** A connection by id or by externalId (ambiguous externalIds need --provider). */
export async function findConnection(db: Db, ref: string | undefined, provider?: string): Promise<Connection> {
  if (!ref) throw new UsageError('give a connection id or externalId');
  if (isUuid(ref)) {
    const row = await db.connection.findUnique({ where: { id: ref } });
    if (row) return row;
  }
  const rows = await db.connection.findMany({
    where: { externalId: ref, ...(provider ? { provider } : {}) },
    take: 10,
  });
  if (rows.length === 1) return rows[0];
  if (rows.length > 1)
    throw new UsageError(
      `externalId "${ref}" exists for several providers (${rows.map((r) => r.provider).join(', ')}): add --provider`,
    );
  throw new NotFound(`no connection with id or externalId "${ref}"`);
}

export interface FailedFilter {
  provider?: string;
  errorCode?: string;
  sinceMs: number;
  now: number;
}

/**
 * "Failed refreshes": active connections whose latest attempt failed (transient or misconfigured)
 * within the window. BullMQ jobs never fail for expected outcomes; the row is the record.
 */
export function failedWhere(f: FailedFilter): Prisma.ConnectionWhereInput {
  return {
    status: 'active',
    lastErrorCode: f.errorCode ? f.errorCode : { not: null },
    lastErrorAt: { gte: new Date(f.now - f.sinceMs) },
    ...(f.provider ? { provider: f.provider } : {}),
  };
}

/** A failure that a later success already superseded (should not happen after a commit, kept defensive). */
export function refreshedSince(c: Pick<Connection, 'lastRefreshedAt' | 'lastErrorAt'>): boolean {
  return c.lastRefreshedAt !== null && c.lastErrorAt !== null && c.lastRefreshedAt.getTime() > c.lastErrorAt.getTime();
}
