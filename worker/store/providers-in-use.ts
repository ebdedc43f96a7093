// Which providers have connections: a process runs refresh workers only for providers in use.
import type { Db } from './db.ts';

/**
 * The distinct providers of the Connection table. A loose index scan on (provider, status, id):
 * one index probe per provider, so it stays cheap at 100 million rows (a plain DISTINCT reads them all).
 */
export async function providersWithConnections(db: Db): Promise<string[]> {
  const rows = await db.$queryRaw<{ provider: string | null }[]>`
    WITH RECURSIVE p AS (
      (SELECT "provider" FROM "Connection" ORDER BY "provider" LIMIT 1)
      UNION ALL
      SELECT (SELECT c."provider" FROM "Connection" c WHERE c."provider" > p."provider" ORDER BY c."provider" LIMIT 1)
      FROM p WHERE p."provider" IS NOT NULL
    )
    SELECT "provider" FROM p WHERE "provider" IS NOT NULL`;
  return rows.map((r) => r.provider!);
}
