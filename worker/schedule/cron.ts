// Cron refresh for providers whose answers carry no expiry (Salesforce): one BullMQ job scheduler
// per such provider on the 'cron' queue (exactly one tick per pattern across all processes). Each
// tick fans out: it pages through the provider's active connections by id (keyset), gives each a
// nextRefreshAt of tick + a stable per-connection offset inside the spread window (so a million
// connections do not hit the token endpoint in the same second), and enqueues those due within the
// horizon (job id = connection id, so a connection never has two jobs). The feeder brings in the
// rest as their time comes near.
//
// Pattern: expiry.cron of the definition (UTC), overridable by REFRESH_CRON_<PROVIDER>.
// Window: CRON_SPREAD_MS (default 1 h).
import { Queue, Worker, type Job } from 'bullmq';
import type { DaemonExtension, ExtensionHost } from '../interfaces.ts';
import type { ResolvedProvider } from '../providers/registry.ts';
import { spreadKeyOf } from '../refresh/plan.ts';
import { activeConnectionsPage, planCronRefreshes } from '../store/cron.ts';
import { addToShards, REFRESH_JOB_OPTS } from './queues.ts';

export const CRON_QUEUE = 'cron';
const SCHEDULER_PREFIX = 'cron:';

export interface CronOptions {
  /** Spread each tick's refreshes over this window (ms). Default config.cronSpreadMs (CRON_SPREAD_MS, 1 h). */
  spreadMs?: number;
  /** Connections per page of the fan-out. */
  pageSize?: number;
  now?: () => number;
}

export interface FanoutResult {
  provider: string;
  connections: number;
  enqueued: number;
  moved: number;
  pages: number;
}

/** The refresh time a tick gives a connection: tick + a stable offset in [0, spreadMs). Pure. */
export function cronTarget(connectionId: string, tickMs: number, spreadMs: number, current: Date | null): number {
  const at = tickMs + Math.floor(spreadKeyOf(connectionId) * spreadMs);
  // Never push back a refresh that is already planned earlier (a retry, an overdue refresh).
  const cur = current?.getTime();
  return cur !== undefined && cur < at ? cur : at;
}

/** Providers refreshed by cron: no expiry in their answers and a cron pattern. */
function cronProviders(all: ResolvedProvider[]): ResolvedProvider[] {
  return all.filter((p) => p.expiry.source === 'none' && typeof p.expiry.cron === 'string' && p.expiry.cron !== '');
}

/** What the fan-out uses of the daemon. */
export type CronHost = Pick<ExtensionHost, 'config' | 'log' | 'db' | 'providers' | 'queues' | 'scheduler'>;

export class CronFanout {
  readonly queue: Queue;
  private worker?: Worker;
  private watchdog?: NodeJS.Timeout;
  private unsubscribe?: () => void;
  private readonly spreadMs: number;
  private readonly now: () => number;

  constructor(
    private readonly d: CronHost,
    private readonly opts: CronOptions = {},
  ) {
    this.queue = new Queue(CRON_QUEUE, { connection: d.queues.connection, prefix: d.queues.prefixOf(CRON_QUEUE) });
    // The same window the planner uses after each refresh (CRON_SPREAD_MS), so both agree.
    this.spreadMs = opts.spreadMs ?? d.config.cronSpreadMs;
    this.now = opts.now ?? Date.now;
  }

  async start(): Promise<void> {
    const { d } = this;
    await this.sync();
    this.unsubscribe = d.providers.onReload(() => {
      this.sync().catch((err) => d.log.warn({ err }, 'could not update cron job schedulers after a reload'));
    });
    // Redis is rebuildable: re-create missing schedulers (a wiped Redis) on the feeder's beat.
    this.watchdog = setInterval(
      () => {
        this.sync().catch((err) => d.log.warn({ err }, 'could not verify cron job schedulers'));
      },
      Math.max(1000, d.config.feederIntervalMs),
    );
    this.watchdog.unref();
    this.worker = new Worker(
      CRON_QUEUE,
      async (job: Job<{ provider: string }>) => {
        const p = d.providers.get(job.data.provider);
        if (!p || !p.configured || !cronProviders([p]).length) return null;
        return this.fanout(p, this.now());
      },
      { connection: d.queues.connection, prefix: d.queues.prefixOf(CRON_QUEUE), concurrency: 1, autorun: false },
    );
    this.worker.on('error', (err) => d.log.error({ err }, 'cron worker error'));
    void this.worker.run().catch((err) => d.log.error({ err }, 'cron worker stopped'));
  }

  /** Makes Redis hold exactly one job scheduler per cron provider, with the current pattern. */
  async sync(): Promise<void> {
    const wanted = new Map(
      cronProviders(this.d.providers.all())
        .filter((p) => p.configured)
        .map((p) => [`${SCHEDULER_PREFIX}${p.key}`, p]),
    );
    for (const [id, p] of wanted) {
      const existing = await this.queue.getJobScheduler(id);
      if (existing && existing.pattern === p.expiry.cron && existing.tz === 'UTC') continue;
      await this.queue.upsertJobScheduler(
        id,
        { pattern: p.expiry.cron!, tz: 'UTC' },
        {
          name: 'fanout',
          data: { provider: p.key },
          opts: { removeOnComplete: true, removeOnFail: 100 },
        },
      );
      this.d.log.info(
        { provider: p.key, pattern: p.expiry.cron },
        existing ? 'cron refresh schedule updated' : 'cron refresh schedule registered',
      );
    }
    for (const s of await this.queue.getJobSchedulers(0, -1)) {
      const id = s.id ?? s.key;
      if (id.startsWith(SCHEDULER_PREFIX) && !wanted.has(id)) {
        await this.queue.removeJobScheduler(id);
        this.d.log.info({ scheduler: id }, 'cron refresh schedule removed (provider no longer refreshed by cron)');
      }
    }
  }

  /** One tick for one provider: plan every active connection inside the window, enqueue the near ones. */
  async fanout(p: ResolvedProvider, tickMs: number): Promise<FanoutResult> {
    const { d } = this;
    const pageSize = this.opts.pageSize ?? 1000;
    const result: FanoutResult = { provider: p.key, connections: 0, enqueued: 0, moved: 0, pages: 0 };
    let cursor: string | undefined;
    for (;;) {
      const rows = await activeConnectionsPage(d.db, p.key, cursor, pageSize);
      if (rows.length === 0) break;
      result.pages++;
      result.connections += rows.length;
      cursor = rows[rows.length - 1].id;
      const targets = rows.map((r) => ({ id: r.id, at: cronTarget(r.id, tickMs, this.spreadMs, r.nextRefreshAt) }));
      const changed = targets.filter((t, i) => rows[i].nextRefreshAt?.getTime() !== t.at);
      // One statement per page.
      await planCronRefreshes(d.db, changed);
      const nowMs = this.now();
      const near = targets.filter((t) => t.at - nowMs <= d.config.horizonMs);
      if (near.length > 0) {
        const exists = await d.queues.haveJobs(near.map((t) => ({ provider: p.key, id: t.id })));
        const missing = near.filter((_t, i) => !exists[i]);
        const present = near.filter((_t, i) => exists[i]);
        await addToShards(d.queues, p.key, missing, (t) => ({
          name: 'refresh',
          data: { connectionId: t.id, trigger: 'cron' as const, plannedAt: t.at },
          opts: { ...REFRESH_JOB_OPTS, jobId: t.id, delay: Math.max(0, t.at - nowMs) },
        }));
        result.enqueued += missing.length;
        // Jobs already queued (a retry, a scheduled refresh) move to the tick's time if it is earlier.
        // (The row's plan before this tick is the job's time: scheduled jobs do not carry it.)
        const planned = new Map(rows.map((r) => [r.id, r.nextRefreshAt?.getTime() ?? Number.POSITIVE_INFINITY]));
        for (const t of present) {
          if ((planned.get(t.id) ?? Number.POSITIVE_INFINITY) <= t.at) continue;
          if ((await d.scheduler.ensure(t.id, p.key, new Date(t.at), 'cron')) === 'moved') result.moved++;
        }
      }
      if (rows.length < pageSize) break;
    }
    d.log.info({ ...result, spreadMs: this.spreadMs }, 'cron refresh tick fanned out');
    return result;
  }

  async close(): Promise<void> {
    if (this.watchdog) clearInterval(this.watchdog);
    this.unsubscribe?.();
    await this.worker?.close().catch(() => undefined);
    await this.queue.close().catch(() => undefined);
  }
}

/** The cron fan-out as a daemon extension (runs in processes with the scheduler role). */
export function cronExtension(opts: CronOptions = {}): DaemonExtension & { fanout(): CronFanout | undefined } {
  let cron: CronFanout | undefined;
  return {
    name: 'cron',
    async start(d: CronHost) {
      if (!d.config.roles.has('scheduler')) return;
      cron = new CronFanout(d, opts);
      await cron.start();
    },
    async close() {
      await cron?.close();
    },
    fanout: () => cron,
  };
}
