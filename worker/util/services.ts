// Reachability checks that fail in one readable line, naming the URL tried and how to start it.
import { Cluster } from 'ioredis';
import { createRedis, redisProblem, type RedisTarget } from '../redis/connect.ts';
import pg from 'pg';

export function maskUrl(u: string): string {
  try {
    const url = new URL(u);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '<invalid URL>';
  }
}

/** A readable name of a Redis target for logs and errors (never a password). */
export function describeRedis(t: RedisTarget): string {
  return t.kind === 'single' ? maskUrl(t.url) : `cluster ${t.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
}

export class ServiceUnavailable extends Error {
  /** `where`: a URL (its password is masked here) or a Redis target. */
  constructor(
    readonly service: 'PostgreSQL' | 'Redis',
    where: string | RedisTarget,
    reason: string,
    hintOverride?: string,
  ) {
    const hint =
      hintOverride ??
      (service === 'PostgreSQL'
        ? 'start it with "docker compose up -d postgres" (or your system service) or set DATABASE_URL'
        : typeof where !== 'string' && where.kind === 'cluster'
          ? 'check REDIS_CLUSTER_NODES (every seed is a cluster node) and that the cluster is up'
          : 'start it with "docker compose up -d redis" (or "redis-server --daemonize yes") or set REDIS_URL');
    super(
      `cannot reach ${service} at ${typeof where === 'string' ? maskUrl(where) : describeRedis(where)} (${reason}): ${hint}`,
    );
    this.name = 'ServiceUnavailable';
  }
}

export async function checkPostgres(url: string, timeoutMs = 3000): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  try {
    await client.connect();
    await client.query('select 1');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    // A missing database is reachable-but-not-migrated: say so plainly.
    if ((err as { code?: string }).code === '3D000') {
      throw new ServiceUnavailable(
        'PostgreSQL',
        url,
        'the database does not exist',
        'create and migrate it with "npm run db:migrate" (same DATABASE_URL)',
      );
    }
    throw new ServiceUnavailable('PostgreSQL', url, err.code ?? err.message.split('\n')[0]);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Reachability of one Redis (a URL) or of a cluster (REDIS_CLUSTER_NODES: its state must be ok). */
export async function checkRedis(target: string | RedisTarget, timeoutMs = 3000): Promise<void> {
  const t: RedisTarget = typeof target === 'string' ? { kind: 'single', url: target } : target;
  const r = createRedis(t, {
    role: 'general',
    lazyConnect: true,
    node: { connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false },
  });
  // connect() rejects with a generic "Connection is closed."; the real cause arrives as an event.
  let cause: NodeJS.ErrnoException | undefined;
  r.on('error', (e: NodeJS.ErrnoException) => {
    cause ??= e;
  });
  try {
    if (r instanceof Cluster) {
      // A cluster client retries its seeds on its own: bound the wait.
      await Promise.race([
        r.connect(),
        new Promise((_, rej) => setTimeout(() => rej(new Error('cluster not ready')), timeoutMs * 2).unref()),
      ]);
    } else {
      await r.connect();
    }
    const problem = await redisProblem(r);
    if (problem) throw new Error(problem);
  } catch (e) {
    const err = cause ?? (e as NodeJS.ErrnoException);
    throw new ServiceUnavailable('Redis', t, err.code ?? err.message.split('\n')[0]);
  } finally {
    r.disconnect();
  }
}
