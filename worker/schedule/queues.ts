// BullMQ carries the near future: refresh queues per provider (their own concurrency and rate
// limit, so a slow provider never holds another's slots), split into REFRESH_QUEUE_SHARDS queues
// (policy.ts), plus a maintenance queue for the feeder. Each queue's keys carry the queue's own
// hash tag (redis/keys.ts), so a queue lives in one Redis Cluster slot and queues spread over nodes.
import { Queue, type JobsOptions, type JobType } from 'bullmq';
import type { RedisClient } from '../redis/connect.ts';
import { jobKeyOf, queueKeyOf, queuePrefixFor } from '../redis/keys.ts';
import type { RefreshJobData } from '../interfaces.ts';
import { refreshQueueNameFor, refreshQueueNames } from './policy.ts';

export type { RefreshJobData } from '../interfaces.ts';

export const MAINTENANCE_QUEUE = 'maintenance';

/** Completed and failed jobs are removed at once: a finished job id must never block the next add. */
export const REFRESH_JOB_OPTS: JobsOptions = { removeOnComplete: true, removeOnFail: true };

type BulkJob = Parameters<Queue<RefreshJobData>['addBulk']>[0][number];

/** Items grouped by a key, each group in the items' order. */
function groupBy<K, T>(items: readonly T[], keyOf: (item: T) => K): Map<K, T[]> {
  const out = new Map<K, T[]>();
  for (const it of items) {
    const k = keyOf(it);
    const list = out.get(k);
    if (list) list.push(it);
    else out.set(k, [it]);
  }
  return out;
}

/** Adds jobs for a provider's connections, each to its own shard (one addBulk per shard queue). */
export async function addToShards<T extends { id: string }>(
  queues: Pick<Queues, 'refreshQueueFor'>,
  provider: string,
  items: readonly T[],
  job: (item: T) => BulkJob,
): Promise<void> {
  const byQueue = groupBy(items, (it) => queues.refreshQueueFor(provider, it.id));
  await Promise.all([...byQueue].map(([q, its]) => q.addBulk(its.map(job))));
}

export class Queues {
  private readonly refresh = new Map<string, Queue<RefreshJobData>>();
  readonly maintenance: Queue;

  constructor(
    readonly connection: RedisClient,
    /** QUEUE_PREFIX: the namespace of every key (redis/keys.ts). */
    readonly prefix: string,
    /** REFRESH_QUEUE_SHARDS. */
    readonly shards = 1,
  ) {
    this.maintenance = new Queue(MAINTENANCE_QUEUE, { connection, prefix: this.prefixOf(MAINTENANCE_QUEUE) });
  }

  /** BullMQ's `prefix` option for a queue: every Queue, Worker and QueueEvents of that queue must use it. */
  prefixOf(queueName: string): string {
    return queuePrefixFor(this.prefix, queueName);
  }

  /** The refresh queue that holds a connection's job (its shard). */
  refreshQueueFor(provider: string, connectionId: string): Queue<RefreshJobData> {
    return this.queue(refreshQueueNameFor(provider, connectionId, this.shards));
  }

  /** Every refresh queue (shard) of a provider. */
  refreshQueues(provider: string): Queue<RefreshJobData>[] {
    return refreshQueueNames(provider, this.shards).map((name) => this.queue(name));
  }

  /** A provider's job counts by state, summed over its shards. */
  async jobCounts(provider: string, ...states: JobType[]): Promise<Record<string, number>> {
    const per = await Promise.all(this.refreshQueues(provider).map((q) => q.getJobCounts(...states)));
    const sum: Record<string, number> = {};
    for (const c of per) for (const [k, n] of Object.entries(c)) sum[k] = (sum[k] ?? 0) + n;
    return sum;
  }

  /**
   * When a queue's earliest delayed job is due (ms), or null: one ZRANGE on its delayed set, whose
   * score BullMQ keeps as due time × 0x1000 + a counter.
   */
  async earliestDueAt(queueName: string): Promise<number | null> {
    const key = queueKeyOf(this.prefix, queueName, 'delayed');
    const [, score] = await this.connection.zrange(key, 0, 0, 'WITHSCORES');
    return score === undefined ? null : Math.floor(Number(score) / 0x1000);
  }

  all(): Queue[] {
    return [this.maintenance, ...this.refresh.values()];
  }

  /** The Redis key of a connection's job hash (job id = connection id). */
  jobKey(provider: string, jobId: string): string {
    return jobKeyOf(this.prefix, refreshQueueNameFor(provider, jobId, this.shards), jobId);
  }

  /**
   * Which connections have a job (on their shard), in the order given. One pipeline per queue: a
   * cluster pipeline may only hold keys of one slot's node, and each queue is one slot.
   */
  async haveJobs(items: readonly { provider: string; id: string }[]): Promise<boolean[]> {
    const byQueue = groupBy(
      items.map((_it, i) => i),
      (i) => refreshQueueNameFor(items[i].provider, items[i].id, this.shards),
    );
    const out = new Array<boolean>(items.length).fill(false);
    await Promise.all(
      [...byQueue].map(async ([name, idx]) => {
        const pipe = this.connection.pipeline();
        for (const i of idx) pipe.exists(jobKeyOf(this.prefix, name, items[i].id));
        const res = (await pipe.exec()) ?? [];
        // An error reads as "missing": adding a job id that exists is a no-op in BullMQ.
        idx.forEach((i, j) => (out[i] = res[j]?.[1] === 1));
      }),
    );
    return out;
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.all().map((q) => q.close()));
  }

  private queue(name: string): Queue<RefreshJobData> {
    let q = this.refresh.get(name);
    if (!q) {
      q = new Queue<RefreshJobData>(name, {
        connection: this.connection,
        prefix: this.prefixOf(name),
        defaultJobOptions: REFRESH_JOB_OPTS,
      });
      this.refresh.set(name, q);
    }
    return q;
  }
}
