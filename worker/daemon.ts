// The daemon: wires config, stores, queues, workers and the API, with an explicit lifecycle like
// BullMQ's own classes: start(), drain() (stop taking work, finish what is in flight), close().
import { hostname } from 'node:os';
import { createRedis, redisProblem, type RedisClient } from './redis/connect.ts';
import { Worker } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { configWarnings, type Config } from './config/env.ts';
import type { DaemonExtension, ExtensionHost, FaultHook, ProviderGate } from './interfaces.ts';
import { Keyring } from './crypto/keyring.ts';
import { ConnectionLocks } from './lock/lock.ts';
import { createLogger } from './log/logger.ts';
import { createNodeHttpClient, type HttpClient } from './oauth/http.ts';
import { ProviderRegistry } from './providers/registry.ts';
import { OnDemand } from './refresh/ondemand.ts';
import { Refresher } from './refresh/refresher.ts';
import { TokenCache } from './refresh/token-cache.ts';
import { TokenChangeListener } from './store/token-notify.ts';
import { MAINTENANCE_QUEUE, Queues } from './schedule/queues.ts';
import { providersWithConnections } from './store/providers-in-use.ts';
import { Scheduler } from './schedule/scheduler.ts';
import { RefreshWorkers } from './schedule/workers.ts';
import { ConnectionStore } from './store/connections.ts';
import { createDb, type Db } from './store/db.ts';
import { Registration } from './store/registration.ts';
import { ApiKeys } from './api/auth.ts';
import { ConnectFlow } from './connect/flow.ts';
import { ConnectSessions } from './store/connect-sessions.ts';
import { openGate } from './refresh/refresher.ts';
import { revokeRefreshToken, type RevocationResult } from './oauth/revoke.ts';
import { registerConsole, type ConsoleDeps } from './console/routes.ts';
import { consoleSecret } from './console/session.ts';

export interface DaemonOptions {
  log?: Logger;
  http?: HttpClient;
  now?: () => number;
  faultPoint?: FaultHook;
  /** Built by other concerns (breaker, metrics, outbox dispatcher); see extensions.ts. */
  extensions?: DaemonExtension[];
}

export class Daemon {
  readonly log: Logger;
  readonly db: Db;
  readonly redis: RedisClient;
  readonly bullRedis: RedisClient;
  readonly keyring: Keyring;
  readonly providers: ProviderRegistry;
  readonly queues: Queues;
  readonly locks: ConnectionLocks;
  readonly store: ConnectionStore;
  readonly scheduler: Scheduler;
  readonly refresher: Refresher;
  readonly onDemand: OnDemand;
  /** GET .../token answers from here while the listener hears every change (API role only). */
  readonly tokenCache = new TokenCache({ maxEntries: 10_000, maxAgeMs: 60_000 });
  private tokenListener?: TokenChangeListener;
  readonly registration: Registration;
  readonly gate: ProviderGate;
  readonly http: HttpClient;
  readonly connectSessions: ConnectSessions;
  /** The hosted connect flow; undefined while PUBLIC_URL is not set. */
  readonly connect?: ConnectFlow;
  /** This process's refresh workers (worker role), kept in line with the registry on reload. */
  refreshWorkers?: RefreshWorkers;
  private stopReconcile?: () => void;
  private maintenanceWorker?: Worker;
  private api?: FastifyInstance;
  private state: 'new' | 'started' | 'draining' | 'closed' = 'new';
  private lastFeedOkAt = 0;
  private watchdog?: NodeJS.Timeout;
  address?: string;
  /** Our own keep-alive agents for token requests (node:http: a third of fetch's CPU per request). */
  private readonly tokenHttp?: ReturnType<typeof createNodeHttpClient>;

  constructor(
    readonly config: Config,
    private readonly opts: DaemonOptions = {},
  ) {
    this.log = opts.log ?? createLogger({ level: config.logLevel, pretty: config.logPretty });
    this.keyring = new Keyring(config.encryptionKeys);
    this.providers = ProviderRegistry.load({
      providersFile: config.providersFile,
      allowInsecure: config.allowInsecureTokenUrls,
      cronOverride: config.cronOverride,
      defaults: { refreshLeadSec: config.refreshLeadMs / 1000, concurrency: config.workerConcurrency },
    });
    this.db = createDb(config.databaseUrl, {
      poolSize: config.databasePoolSize || Math.max(10, Math.min(50, config.workerConcurrency + 5)),
    });
    // General connection (the per-connection locks): fail fast when Redis is away (a refresh then
    // retries later). Auto-pipelining sends the lock commands of concurrent refreshes in one write;
    // it is not used on BullMQ's connection (BullMQ does not support it).
    this.redis = createRedis(config.redis, { role: 'general', lazyConnect: true, autoPipelining: true });
    // BullMQ's connection: must never give up on a command (see BullMQ docs: maxRetriesPerRequest null).
    this.bullRedis = createRedis(config.redis, { role: 'queue', lazyConnect: true });
    this.redis.on('error', (err) => this.log.warn({ err }, 'redis connection error'));
    this.bullRedis.on('error', (err) => this.log.warn({ err }, 'redis (queue) connection error'));
    this.queues = new Queues(this.bullRedis, config.queuePrefix, config.refreshQueueShards);
    this.locks = new ConnectionLocks(this.redis, config.queuePrefix, config.lockTtlMs);
    this.store = new ConnectionStore(this.db, (id) => this.tokenCache.forget(id));
    const ext = opts.extensions ?? [];
    const gate = ext.find((e) => e.gate)?.gate;
    const observers = ext.map((e) => e.onAttempt).filter((f): f is NonNullable<typeof f> => Boolean(f));
    if (!opts.http) this.tokenHttp = createNodeHttpClient();
    this.gate = gate ?? openGate;
    this.http = opts.http ?? this.tokenHttp!.client;
    this.refresher = new Refresher({
      store: this.store,
      locks: this.locks,
      providers: this.providers,
      keyring: this.keyring,
      http: opts.http ?? this.tokenHttp!.client,
      log: this.log,
      workerId: config.workerId || `${hostname()}:${process.pid}`,
      now: opts.now,
      gate,
      faultPoint: opts.faultPoint,
      onAttempt: observers.length ? (e) => observers.forEach((f) => f(e)) : undefined,
      policy: {
        requestTimeoutMs: config.requestTimeoutMs,
        refreshJitterMs: config.refreshJitterMs,
        retryBaseMs: config.retryBaseMs,
        retryMaxMs: config.retryMaxMs,
        commitRetryMs: config.commitRetryMs,
        breakerProbeIntervalMs: config.breakerProbeIntervalMs,
        skewToleranceMs: 2000,
        cronSpreadMs: config.cronSpreadMs,
      },
    });
    this.scheduler = new Scheduler(this.db, this.queues, this.log, { horizonMs: config.horizonMs, now: opts.now });
    this.onDemand = new OnDemand(this.store, this.refresher, this.keyring, {
      waitMs: config.requestTimeoutMs + 5000,
      now: opts.now,
      cache: this.tokenCache,
    });
    this.registration = new Registration(
      this.db,
      this.keyring,
      (id, p, exp, nowMs) => this.refresher.planNext({ id, expiresAt: exp }, p, exp, nowMs),
      { now: opts.now, onChange: (id) => this.tokenCache.forget(id) },
    );
    this.connectSessions = new ConnectSessions(this.db);
    if (config.publicUrl) {
      this.connect = new ConnectFlow(
        {
          db: this.db,
          sessions: this.connectSessions,
          providers: this.providers,
          registration: this.registration,
          scheduler: this.scheduler,
          keyring: this.keyring,
          http: this.http,
          gate: this.gate,
          log: this.log,
          now: opts.now,
        },
        {
          publicUrl: config.publicUrl,
          returnUrls: config.connectReturnUrls,
          sessionTtlMs: config.connectSessionTtlMs,
          requestTimeoutMs: config.requestTimeoutMs,
        },
      );
    }
  }

  /** What extensions may use: the shared clients, never the daemon itself. */
  private host(): ExtensionHost {
    const { config, log, db, keyring, providers, queues, scheduler } = this;
    return { config, log, db, keyring, providers, queues, scheduler };
  }

  get isStarted(): boolean {
    return this.state === 'started';
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`cannot start a daemon that is ${this.state}`);
    const { config, log } = this;
    // BullMQ may already have started connecting its client; only connect what is still waiting.
    await Promise.all([this.redis, this.bullRedis].map((r) => (r.status === 'wait' ? r.connect() : r.ping())));
    await this.db.$queryRaw`SELECT 1`;
    for (const e of this.opts.extensions ?? []) await e.start?.(this.host());
    if (config.roles.has('worker')) {
      const workers = new RefreshWorkers({
        providers: this.providers,
        connection: this.bullRedis,
        refresher: this.refresher,
        log,
        pendingJobs: async (p) =>
          Object.values(await this.queues.jobCounts(p, 'wait', 'active', 'delayed', 'prioritized')).reduce(
            (a, b) => a + b,
            0,
          ),
        withConnections: () => providersWithConnections(this.db),
        inUseCheckMs: Math.max(1000, config.feederIntervalMs),
        earliestDueAt: (name) => this.queues.earliestDueAt(name),
        // Well past any legitimate pause of a worker with a free slot (it fetches every few seconds).
        stuckMs: Math.max(10_000, 3 * config.stalledIntervalMs),
        settings: {
          prefix: config.queuePrefix,
          shards: config.refreshQueueShards,
          horizonMs: config.horizonMs,
          jobLockMs: config.jobLockMs,
          stalledIntervalMs: config.stalledIntervalMs,
          busyRecheckMs: 1000,
          now: this.opts.now,
          faultPoint: this.opts.faultPoint,
        },
      });
      this.refreshWorkers = workers;
      await workers.start();
      // A reload (SIGHUP) resizes, adds and (after their queue drains) stops workers without a restart.
      this.stopReconcile = this.providers.onReload((r) => workers.reconcile(r));
    }
    if (config.roles.has('scheduler')) {
      // The feeder is a BullMQ job scheduler: exactly one tick per interval across all processes.
      await this.ensureFeederScheduler();
      // Redis is rebuildable: if it was wiped (FLUSHALL, a restart without persistence), the job
      // scheduler itself is gone too, so every scheduler process re-creates it when missing.
      this.watchdog = setInterval(() => {
        this.ensureFeederScheduler().catch((err) => log.warn({ err }, 'could not verify the feeder scheduler'));
      }, config.feederIntervalMs);
      this.watchdog.unref();
      this.maintenanceWorker = new Worker(
        MAINTENANCE_QUEUE,
        async (job) => {
          if (job.name === 'feeder') {
            const r = await this.scheduler.feed();
            this.lastFeedOkAt = Date.now();
            return r;
          }
          return null;
        },
        { connection: this.bullRedis, prefix: this.queues.prefixOf(MAINTENANCE_QUEUE), concurrency: 1, autorun: false },
      );
      this.maintenanceWorker.on('error', (err) => log.error({ err }, 'maintenance worker error'));
      void this.maintenanceWorker.run().catch((err) => log.error({ err }, 'maintenance worker stopped'));
      // Repair the schedule at once on start rather than after the first interval.
      await this.scheduler.feed().then(
        () => {
          this.lastFeedOkAt = Date.now();
        },
        (err) => log.warn({ err }, 'initial feed failed; the feeder will retry'),
      );
    }
    if (config.roles.has('api')) {
      // Loaded only here: a daemon that serves no API (the ops CLI's, a worker-only process) never loads Fastify.
      const { buildApi } = await import('./api/server.ts');
      this.tokenListener = new TokenChangeListener({
        databaseUrl: config.databaseUrl,
        onChange: (id) => this.tokenCache.forget(id),
        onLive: (live) => {
          this.tokenCache.setLive(live);
          if (!live && this.state === 'started') log.warn('token-change listener down; token reads go to the database');
        },
        onError: (err) => log.debug({ err }, 'token-change listener error'),
      });
      await this.tokenListener.start();
      this.api = await buildApi({
        db: this.db,
        providers: this.providers,
        registration: this.registration,
        scheduler: this.scheduler,
        onDemand: this.onDemand,
        apiKeys: new ApiKeys(config.apiKeys),
        log,
        readiness: () => this.readiness(),
        connect: { sessions: this.connectSessions, flow: () => this.connect },
        revoke: (c) => this.revoke(c),
        extend: async (app, auth) => {
          // The web console (CONSOLE_ENABLED) is composed here: the API below it knows nothing of it.
          if (config.consoleEnabled) registerConsole(app, this.consoleDeps());
          for (const e of this.opts.extensions ?? []) await e.routes?.(app, auth, this.host());
        },
      });
      this.address = await this.api.listen({ port: config.port, host: config.host });
    }
    this.state = 'started';
    for (const w of configWarnings) log.warn(w);
    log.info(
      {
        roles: [...config.roles],
        address: this.address,
        providers: this.providers
          .all()
          .filter((p) => p.configured)
          .map((p) => p.key),
      },
      'oauth-refresher started',
    );
  }

  /** What the web console reads and may do (it creates reconnect links through the connect flow). */
  private consoleDeps(): ConsoleDeps {
    // The breaker gate (when that extension runs) also knows this process's in-flight and waiting counts.
    const gate = this.gate as ProviderGate & { views?: ConsoleDeps['gateViews'] };
    return {
      db: this.db,
      providers: this.providers,
      sessions: this.connectSessions,
      flow: () => this.connect,
      now: this.opts.now,
      gateViews: gate.views ? (keys) => gate.views!(keys) : undefined,
      keys: { keys: this.config.apiKeys, secret: consoleSecret(this.config.encryptionKeys[0].key) },
      secure: this.config.publicUrl?.startsWith('https:') ?? false,
    };
  }

  /** RFC 7009: revokes a connection's refresh token at its provider (DELETE ?revoke=true). */
  async revoke(c: { provider: string; refreshTokenEnc: string; metadata: unknown }): Promise<RevocationResult> {
    const p = this.providers.get(c.provider);
    if (!p) return { revoked: false, reason: 'not_supported', detail: 'the provider is no longer defined' };
    const rt = this.keyring.decrypt(c.refreshTokenEnc);
    const r = await revokeRefreshToken(
      p,
      rt,
      (c.metadata as Record<string, unknown> | null) ?? {},
      this.http,
      this.config.requestTimeoutMs,
    );
    this.log.info(
      { provider: c.provider, revoked: r.revoked, reason: r.revoked ? undefined : r.reason },
      'refresh token revocation at the provider',
    );
    return r;
  }

  private async ensureFeederScheduler(): Promise<void> {
    const existing = await this.queues.maintenance.getJobScheduler('feeder');
    if (existing && existing.every === this.config.feederIntervalMs) return;
    if (existing) this.log.info('feeder interval changed; updating the job scheduler');
    else if (this.state === 'started')
      this.log.warn('feeder job scheduler was missing from Redis (wiped?); re-created it');
    await this.queues.maintenance.upsertJobScheduler(
      'feeder',
      { every: this.config.feederIntervalMs },
      { name: 'feeder', opts: { removeOnComplete: true, removeOnFail: 100 } },
    );
  }

  async readiness(): Promise<Record<string, { ok: boolean; detail?: string }>> {
    const out: Record<string, { ok: boolean; detail?: string }> = {};
    const timeout = <T>(p: Promise<T>) =>
      Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('timeout')), 2000))]);
    out.redis = await timeout(redisProblem(this.redis)).then(
      (problem) => (problem ? { ok: false, detail: problem } : { ok: true }),
      (e: Error) => ({ ok: false, detail: e.message }),
    );
    out.postgres = await timeout(this.db.$queryRaw`SELECT 1`).then(
      () => ({ ok: true }),
      (e: Error) => ({ ok: false, detail: e.message.split('\n')[0].slice(0, 200) }),
    );
    if (this.config.roles.has('worker')) {
      const running = this.refreshWorkers?.allRunning() ?? true;
      out.worker = {
        ok: running && this.state === 'started',
        detail: running ? undefined : 'a refresh worker is not running',
      };
    }
    if (this.config.roles.has('scheduler')) {
      const age = Date.now() - this.lastFeedOkAt;
      out.feeder = {
        ok: age < this.config.feederIntervalMs * 3 + 10_000,
        detail: `last successful feed ${Math.round(age / 1000)} s ago`,
      };
    }
    return out;
  }

  /** Stop taking new jobs and requests; wait (bounded) for in-flight refreshes to finish. */
  async drain(): Promise<void> {
    if (this.state !== 'started') return;
    this.state = 'draining';
    if (this.watchdog) clearInterval(this.watchdog);
    this.stopReconcile?.();
    const closing = Promise.allSettled([
      this.refreshWorkers?.close(),
      this.maintenanceWorker?.close(),
      this.api?.close(),
    ]);
    const timedOut = await Promise.race([
      closing.then(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(true), this.config.shutdownTimeoutMs).unref()),
    ]);
    if (timedOut) {
      this.log.warn(
        { timeoutMs: this.config.shutdownTimeoutMs },
        'in-flight refreshes did not finish in time; closing anyway (stalled-job recovery will rerun them)',
      );
      await this.refreshWorkers?.close(true);
    }
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    await this.drain();
    // A refresh the drain gave up on may still be committing a rotated token (retrying through a
    // database outage for up to COMMIT_RETRY_MS): closing the database under it would lose the token.
    if (!(await this.refresher.whenIdle(this.config.commitRetryMs + this.config.requestTimeoutMs))) {
      this.log.error('refreshes still running after COMMIT_RETRY_MS; closing anyway');
    }
    for (const e of this.opts.extensions ?? []) await Promise.resolve(e.close?.()).catch(() => undefined);
    await this.queues.close();
    await this.tokenListener?.stop();
    await Promise.allSettled([this.db.$disconnect(), this.redis.quit(), this.bullRedis.quit()]);
    this.tokenHttp?.close();
    this.state = 'closed';
  }
}
