// Prometheus metrics (prom-client) as a daemon extension: counters and histograms fed by the
// refresher's onAttempt observer; gauges (connections, queue depths, breakers, outbox) read from
// PostgreSQL and BullMQ when scraped, cached briefly so frequent scrapes stay cheap.
// Labels are provider, outcome, trigger, reason, error code, status, queue, state: never a token,
// a connection id or an externalId.
//
// Every process serves its own series (METRICS_PORT, config/env.ts): on the API's port when it
// runs the api role, else on a listener of its own (server.ts), so a worker-only process's refresh
// counters are scraped too. Gauges read shared state (PostgreSQL, Redis): every process reports
// the same values; aggregate them with max, not sum.
//
// GET /metrics needs an API key (a read key is enough): the daemon listens on 0.0.0.0 by default
// and the series reveal traffic per provider. Prometheus sends it with
//   authorization: { type: Bearer, credentials_file: /run/secrets/oauth_refresher_read_key }
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { ApiKeys } from '../api/auth.ts';
import type { AttemptEvent, AuthHook, DaemonExtension, ExtensionHost } from '../interfaces.ts';
import { breakerStates, connectionCounts, outboxBacklog } from '../store/gauges.ts';
import { providersWithConnections } from '../store/providers-in-use.ts';
import { providersInUse, refreshQueueNames } from '../schedule/policy.ts';
import { startMetricsServer, type MetricsServer } from './server.ts';

/** What the gauges read: the database, the queues and the provider keys. */
type MetricsHost = Pick<ExtensionHost, 'db' | 'queues' | 'providers'>;
/** What start() also uses: where to listen (config.metrics) and whom to tell. */
type StartHost = MetricsHost & Partial<Pick<ExtensionHost, 'config' | 'log'>>;

const CODE_RE = /^[A-Za-z0-9_.:-]{1,40}$/;
/** Error codes come from provider answers: keep them label-safe and bounded. */
export function codeLabel(code: string | undefined): string {
  if (!code) return 'none';
  return CODE_RE.test(code) ? code : 'other';
}

export interface MetricsOptions {
  /** How long gauge values read from PostgreSQL/Redis are reused between scrapes. */
  cacheMs?: number;
  /** Include Node.js process metrics (event loop lag, memory, GC). */
  processMetrics?: boolean;
}

export class MetricsExtension implements DaemonExtension {
  readonly name = 'metrics';
  readonly registry = new Registry();
  private host?: MetricsHost;
  private collected?: { at: number; p: Promise<void> };
  private readonly cacheMs: number;

  readonly refreshes = new Counter({
    name: 'oauth_refresher_refreshes_total',
    help: 'Refresh attempts by provider, trigger and outcome (rotated, transient, misconfigured, lost_race, needs_reauth).',
    labelNames: ['provider', 'trigger', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly failures = new Counter({
    name: 'oauth_refresher_refresh_failures_total',
    help: 'Failed refresh attempts by provider, outcome and error code.',
    labelNames: ['provider', 'outcome', 'code'] as const,
    registers: [this.registry],
  });
  readonly needsReauth = new Counter({
    name: 'oauth_refresher_needs_reauth_total',
    help: 'Connections marked needs_reauth, by provider and reason.',
    labelNames: ['provider', 'reason'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'oauth_refresher_refresh_duration_seconds',
    help: 'Duration of a refresh attempt (provider call plus commit).',
    labelNames: ['provider', 'outcome'] as const,
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly lateness = new Histogram({
    name: 'oauth_refresher_refresh_lateness_seconds',
    help: 'Actual start minus planned start of scheduled refreshes.',
    labelNames: ['provider'] as const,
    buckets: [0.1, 0.5, 1, 2, 5, 15, 30, 60, 300, 900, 3600],
    registers: [this.registry],
  });
  readonly commitWindow = new Histogram({
    name: 'oauth_refresher_commit_window_seconds',
    help: 'Time between the provider answer and the commit of rotated tokens (the crash window).',
    labelNames: ['provider'] as const,
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly connections = new Gauge({
    name: 'oauth_refresher_connections',
    help: 'Connections by provider and status.',
    labelNames: ['provider', 'status'] as const,
    registers: [this.registry],
  });
  readonly failing = new Gauge({
    name: 'oauth_refresher_connections_failing',
    help: 'Active connections whose latest refresh failed.',
    labelNames: ['provider'] as const,
    registers: [this.registry],
  });
  readonly queueJobs = new Gauge({
    name: 'oauth_refresher_queue_jobs',
    help: 'BullMQ jobs by queue and state.',
    labelNames: ['queue', 'state'] as const,
    registers: [this.registry],
  });
  readonly breaker = new Gauge({
    name: 'oauth_refresher_breaker_state',
    help: 'Credential breaker state per provider (1 for the current state).',
    labelNames: ['provider', 'state'] as const,
    registers: [this.registry],
  });
  readonly outbox = new Gauge({
    name: 'oauth_refresher_outbox_events',
    help: 'Outbox events not delivered: pending (will be retried) and dead (gave up).',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  readonly outboxAge = new Gauge({
    name: 'oauth_refresher_outbox_oldest_pending_seconds',
    help: 'Age of the oldest undelivered outbox event (0 when none).',
    registers: [this.registry],
  });
  readonly scrapeErrors = new Counter({
    name: 'oauth_refresher_metrics_collect_errors_total',
    help: 'Gauge collections that failed (PostgreSQL or Redis unreachable).',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });

  constructor(opts: MetricsOptions = {}) {
    this.cacheMs = opts.cacheMs ?? 5000;
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'oauth_refresher_' });
  }

  onAttempt = (e: AttemptEvent): void => {
    const o = e.outcome;
    this.refreshes.inc({ provider: e.provider, trigger: e.trigger, outcome: o.outcome });
    this.duration.observe({ provider: e.provider, outcome: o.outcome }, Math.max(0, e.durationMs) / 1000);
    if (e.lateMs !== undefined) this.lateness.observe({ provider: e.provider }, Math.max(0, e.lateMs) / 1000);
    if (e.commitWindowUs !== undefined && o.outcome === 'rotated')
      this.commitWindow.observe({ provider: e.provider }, e.commitWindowUs / 1e6);
    if (o.outcome === 'transient' || o.outcome === 'misconfigured' || o.outcome === 'needs_reauth') {
      this.failures.inc({ provider: e.provider, outcome: o.outcome, code: codeLabel(o.code) });
    }
    if (o.outcome === 'needs_reauth') this.needsReauth.inc({ provider: e.provider, reason: o.reason });
  };

  private server?: MetricsServer;

  /** The standalone listener's address, when this process has one. */
  get address(): string | undefined {
    return this.server?.address;
  }

  async start(d: StartHost): Promise<void> {
    this.host = d;
    const listen = d.config?.metrics;
    if (listen?.kind !== 'port') return;
    try {
      this.server = await startMetricsServer({
        host: d.config!.host,
        port: listen.port,
        keys: new ApiKeys(d.config!.apiKeys),
        render: () => this.render(),
      });
      d.log?.info({ address: this.server.address }, 'metrics server listening');
    } catch (err) {
      // Refreshing matters more than being scraped: a taken port is reported, not fatal.
      d.log?.error(
        { err, port: listen.port },
        'metrics server could not listen (METRICS_PORT in use?); this process serves no /metrics',
      );
    }
  }

  async close(): Promise<void> {
    await this.server?.close();
    this.server = undefined;
  }

  private async render(): Promise<{ contentType: string; body: string }> {
    await this.collect();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  async routes(app: FastifyInstance, auth: AuthHook, d: StartHost): Promise<void> {
    this.host = d;
    // Served on the API only when METRICS_PORT is the API's (the default with the api role).
    if (d.config && d.config.metrics.kind !== 'api') return;
    app.get('/metrics', { preHandler: auth('read') }, async (_req, reply) => {
      await this.collect();
      reply.header('content-type', this.registry.contentType);
      return this.registry.metrics();
    });
  }

  /** Refreshes the gauges from PostgreSQL and BullMQ (shared by concurrent scrapes, cached). */
  collect(): Promise<void> {
    const now = Date.now();
    if (this.collected && now - this.collected.at < this.cacheMs) return this.collected.p;
    const p = this.readGauges();
    this.collected = { at: now, p };
    return p;
  }

  private async readGauges(): Promise<void> {
    const d = this.host;
    if (!d) return;
    const providers = d.providers.all().map((p) => p.key);
    await Promise.all([
      (async () => {
        const { byStatus, failing } = await connectionCounts(d.db);
        this.connections.reset();
        this.failing.reset();
        for (const p of new Set([...providers, ...byStatus.map((r) => r.provider)])) {
          for (const status of ['active', 'needs_reauth']) {
            this.connections.set(
              { provider: p, status },
              byStatus.find((r) => r.provider === p && r.status === status)?.count ?? 0,
            );
          }
          this.failing.set({ provider: p }, failing.find((r) => r.provider === p)?.count ?? 0);
        }
      })().catch(() => this.scrapeErrors.inc({ source: 'connections' })),
      (async () => {
        // Providers in use only; a provider's shards are summed under its queue name of one shard.
        const used = providersInUse(d.providers.all(), await providersWithConnections(d.db)).map((p) => p.key);
        const states = ['wait', 'active', 'delayed', 'prioritized', 'failed'] as const;
        const counts = await Promise.all([
          d.queues.maintenance.getJobCounts(...states),
          ...used.map((p) => d.queues.jobCounts(p, ...states)),
        ]);
        const names = [d.queues.maintenance.name, ...used.map((p) => refreshQueueNames(p, 1)[0])];
        this.queueJobs.reset();
        names.forEach((queue, i) => {
          for (const [state, n] of Object.entries(counts[i]))
            this.queueJobs.set({ queue, state: state === 'wait' ? 'waiting' : state }, n);
        });
      })().catch(() => this.scrapeErrors.inc({ source: 'queues' })),
      (async () => {
        const states = await breakerStates(d.db);
        this.breaker.reset();
        for (const p of new Set([...providers, ...states.map((s) => s.provider)])) {
          const cur = states.find((s) => s.provider === p)?.breakerState ?? 'closed';
          for (const st of ['closed', 'open', 'half_open'])
            this.breaker.set({ provider: p, state: st }, st === cur ? 1 : 0);
        }
      })().catch(() => this.scrapeErrors.inc({ source: 'breakers' })),
      (async () => {
        const { pending, dead, oldestPendingAt: oldest } = await outboxBacklog(d.db);
        this.outbox.set({ state: 'pending' }, pending);
        this.outbox.set({ state: 'dead' }, dead);
        this.outboxAge.set(oldest ? Math.max(0, (Date.now() - oldest.getTime()) / 1000) : 0);
      })().catch(() => this.scrapeErrors.inc({ source: 'outbox' })),
    ]);
  }
}

export function createMetrics(opts: MetricsOptions = {}): MetricsExtension {
  return new MetricsExtension(opts);
}
