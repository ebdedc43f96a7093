// Puts connections on the queue. Job id = connection id, so the queue itself deduplicates; the
// feeder pages PostgreSQL by (status, nextRefreshAt, id) and adds only what Redis is missing, so a
// wiped Redis or a lost job is repaired within one tick.
import type { Logger } from 'pino';
import type { Db } from '../store/db.ts';
import type { Queues, RefreshJobData } from './queues.ts';

export interface FeedResult {
  scanned: number;
  enqueued: number;
  pages: number;
}

export class Scheduler {
  constructor(
    private readonly db: Db,
    private readonly queues: Queues,
    private readonly log: Logger,
    private readonly opts: { horizonMs: number; pageSize?: number; now?: () => number },
  ) {}

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  /**
   * Makes sure a connection's job will run at `at` (if within the horizon): adds it, or moves an
   * existing delayed job earlier/later. An active job is left alone: it reschedules itself.
   */
  async ensure(connectionId: string, provider: string, at: Date | null, trigger: RefreshJobData['trigger'] = 'scheduled'): Promise<'added' | 'moved' | 'kept' | 'beyond_horizon'> {
    if (!at) return 'kept';
    const nowMs = this.now();
    const delay = Math.max(0, at.getTime() - nowMs);
    if (delay > this.opts.horizonMs) return 'beyond_horizon';
    const q = this.queues.refreshQueue(provider);
    const existing = await q.getJob(connectionId);
    if (existing) {
      const state = await existing.getState();
      if (state === 'delayed') {
        try {
          await existing.changeDelay(delay);
          return 'moved';
        } catch {
          return 'kept'; // it just became waiting/active: it will run and reschedule itself
        }
      }
      if (state === 'active' || state === 'waiting' || state === 'prioritized' || state === 'waiting-children') return 'kept';
      await existing.remove().catch(() => undefined);
    }
    await q.add('refresh', { connectionId, trigger, plannedAt: at.getTime() }, { jobId: connectionId, delay });
    return 'added';
  }

  /** One feeder tick: enqueue every active connection due within the horizon that has no job. */
  async feed(onPage?: (r: FeedResult) => void): Promise<FeedResult> {
    const nowMs = this.now();
    const until = new Date(nowMs + this.opts.horizonMs);
    const pageSize = this.opts.pageSize ?? 1000;
    const result: FeedResult = { scanned: 0, enqueued: 0, pages: 0 };
    let cursor: { at: Date; id: string } | null = null;
    const redis = this.queues.connection;
    for (;;) {
      // Keyset pagination over the (status, nextRefreshAt, id) index: no table scan per tick.
      const cur: { at: Date; id: string } | null = cursor;
      const rows: { id: string; provider: string; nextRefreshAt: Date | null }[] = await this.db.connection.findMany({
        where: {
          status: 'active',
          nextRefreshAt: { lte: until },
          ...(cur ? { OR: [{ nextRefreshAt: { gt: cur.at } }, { nextRefreshAt: cur.at, id: { gt: cur.id } }] } : {}),
        },
        orderBy: [{ nextRefreshAt: 'asc' }, { id: 'asc' }],
        take: pageSize,
        select: { id: true, provider: true, nextRefreshAt: true },
      });
      if (rows.length === 0) break;
      result.pages++;
      result.scanned += rows.length;
      const pipe = redis.pipeline();
      for (const r of rows) pipe.exists(this.queues.jobKey(r.provider, r.id));
      const exists = (await pipe.exec()) ?? [];
      const missing = rows.filter((_r, i) => exists[i]?.[1] !== 1);
      const byProvider = new Map<string, typeof missing>();
      for (const r of missing) byProvider.set(r.provider, [...(byProvider.get(r.provider) ?? []), r]);
      for (const [provider, list] of byProvider) {
        await this.queues.refreshQueue(provider).addBulk(list.map((r) => ({
          name: 'refresh',
          data: { connectionId: r.id, trigger: 'feeder' as const, plannedAt: r.nextRefreshAt!.getTime() },
          opts: { jobId: r.id, delay: Math.max(0, r.nextRefreshAt!.getTime() - nowMs), removeOnComplete: true, removeOnFail: true },
        })));
      }
      result.enqueued += missing.length;
      onPage?.(result);
      const last = rows[rows.length - 1];
      cursor = { at: last.nextRefreshAt!, id: last.id };
      if (rows.length < pageSize) break;
    }
    if (result.enqueued > 0) this.log.info({ ...result }, 'feeder enqueued connections missing from the queue');
    return result;
  }
}
