// The running refresh workers of this process: one BullMQ Worker per shard queue of each provider
// in use (policy.ts), kept in line with the provider registry. A reload (SIGHUP) resizes running
// workers' concurrency and rate limit in place, starts workers for added providers, and stops a
// removed provider's workers once its queues hold no more jobs (its connections may still be
// refreshing: they drain first). A provider that gains its first connection later gets its workers
// at the next in-use check.
import type { Worker } from 'bullmq';
import type { RedisClient } from '../redis/connect.ts';
import type { Logger } from 'pino';
import type { ProviderRegistry, ReloadResult, ResolvedProvider } from '../providers/registry.ts';
import type { Refresher } from '../refresh/refresher.ts';
import { isWorkerStuck, providersInUse, refreshQueueNames, shardLimits } from './policy.ts';
import { activityOf, createRefreshWorker, type WorkerSettings } from './worker.ts';

export interface RefreshWorkersDeps {
  providers: ProviderRegistry;
  connection: RedisClient;
  refresher: Refresher;
  log: Logger;
  settings: WorkerSettings;
  /** Jobs still on a provider's refresh queues (waiting, delayed, active; all shards). */
  pendingJobs: (provider: string) => Promise<number>;
  /** Providers with connections in PostgreSQL (store/providers-in-use.ts). */
  withConnections: () => Promise<string[]>;
  /** How often a removed provider's queues are checked for remaining jobs. */
  drainCheckMs?: number;
  /** How often providers that gained connections are looked for. */
  inUseCheckMs?: number;
  /** When a queue's earliest delayed job was due (ms), null if none (the watchdog's one read per queue). */
  earliestDueAt: (queueName: string) => Promise<number | null>;
  /** A worker with a free slot that started nothing while a job was overdue this long is replaced. */
  stuckMs: number;
}

export class RefreshWorkers {
  private readonly running = new Map<string, Worker[]>();
  private readonly draining = new Map<string, NodeJS.Timeout>();
  private withConnections = new Set<string>();
  /** Removed from PROVIDERS_FILE (the registry keeps them until a restart): never started again. */
  private readonly removed = new Set<string>();
  private inUseTimer?: NodeJS.Timeout;
  private watchdogTimer?: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly d: RefreshWorkersDeps) {}

  /** Starts the workers of every provider in use, then looks for new ones periodically. */
  async start(): Promise<void> {
    await this.checkInUse();
    this.inUseTimer = setInterval(
      () => void this.checkInUse().catch((err) => this.d.log.warn({ err }, 'could not list the providers in use')),
      this.d.inUseCheckMs ?? 30_000,
    );
    this.inUseTimer.unref();
    this.watchdogTimer = setInterval(
      () => void this.watchdog().catch((err) => this.d.log.warn({ err }, 'refresh worker watchdog could not look')),
      Math.max(1000, Math.floor(this.d.stuckMs / 3)),
    );
    this.watchdogTimer.unref();
  }

  /** Every worker is running (readiness). */
  allRunning(): boolean {
    return [...this.running.values()].every((ws) => ws.every((w) => w.isRunning()));
  }

  /** The running workers of a provider, one per shard (tests, diagnostics). */
  get(provider: string): Worker[] | undefined {
    return this.running.get(provider);
  }

  /** Worker count of this process (each holds one blocking Redis connection). */
  count(): number {
    return [...this.running.values()].reduce((n, ws) => n + ws.length, 0);
  }

  /** Brings the workers in line with the registry after a reload. */
  reconcile(r: Pick<ReloadResult, 'removed'>): void {
    if (this.closed) return;
    const removed = new Set(r.removed);
    const inUse = new Set(providersInUse(this.d.providers.all(), this.withConnections).map((p) => p.key));
    for (const p of this.d.providers.all()) {
      if (removed.has(p.key)) {
        this.removed.add(p.key);
        continue;
      }
      this.removed.delete(p.key);
      const ws = this.running.get(p.key);
      if (ws) {
        this.cancelDrain(p.key);
        this.resize(ws, p);
      } else if (inUse.has(p.key)) this.add(p);
    }
    for (const key of removed) if (this.running.has(key) && !this.draining.has(key)) this.drainThenStop(key);
  }

  async close(force = false): Promise<void> {
    this.closed = true;
    if (this.inUseTimer) clearInterval(this.inUseTimer);
    if (this.watchdogTimer) clearInterval(this.watchdogTimer);
    for (const t of this.draining.values()) clearInterval(t);
    this.draining.clear();
    await Promise.allSettled([...this.running.values()].flat().map((w) => w.close(force)));
  }

  private async checkInUse(): Promise<void> {
    this.withConnections = new Set(await this.d.withConnections());
    if (this.closed) return;
    for (const p of providersInUse(this.d.providers.all(), this.withConnections))
      if (!this.running.has(p.key) && !this.removed.has(p.key)) this.add(p);
  }

  private add(p: ResolvedProvider): void {
    const n = this.d.settings.shards;
    const ws = refreshQueueNames(p.key, n).map((_name, k) => this.create(p, k));
    this.running.set(p.key, ws);
    if (p.concurrency < n)
      this.d.log.warn(
        { provider: p.key, concurrency: p.concurrency, shards: n },
        'provider concurrency below REFRESH_QUEUE_SHARDS: each shard worker still takes one job at a time',
      );
    for (const w of ws) this.run(w, p.key);
  }

  private create(p: ResolvedProvider, k: number): Worker {
    const n = this.d.settings.shards;
    const name = refreshQueueNames(p.key, n)[k];
    return createRefreshWorker(
      p,
      { name, limits: shardLimits(p, n, k) },
      this.d.connection,
      this.d.refresher,
      this.d.log,
      {
        ...this.d.settings,
      },
    );
  }

  private run(w: Worker, provider: string): void {
    void w.run().catch((err) => this.d.log.error({ err, provider }, 'refresh worker stopped'));
  }

  /**
   * Replaces workers that make no progress while their queue has overdue jobs (policy.ts
   * isWorkerStuck). The old worker is closed without force in the background: a job it still runs
   * finishes (the in-process provider gate keeps the provider's concurrency meanwhile).
   */
  private async watchdog(): Promise<void> {
    const now = (this.d.settings.now ?? Date.now)();
    for (const [key, ws] of this.running) {
      const p = this.d.providers.get(key);
      if (!p || this.draining.has(key)) continue;
      for (let k = 0; k < ws.length; k++) {
        const w = ws[k];
        const a = activityOf(w);
        if (!a || this.closed) continue;
        const earliestDueAt = await this.d.earliestDueAt(w.name);
        const progress = {
          earliestDueAt,
          inFlight: a.inFlight,
          concurrency: w.concurrency,
          lastStartAt: a.lastStartAt,
        };
        if (!isWorkerStuck(progress, now, this.d.stuckMs)) continue;
        this.d.log.warn(
          { provider: key, queue: w.name, overdueMs: now - earliestDueAt!, idleMs: now - a.lastStartAt },
          'refresh worker made no progress while jobs were overdue (seen after a Redis failover): replacing it',
        );
        const fresh = this.create(p, k);
        ws[k] = fresh;
        this.run(fresh, key);
        void w
          .close()
          .catch((err) => this.d.log.warn({ err, provider: key }, 'a replaced refresh worker did not close'));
      }
    }
  }

  /** Concurrency and the limiter are read by BullMQ on every fetch: set in place, no restart. */
  private resize(ws: Worker[], p: ResolvedProvider): void {
    let changed = false;
    ws.forEach((w, k) => {
      const opts = w.opts as { limiter?: { max: number; duration: number } };
      const { concurrency, limiter } = shardLimits(p, ws.length, k);
      if (w.concurrency === concurrency && opts.limiter?.max === limiter?.max) return;
      w.concurrency = concurrency;
      opts.limiter = limiter;
      changed = true;
    });
    if (changed)
      this.d.log.info(
        { provider: p.key, concurrency: p.concurrency, ratePerSecond: p.ratePerSecond, shards: ws.length },
        'refresh workers resized',
      );
  }

  private drainThenStop(key: string): void {
    const check = async () => {
      const ws = this.running.get(key);
      if (!ws) return this.cancelDrain(key);
      if ((await this.d.pendingJobs(key)) > 0) return;
      this.cancelDrain(key);
      this.running.delete(key);
      await Promise.all(ws.map((w) => w.close()));
      this.d.log.info({ provider: key }, 'provider removed and its queues drained: refresh workers stopped');
    };
    const t = setInterval(
      () =>
        void check().catch((err) =>
          this.d.log.warn({ err, provider: key }, "could not check a removed provider's queues"),
        ),
      this.d.drainCheckMs ?? 10_000,
    );
    t.unref();
    this.draining.set(key, t);
    this.d.log.info({ provider: key }, 'provider removed: its refresh workers stop once its queues hold no more jobs');
    void check().catch(() => undefined);
  }

  private cancelDrain(key: string): void {
    const t = this.draining.get(key);
    if (t) clearInterval(t);
    this.draining.delete(key);
  }
}
