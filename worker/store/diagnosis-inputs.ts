// The reads behind a connection's diagnosis (`ops why` and the console's connection page): its
// last attempts, its provider's breaker row, sibling connections, and how many active connections
// of the provider share its last error.
import type { Db } from './db.ts';

export interface PeerRow {
  id: string;
  externalId: string;
  status: string;
  createdAt: Date;
  reauthAt: Date | null;
  metadata: unknown;
}

export function lastAttempts(db: Db, connectionId: string, take: number) {
  return db.refreshAttempt.findMany({ where: { connectionId }, orderBy: { startedAt: 'desc' }, take });
}

/** Other connections of the provider whose metadata contains `hint` (bounded; the caller matches exactly). */
export function peersContaining(db: Db, provider: string, selfId: string, hint: string): Promise<PeerRow[]> {
  const like = `%${hint.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;
  return db.$queryRaw<PeerRow[]>`
    SELECT "id"::text AS id, "externalId", "status"::text AS status, "createdAt", "reauthAt", "metadata"
    FROM "Connection"
    WHERE "provider" = ${provider} AND "id" <> ${selfId}::uuid AND "metadata"::text LIKE ${like}
    LIMIT 5000`;
}

export function activeWithError(db: Db, provider: string, errorCode: string): Promise<number> {
  return db.connection.count({ where: { provider, status: 'active', lastErrorCode: errorCode } });
}
