// Queue policy, pure. REFRESH_QUEUE_SHARDS: a provider's refresh queue split into N queues, so one
// provider with millions of connections spreads over the nodes of a Redis Cluster (the rule and the
// split of the provider's limits). Providers in use: only these get workers, dashboard queues and
// queue gauges (22 built-ins x shards workers for providers nobody uses would only cost connections).
import type { ResolvedProvider } from '../providers/registry.ts';

/** The providers of the registry that are configured (client id and secret) or have connections. */
export function providersInUse(
  all: readonly ResolvedProvider[],
  withConnections: Iterable<string>,
): ResolvedProvider[] {
  const used = new Set(withConnections);
  return all.filter((p) => p.configured || used.has(p.key));
}

/** A provider's refresh queues: `refresh-<provider>` for one shard (the layout before shards), else `refresh-<provider>-<k>`. */
export function refreshQueueNames(provider: string, shards: number): string[] {
  if (shards <= 1) return [`refresh-${provider}`];
  return Array.from({ length: shards }, (_v, k) => `refresh-${provider}-${k}`);
}

/** 32-bit FNV-1a of a string's UTF-16 code units: stable across processes, versions and platforms. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The shard (0..shards-1) that holds a connection's job: every process must agree, so it is a hash of the id alone. */
export function shardOf(connectionId: string, shards: number): number {
  return shards <= 1 ? 0 : fnv1a(connectionId) % shards;
}

/** The name of the refresh queue that holds a connection's job. */
export function refreshQueueNameFor(provider: string, connectionId: string, shards: number): string {
  return shards <= 1 ? `refresh-${provider}` : `refresh-${provider}-${shardOf(connectionId, shards)}`;
}

/** One shard's part of a provider's limits. */
export interface ShardLimits {
  /** Jobs this process runs at once on the shard (BullMQ Worker concurrency, at least 1). */
  concurrency: number;
  /** BullMQ's limiter for the shard (shared by every process), or undefined for no limit. */
  limiter?: { max: number; duration: number };
}

/** `total` split into `n` whole parts that add up to it (the first total % n parts get one more). */
function part(total: number, n: number, k: number): number {
  return Math.floor(total / n) + (k < total % n ? 1 : 0);
}

/**
 * Shard k's part of a provider's `concurrency` (per process) and `ratePerSecond` (all processes).
 * Both are split so the parts add up to the provider's figure. A shard needs at least one slot, so a
 * concurrency below the shard count becomes one per shard (the total is then `shards`). A rate below
 * the shard count (or a fraction) gives each shard one request per window of shards/rate seconds:
 * the provider's total still averages `ratePerSecond`.
 */
export function shardLimits(p: { concurrency: number; ratePerSecond: number }, shards: number, k: number): ShardLimits {
  const n = Math.max(1, shards);
  const concurrency = Math.max(1, part(p.concurrency, n, k));
  const r = p.ratePerSecond;
  if (!(r > 0)) return { concurrency };
  if (n === 1) return { concurrency, limiter: { max: r, duration: 1000 } };
  if (Number.isInteger(r) && r >= n) return { concurrency, limiter: { max: part(r, n, k), duration: 1000 } };
  return { concurrency, limiter: { max: 1, duration: Math.ceil((1000 * n) / r) } };
}

/** What the watchdog knows of one refresh worker and its queue (schedule/workers.ts). */
export interface WorkerProgress {
  /** When the queue's earliest delayed job was due (ms), null when none is delayed. */
  earliestDueAt: number | null;
  /** Jobs this worker is processing now, and how many it may. */
  inFlight: number;
  concurrency: number;
  /** When this worker last started a job (or was created), ms. */
  lastStartAt: number;
}

/**
 * Is a worker stuck: a job overdue by more than stuckMs while the worker had a free slot and started
 * nothing for that long? A live worker with a free slot fetches at least every few seconds, and every
 * fetch moves due delayed jobs on; this has been seen after a Redis Cluster failover left a worker's
 * blocking connection waiting for an answer that never comes. A busy worker (every slot taken, e.g. a
 * slow provider) is never stuck by this rule.
 */
export function isWorkerStuck(w: WorkerProgress, nowMs: number, stuckMs: number): boolean {
  if (w.earliestDueAt === null || nowMs - w.earliestDueAt <= stuckMs) return false;
  return w.inFlight < w.concurrency && nowMs - w.lastStartAt > stuckMs;
}
