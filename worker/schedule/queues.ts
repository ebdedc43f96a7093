// BullMQ carries the near future: one queue per provider (its own concurrency and rate limit, so a
// slow provider never holds another's slots) plus a maintenance queue for the feeder. The key
// prefix is hash-tagged ({...}) so every key of a queue lands in one Redis Cluster slot.
import { Queue, type JobsOptions } from 'bullmq';
import type { RedisClient } from '../redis/connect.ts';
import type { RefreshJobData } from '../interfaces.ts';

export type { RefreshJobData } from '../interfaces.ts';

export const MAINTENANCE_QUEUE = 'maintenance';
export const refreshQueueName = (provider: string) => `refresh-${provider}`;

/** Completed and failed jobs are removed at once: a finished job id must never block the next add. */
export const REFRESH_JOB_OPTS: JobsOptions = { removeOnComplete: true, removeOnFail: true };

export class Queues {
  private readonly refresh = new Map<string, Queue<RefreshJobData>>();
  readonly maintenance: Queue;

  constructor(
    readonly connection: RedisClient,
    readonly prefix: string,
  ) {
    this.maintenance = new Queue(MAINTENANCE_QUEUE, { connection, prefix });
  }

  refreshQueue(provider: string): Queue<RefreshJobData> {
    let q = this.refresh.get(provider);
    if (!q) {
      q = new Queue<RefreshJobData>(refreshQueueName(provider), {
        connection: this.connection,
        prefix: this.prefix,
        defaultJobOptions: REFRESH_JOB_OPTS,
      });
      this.refresh.set(provider, q);
    }
    return q;
  }

  all(): Queue[] {
    return [this.maintenance, ...this.refresh.values()];
  }

  /** The Redis key of a job's hash (BullMQ's layout: prefix:queue:id). */
  jobKey(provider: string, jobId: string): string {
    return `${this.prefix}:${refreshQueueName(provider)}:${jobId}`;
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.all().map((q) => q.close()));
  }
}
