// The console's reads: connection counts by provider and status, and the filtered, paged list.
// Read-only; every filter is a bound parameter.
import type { Connection, Prisma } from '../generated/prisma/client.ts';
import type { Db } from './db.ts';

export interface StatusCount {
  provider: string;
  status: 'active' | 'needs_reauth';
  count: number;
}

export async function countsByProviderStatus(db: Db): Promise<StatusCount[]> {
  const rows = await db.connection.groupBy({
    by: ['provider', 'status'],
    _count: { _all: true },
    orderBy: [{ provider: 'asc' }, { status: 'asc' }],
  });
  return rows.map((r) => ({ provider: r.provider, status: r.status, count: r._count._all }));
}

export interface ConnectionFilter {
  status?: 'active' | 'needs_reauth';
  provider?: string;
  /** A substring of the externalId (case-insensitive). */
  search?: string;
  reauthReason?: string;
}

function whereOf(f: ConnectionFilter): Prisma.ConnectionWhereInput {
  return {
    ...(f.status ? { status: f.status } : {}),
    ...(f.provider ? { provider: f.provider } : {}),
    ...(f.search ? { externalId: { contains: f.search, mode: 'insensitive' as const } } : {}),
    ...(f.reauthReason ? { reauthReason: f.reauthReason } : {}),
  };
}

/** One page, newest first, and the total that matches. */
export async function filteredConnections(
  db: Db,
  f: ConnectionFilter,
  page: { offset: number; limit: number },
): Promise<{ rows: Connection[]; total: number }> {
  const where = whereOf(f);
  const [rows, total] = await Promise.all([
    db.connection.findMany({
      where,
      orderBy: [{ createdAt: 'desc' }, { id: 'asc' }],
      skip: page.offset,
      take: page.limit,
    }),
    db.connection.count({ where }),
  ]);
  return { rows, total };
}

/** The re-authorization reasons in use (for the filter's choices). */
export async function reauthReasons(db: Db): Promise<string[]> {
  const rows = await db.connection.groupBy({
    by: ['reauthReason'],
    where: { reauthReason: { not: null } },
    orderBy: { reauthReason: 'asc' },
  });
  return rows.map((r) => r.reauthReason!).filter(Boolean);
}
