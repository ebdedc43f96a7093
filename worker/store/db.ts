// PostgreSQL through Prisma 7 and the pg driver adapter.
import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.ts';

export type Db = PrismaClient;

const pools = new WeakMap<object, pg.Pool>();

export function createDb(databaseUrl: string, opts: { poolSize?: number } = {}): Db {
  // Our own pg pool, shared with Prisma's adapter, so the refresh hot path can run its three
  // statements as prepared statements on the same connections (see hotPool / ConnectionStore).
  const pool = new pg.Pool({ connectionString: databaseUrl, max: opts.poolSize ?? 10, connectionTimeoutMillis: 5000 });
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  const db = new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) });
  pools.set(db, pool);
  return db;
}

/**
 * The pg pool under a Db made by createDb; undefined for anything else (a transaction client), so
 * callers fall back to Prisma and stay inside the transaction.
 */
export function hotPool(db: unknown): pg.Pool | undefined {
  return typeof db === 'object' && db !== null ? pools.get(db) : undefined;
}

export { PrismaClient };
