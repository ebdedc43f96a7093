// Read-only connection lookups for the HTTP API (the refresh path's reads are in connections.ts).
import type { Connection } from '../generated/prisma/client.ts';
import type { Db } from './db.ts';

export type ConnectionStatus = 'active' | 'needs_reauth';

/** One page of connections in id order; `after` is the last id of the previous page. */
export interface ConnectionPageQuery {
  status?: ConnectionStatus;
  provider?: string;
  externalId?: string;
  after?: string;
  limit: number;
}

export function connectionById(db: Db, id: string): Promise<Connection | null> {
  return db.connection.findUnique({ where: { id } });
}

export function connectionPage(db: Db, q: ConnectionPageQuery): Promise<Connection[]> {
  return db.connection.findMany({
    where: {
      ...(q.status ? { status: q.status } : {}),
      ...(q.provider ? { provider: q.provider } : {}),
      ...(q.externalId ? { externalId: q.externalId } : {}),
      ...(q.after ? { id: { gt: q.after } } : {}),
    },
    orderBy: { id: 'asc' },
    take: q.limit,
  });
}

/** The planned next refresh of each connection (the queue dashboard shows it for the jobs on a page). */
export async function nextRefreshTimes(db: Db, ids: string[]): Promise<Map<string, Date | null>> {
  if (!ids.length) return new Map();
  const rows = await db.connection.findMany({ where: { id: { in: ids } }, select: { id: true, nextRefreshAt: true } });
  return new Map(rows.map((r) => [r.id, r.nextRefreshAt]));
}
