// The running refresh workers of this process: one BullMQ Worker per provider, kept in line with
// the provider registry. A reload (SIGHUP) resizes a running worker's concurrency and rate limit in
// place, starts workers for added providers, and stops a removed provider's worker once its queue
// holds no more jobs (its connections may still be refreshing: they drain first).
import type { Worker } from 'bullmq';
import type { RedisClient } from '../redis/connect.ts';
import type { Logger } from 'pino';
import type { ProviderRegistry, ReloadResult, ResolvedProvider } from '../providers/registry.ts';
import type { Refresher } from '../refresh/refresher.ts';
import { createRefreshWorker, limiterFor, type WorkerSettings } from './worker.ts';

export interface RefreshWorkersDeps {
  providers: ProviderRegistry;
  connection: RedisClient;
  refresher: Refresher;
  log: Logger;
  settings: WorkerSettings;
  /** Jobs still on a provider's refresh queue (waiting, delayed, active). */
  pendingJobs: (provider: string) => Promise<number>;
  /** How often a removed provider's queue is checked for remaining jobs. */
  drainCheckMs?: number;
}

export class RefreshWorkers {
  private readonly running = new Map<string, Worker>();
  private readonly draining = new Map<string, NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly d: RefreshWorkersDeps) {}

  /** Starts one worker per provider of the registry. */
  start(): void {
    for (const p of this.d.providers.all()) this.add(p);
  }

  /** Every worker is running (readiness). */
  allRunning(): boolean {
    return [...this.running.values()].every((w) => w.isRunning());
  }

  /** The running worker of a provider (tests, diagnostics). */
  get(provider: string): Worker | undefined {
    return this.running.get(provider);
  }

  /** Brings the workers in line with the registry after a reload. */
  reconcile(r: Pick<ReloadResult, 'removed'>): void {
    if (this.closed) return;
    const removed = new Set(r.removed);
    for (const p of this.d.providers.all()) {
      if (removed.has(p.key)) continue;
      this.cancelDrain(p.key);
      const w = this.running.get(p.key);
      if (!w) this.add(p);
      else this.resize(w, p);
    }
    for (const key of removed) if (this.running.has(key) && !this.draining.has(key)) this.drainThenStop(key);
  }

  async close(force = false): Promise<void> {
    this.closed = true;
    for (const t of this.draining.values()) clearInterval(t);
    this.draining.clear();
    await Promise.allSettled([...this.running.values()].map((w) => w.close(force)));
  }

  private add(p: ResolvedProvider): void {
    const w = createRefreshWorker(p, this.d.connection, this.d.refresher, this.d.log, this.d.settings);
    this.running.set(p.key, w);
    void w.run().catch((err) => this.d.log.error({ err, provider: p.key }, 'refresh worker stopped'));
  }

  /** Concurrency and the limiter are read by BullMQ on every fetch: set in place, no restart. */
  private resize(w: Worker, p: ResolvedProvider): void {
    const opts = w.opts as { limiter?: { max: number; duration: number } };
    const limiter = limiterFor(p);
    if (w.concurrency === p.concurrency && opts.limiter?.max === limiter?.max) return;
    w.concurrency = p.concurrency;
    opts.limiter = limiter;
    this.d.log.info(
      { provider: p.key, concurrency: p.concurrency, ratePerSecond: p.ratePerSecond },
      'refresh worker resized',
    );
  }

  private drainThenStop(key: string): void {
    const check = async () => {
      const w = this.running.get(key);
      if (!w) return this.cancelDrain(key);
      if ((await this.d.pendingJobs(key)) > 0) return;
      this.cancelDrain(key);
      this.running.delete(key);
      await w.close();
      this.d.log.info({ provider: key }, 'provider removed and its queue drained: refresh worker stopped');
    };
    const t = setInterval(
      () =>
        void check().catch((err) =>
          this.d.log.warn({ err, provider: key }, "could not check a removed provider's queue"),
        ),
      this.d.drainCheckMs ?? 10_000,
    );
    t.unref();
    this.draining.set(key, t);
    this.d.log.info({ provider: key }, 'provider removed: its refresh worker stops once its queue holds no more jobs');
    void check().catch(() => undefined);
  }

  private cancelDrain(key: string): void {
    const t = this.draining.get(key);
    if (t) clearInterval(t);
    this.draining.delete(key);
  }
}
