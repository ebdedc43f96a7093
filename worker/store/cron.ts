// The cron fan-out's reads and writes (schedule/cron.ts): page a provider's active connections,
// then plan a page of them in one statement.
import type { Db } from './db.ts';

/** One page of a provider's active connections by id (keyset: ids after `after`). */
export function activeConnectionsPage(
  db: Db,
  provider: string,
  after: string | undefined,
  take: number,
): Promise<{ id: string; nextRefreshAt: Date | null }[]> {
  return db.connection.findMany({
    where: { provider, status: 'active', ...(after ? { id: { gt: after } } : {}) },
    orderBy: { id: 'asc' },
    take,
    select: { id: true, nextRefreshAt: true },
  });
}

/** Sets each connection's nextRefreshAt, never later than what a concurrent refresh just planned. */
export async function planCronRefreshes(db: Db, targets: { id: string; at: number }[]): Promise<void> {
  if (targets.length === 0) return;
  const ids = targets.map((t) => t.id);
  const ats = targets.map((t) => new Date(t.at).toISOString());
  await db.$executeRaw`
    UPDATE "Connection" AS c SET "nextRefreshAt" = x.at::timestamp
    FROM (SELECT unnest(${ids}::uuid[]) AS id, unnest(${ats}::text[]) AS at) AS x
    WHERE c."id" = x.id AND c."status" = 'active'
      AND (c."nextRefreshAt" IS NULL OR c."nextRefreshAt" > x.at::timestamp)`;
}
