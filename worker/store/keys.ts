// Reads of which encryption key protects which stored tokens (the start-up key check).
import type { Db } from './db.ts';

/** Connections per encKeyId, ordered by key id. */
export async function countConnectionsByKey(db: Db): Promise<{ encKeyId: string; n: number }[]> {
  const rows = await db.$queryRaw<{ encKeyId: string; n: bigint }[]>`
    SELECT "encKeyId", count(*) AS n FROM "Connection" GROUP BY "encKeyId" ORDER BY "encKeyId"`;
  return rows.map((r) => ({ encKeyId: r.encKeyId, n: Number(r.n) }));
}

/** The ciphertexts of the most recently updated connections encrypted under one key. */
export function sampleCiphertexts(
  db: Db,
  encKeyId: string,
  take: number,
): Promise<{ id: string; accessTokenEnc: string; refreshTokenEnc: string }[]> {
  return db.connection.findMany({
    where: { encKeyId },
    select: { id: true, accessTokenEnc: true, refreshTokenEnc: true },
    orderBy: { updatedAt: 'desc' },
    take,
  });
}
