// The dashboard's view of a refresh job's plan. A scheduled job's data.plannedAt in Redis is the
// plan it was queued with: the worker moves the job on without rewriting its data (that would be
// a Redis round trip per refresh), so it goes stale. The truth is the row's nextRefreshAt: read
// from PostgreSQL once per dashboard page (one query for the jobs listed), never per refresh.
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import type { Queue } from 'bullmq';

type Plans = (connectionIds: string[]) => Promise<Map<string, Date | null>>;
type JobLike = { data?: { connectionId?: unknown } } | null | undefined;

/** What Bull Board shows as a refresh job's data (pure): the row's plan first, the queued one as such. */
function withRowPlan(data: unknown, plans: ReadonlyMap<string, Date | null>): unknown {
  if (!data || typeof data !== 'object') return data;
  const d = data as { connectionId?: unknown; plannedAt?: unknown };
  if (typeof d.connectionId !== 'string' || !plans.has(d.connectionId)) return data;
  const { plannedAt, ...rest } = d;
  const next = plans.get(d.connectionId);
  return {
    ...rest,
    nextRefreshAt: next ? next.toISOString() : null,
    queuedPlannedAt: typeof plannedAt === 'number' ? new Date(plannedAt).toISOString() : plannedAt,
  };
}

/** Bull Board's BullMQ adapter for a refresh queue, showing each job's row plan (see above). */
export class RefreshQueueAdapter extends BullMQAdapter {
  // Filled by the async job reads, read by the (synchronous) formatter of the same request.
  private plans = new Map<string, Date | null>();

  constructor(
    queue: Queue,
    options: ConstructorParameters<typeof BullMQAdapter>[1],
    private readonly readPlans: Plans,
  ) {
    // The adapter's bullmq typings lag behind the installed major; the runtime API it uses is the same.
    super(queue as never, options);
    this.setFormatter('data', (data: unknown) => withRowPlan(data, this.plans));
  }

  override async getJobs(...args: Parameters<BullMQAdapter['getJobs']>): ReturnType<BullMQAdapter['getJobs']> {
    const jobs = await super.getJobs(...args);
    await this.remember(jobs as JobLike[]);
    return jobs;
  }

  override async getJob(id: string): ReturnType<BullMQAdapter['getJob']> {
    const job = await super.getJob(id);
    await this.remember([job as JobLike]);
    return job;
  }

  private async remember(jobs: JobLike[]): Promise<void> {
    const ids = jobs.map((j) => j?.data?.connectionId).filter((x): x is string => typeof x === 'string');
    if (this.plans.size > 10_000) this.plans = new Map();
    for (const [id, at] of await this.readPlans(ids)) this.plans.set(id, at);
  }
}
