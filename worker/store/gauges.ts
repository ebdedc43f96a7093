// What the metrics gauges read from PostgreSQL when scraped: counts only, never a row's content.
import type { Db } from './db.ts';

export interface ConnectionCounts {
  byStatus: { provider: string; status: string; count: number }[];
  /** Active connections whose latest refresh failed, per provider. */
  failing: { provider: string; count: number }[];
}

export async function connectionCounts(db: Db): Promise<ConnectionCounts> {
  const [byStatus, failing] = await Promise.all([
    db.connection.groupBy({ by: ['provider', 'status'], _count: { _all: true } }),
    db.connection.groupBy({
      by: ['provider'],
      where: { status: 'active', lastErrorCode: { not: null } },
      _count: { _all: true },
    }),
  ]);
  return {
    byStatus: byStatus.map((r) => ({ provider: r.provider, status: r.status, count: r._count._all })),
    failing: failing.map((r) => ({ provider: r.provider, count: r._count._all })),
  };
}

export function breakerStates(db: Db): Promise<{ provider: string; breakerState: string }[]> {
  return db.providerState.findMany({ select: { provider: true, breakerState: true } });
}

export async function outboxBacklog(db: Db): Promise<{ pending: number; dead: number; oldestPendingAt: Date | null }> {
  const [pending, dead, oldest] = await Promise.all([
    db.outboxEvent.count({ where: { deliveredAt: null, deadAt: null } }),
    db.outboxEvent.count({ where: { deliveredAt: null, deadAt: { not: null } } }),
    db.outboxEvent.findFirst({
      where: { deliveredAt: null, deadAt: null },
      orderBy: { createdAt: 'asc' },
      select: { createdAt: true },
    }),
  ]);
  return { pending, dead, oldestPendingAt: oldest?.createdAt ?? null };
}
