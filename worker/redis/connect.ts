// One factory for every Redis client of the daemon, the ops commands, the bench and the tests:
// REDIS_CLUSTER_NODES set -> an ioredis Cluster over those seed nodes, else one Redis at REDIS_URL.
import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';

/** A Redis client: one node or a cluster (BullMQ and our lock scripts accept both). */
export type RedisClient = Redis | Cluster;

/**
 * REDIS_USERNAME / REDIS_PASSWORD (AUTH, ACL user) and REDIS_TLS: for every cluster node; for one
 * node they fill in what REDIS_URL does not say (a URL's own user, password and rediss:// win).
 */
export interface RedisAuth {
  username?: string;
  password?: string;
  tls: boolean;
}

/** Where Redis is: one URL, or the seed nodes of a cluster (REDIS_URL is then not used). */
export type RedisTarget =
  | { kind: 'single'; url: string; auth?: RedisAuth }
  | { kind: 'cluster'; nodes: { host: string; port: number }[]; auth?: RedisAuth };

/**
 * Parses REDIS_CLUSTER_NODES ("host:port,host:port"); returns an error message, never throws, so
 * the configuration can name the variable.
 */
export function parseClusterNodes(raw: string): { host: string; port: number }[] | string {
  const nodes: { host: string; port: number }[] = [];
  for (const part of raw.split(',').map((s) => s.trim())) {
    if (!part) continue;
    const m = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/.exec(part);
    const port = m ? Number(m[2]) : NaN;
    if (!m || port < 1 || port > 65535) return `must be host:port[,host:port...], got "${part}"`;
    nodes.push({ host: m[1].replace(/^\[|\]$/g, ''), port });
  }
  if (!nodes.length) return 'must name at least one host:port';
  return nodes;
}

export interface ClientOptions {
  /**
   * 'queue': BullMQ's client, must never give up on a command (maxRetriesPerRequest null);
   * 'general': fails a command fast when Redis is away (the caller retries later).
   */
  role: 'queue' | 'general';
  lazyConnect?: boolean;
  /** Sends concurrent commands in one write; not for BullMQ's client (BullMQ does not support it). */
  autoPipelining?: boolean;
  /** Extra per-node options (timeouts, retry strategy) for short-lived probes. */
  node?: RedisOptions;
}

export function createRedis(target: RedisTarget, o: ClientOptions): RedisClient {
  if (target.kind === 'single') return createSingleRedis(target.url, o, target.auth);
  const seeds: ClusterNode[] = target.nodes.map((n) => ({ host: n.host, port: n.port }));
  return new Cluster(seeds, clusterOptions(target, o));
}

/** One node, typed as such: for the tests and tools that start their own redis-server. */
export function createSingleRedis(url: string, o: ClientOptions, auth?: RedisAuth): Redis {
  return new Redis(url, singleOptions({ kind: 'single', url, auth }, o));
}

/** The general client's bound on one command: a lock call must never hang a refresh. */
const GENERAL_COMMAND_TIMEOUT_MS = 5000;

function nodeOptions(auth: RedisAuth | undefined, o: ClientOptions): RedisOptions {
  return {
    maxRetriesPerRequest: o.role === 'queue' ? null : 3,
    ...(o.role === 'general' ? { commandTimeout: GENERAL_COMMAND_TIMEOUT_MS } : {}),
    lazyConnect: o.lazyConnect ?? false,
    ...(auth?.username ? { username: auth.username } : {}),
    ...(auth?.password ? { password: auth.password } : {}),
    ...(auth?.tls ? { tls: {} } : {}),
    ...o.node,
  };
}

/** The options of one node's client (pure: unit-tested). */
export function singleOptions(target: RedisTarget & { kind: 'single' }, o: ClientOptions): RedisOptions {
  return { ...nodeOptions(target.auth, o), enableAutoPipelining: o.autoPipelining };
}

/** The options of a cluster client (pure: unit-tested). */
export function clusterOptions(target: RedisTarget & { kind: 'cluster' }, o: ClientOptions): ClusterOptions {
  const node = nodeOptions(target.auth, o);
  return {
    lazyConnect: node.lazyConnect,
    enableReadyCheck: true,
    // Not on a cluster: an auto-pipelined batch caught by a failover fails with MOVED instead of
    // following the redirection (seen in test/cluster/failover.test.ts).
    enableAutoPipelining: false,
    // A failover moves slots: follow MOVED/ASK and refresh the slot map instead of failing commands.
    maxRedirections: 32,
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 200,
    slotsRefreshTimeout: 2000,
    // Re-read the slot map now and then too: a replica promoted while this client was idle is found
    // without waiting for a command to fail.
    slotsRefreshInterval: 5000,
    // Cluster-level retries: BullMQ's client keeps retrying while a master fails over.
    clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
    // TLS certificates name the host: connect by the name given, not the address it resolves to
    // (what ElastiCache and MemoryStore need with in-transit encryption).
    ...(target.auth?.tls
      ? { dnsLookup: (address: string, cb: (e: null, a: string) => void) => cb(null, address) }
      : {}),
    redisOptions: { ...node, lazyConnect: undefined },
  };
}

/** The masters of a client: one node, or every master of the cluster (FLUSHALL, SCAN, INFO go to each). */
export function masters(r: RedisClient): Redis[] {
  return r instanceof Cluster ? r.nodes('master') : [r];
}

/**
 * Why Redis cannot serve every key now, or undefined: one node answers PING; a cluster must have
 * every slot's master connected and answering, and cluster_state:ok (a killed master leaves its
 * slots without a master until its replica is promoted).
 */
export async function redisProblem(r: RedisClient): Promise<string | undefined> {
  try {
    if (!(r instanceof Cluster)) {
      await r.ping();
      return undefined;
    }
    const nodes = r.nodes('master');
    const connected = new Set(nodes.map((n) => `${n.options.host}:${n.options.port}`));
    const orphan = r.slots.findIndex((s) => !s?.[0] || !connected.has(s[0]));
    if (r.slots.length < 16384 || orphan >= 0)
      return `slot ${orphan < 0 ? r.slots.length : orphan} has no connected master`;
    await Promise.all(nodes.map((n) => n.ping()));
    const info = String(await nodes[0].cluster('INFO'));
    return /cluster_state:ok/.test(info) ? undefined : 'cluster_state is not ok';
  } catch (e) {
    return (e as Error).message;
  }
}

/** The target from the environment (scripts and tests; the daemon goes through its Config). */
export function targetFromEnv(env: Record<string, string | undefined> = process.env): RedisTarget {
  const auth = authFromEnv(env);
  const raw = env.REDIS_CLUSTER_NODES;
  if (raw) {
    const nodes = parseClusterNodes(raw);
    if (typeof nodes === 'string') throw new Error(`REDIS_CLUSTER_NODES: ${nodes}`);
    return { kind: 'cluster', nodes, auth };
  }
  return { kind: 'single', url: env.REDIS_URL || 'redis://127.0.0.1:6379', auth };
}

function authFromEnv(env: Record<string, string | undefined>): RedisAuth | undefined {
  const auth: RedisAuth = {
    username: env.REDIS_USERNAME || undefined,
    password: env.REDIS_PASSWORD || undefined,
    tls: /^(1|true|yes|on)$/i.test(env.REDIS_TLS ?? ''),
  };
  return auth.username || auth.password || auth.tls ? auth : undefined;
}
