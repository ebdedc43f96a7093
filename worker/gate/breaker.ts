// The gate in front of each provider's token endpoint (a ProviderGate, see interfaces.ts):
//
// 1. Credential circuit breaker. invalid_client, bad_client_secret and kin mean the operator's
//    client id/secret is wrong, not that a user's grant died. The first such answer opens the
//    breaker for that provider: its refreshes wait (nothing is marked needs_reauth), one connection
//    probes per BREAKER_PROBE_INTERVAL_MS, the first success closes it, and new credentials (SIGHUP
//    reload or restart) close it at once. State lives in PostgreSQL (ProviderState) so every process
//    agrees and it survives restarts; each open/close writes its outbox event in the same transaction.
//    The rules are in providers/breaker-policy.ts, the SQL in store/provider-state.ts.
// 2. Per-provider in-process limits on the token endpoint (providers/limiter.ts), for the queue
//    workers and the on-demand API alike, so a slow or rate-limited provider only ever waits on itself.
// 3. The provider-wide outage hold, delegated to gate/outage-hold.ts (its own state machine).
//
// No secret ever enters this file's state, logs or API views: only codes, scrubbed descriptions and
// a credentials fingerprint (kept in the database, never shown). Its HTTP routes (GET
// /v1/providers) are in api/routes/breaker.ts.
//
// It sits in its own folder, above store/ and api/, because it uses both; the provider definitions,
// the breaker rules and the limiter stay in providers/, below store/ (which reads definitions).
import type { Logger } from 'pino';
import { registerBreakerRoutes } from '../api/routes/breaker.ts';
import type { DaemonExtension, ExtensionHost, GatedProvider, JobPlanner, ProviderGate } from '../interfaces.ts';
import { scrubSecrets } from '../log/scrub.ts';
import type { Db } from '../store/db.ts';
import {
  claimProbe,
  openBreakerStates,
  providerStates,
  readProviderState,
  recordBreakerClose,
  recordBreakerOpen,
} from '../store/provider-state.ts';
import {
  admission,
  closesOnSuccess,
  defaultCacheMs,
  ignoresCredentialError,
  snapshotOf,
  takeStaleMark,
  type BreakerSnapshot,
  type BreakerState,
  type ProviderGateView,
} from '../providers/breaker-policy.ts';
import { ProviderLimiter } from '../providers/limiter.ts';
import { DEFAULT_OUTAGE, outageView, type OutageThresholds, type OutageView } from '../providers/outage-policy.ts';
import { holdOf } from '../store/provider-hold.ts';
import { OutageHold, type HoldDecision } from './outage-hold.ts';
import type { ProviderRegistry, ReloadResult } from '../providers/registry.ts';
import { SingleFlight } from '../util/single-flight.ts';

const MAX_DESC = 300;

export interface BreakerGateOptions {
  probeIntervalMs: number;
  /** How long a process trusts its cached breaker state before re-reading it (default min(1 s, interval/2)). */
  cacheMs?: number;
  now?: () => number;
  /** Provider-wide outage hold thresholds (defaults: providers/outage-policy.ts). */
  outage?: Partial<OutageThresholds>;
}

export class BreakerGate implements ProviderGate {
  private db?: Db;
  private log?: Logger;
  private readonly cache = new Map<string, BreakerSnapshot>();
  private readonly loading = new SingleFlight<BreakerSnapshot>();
  private readonly limiters = new Map<string, ProviderLimiter>();
  private readonly staleAnswers = new Map<string, number[]>();
  private readonly credentialsChangedAt = new Map<string, number>();
  private readonly now: () => number;
  private readonly cacheMs: number;
  readonly outage: OutageHold;

  constructor(private readonly opts: BreakerGateOptions) {
    this.now = opts.now ?? Date.now;
    this.cacheMs = opts.cacheMs ?? defaultCacheMs(opts.probeIntervalMs);
    this.outage = new OutageHold({
      thresholds: { ...DEFAULT_OUTAGE, ...opts.outage },
      closedCacheMs: this.cacheMs,
      heldCacheMs: Math.min(this.cacheMs, 250),
      now: this.now,
    });
  }

  /** Binds the database and logger (the daemon creates them after the gate). Until then the gate is open. */
  bind(db: Db, log: Logger, planner?: JobPlanner): void {
    this.db = db;
    this.log = log.child({ component: 'provider-gate' });
    this.outage.bind(db, this.log, planner);
  }

  // ----- ProviderGate ----------------------------------------------------------------------------

  async admit(p: GatedProvider, connectionId: string): Promise<boolean> {
    if (!this.db) return true;
    const st = await this.stateOf(p.key);
    const nowMs = this.now();
    switch (admission(st, p.credentialsFingerprint, nowMs, this.opts.probeIntervalMs)) {
      case 'pass':
        return true;
      case 'wait':
        return false;
      case 'credentials_changed':
        // The operator changed the client id/secret since the breaker opened: try them at once.
        this.credentialsChangedAt.set(p.key, nowMs);
        await this.close(p, 'credentials_changed');
        return true;
      case 'probe':
        return this.tryProbe(p, st, nowMs, connectionId);
    }
  }

  async run<T>(p: GatedProvider, fn: () => Promise<T>): Promise<T> {
    const l = this.limiterOf(p.key);
    const limit = () => Math.max(1, p.concurrency);
    await l.acquire(limit);
    const fingerprint = p.credentialsFingerprint;
    try {
      await l.pace(p.ratePerSecond, this.now);
      return await fn();
    } finally {
      l.release(limit);
      // The credentials changed (reload) while this request was out with the old ones: its answer
      // says nothing about the new credentials, so a credential error from it must not reopen.
      if (p.credentialsFingerprint !== fingerprint) {
        const stale = this.staleAnswers.get(p.key) ?? [];
        stale.push(this.now());
        this.staleAnswers.set(p.key, stale);
      }
    }
  }

  async report(
    p: GatedProvider,
    result: 'ok' | 'credentials' | 'other',
    detail?: { code: string; description: string },
  ): Promise<void> {
    if (!this.db) return;
    try {
      if (result === 'credentials') {
        // Requests built just before a credentials change may still answer for the old ones.
        if (ignoresCredentialError(this.takeStale(p.key), this.credentialsChangedAt.get(p.key), this.now())) {
          this.log?.info(
            { provider: p.key },
            'credential error from a request sent with the previous credentials; ignored',
          );
          return;
        }
        await this.open(p, detail ?? { code: 'credentials', description: '' });
      } else if (result === 'ok') {
        await this.outage.succeeded(p).catch((err: unknown) => {
          this.log?.warn({ provider: p.key, err }, 'could not release the outage hold; the next success will');
        });
        if (closesOnSuccess(this.cache.get(p.key))) await this.close(p, 'probe_succeeded');
      }
    } catch (err) {
      this.log?.warn(
        { provider: p.key, err },
        'could not record the credential breaker state; will retry on the next answer',
      );
    }
  }

  // ----- outage hold (gate/outage-hold.ts) ------------------------------------------------------

  hold(p: GatedProvider, connectionId: string): Promise<HoldDecision> {
    return this.outage.admit(p, connectionId);
  }

  transient(
    p: GatedProvider,
    connectionId: string,
    ownBackoffMs: number,
  ): Promise<{ retryAt: number; countsAsFailure: boolean }> {
    return this.outage.transient(p, connectionId, ownBackoffMs);
  }

  // ----- state -----------------------------------------------------------------------------------

  /** One probe per interval across all processes: whoever moves lastProbeAt wins. */
  private async tryProbe(p: GatedProvider, st: BreakerSnapshot, nowMs: number, connectionId: string): Promise<boolean> {
    if (await claimProbe(this.db!, p.key, nowMs, this.opts.probeIntervalMs)) {
      this.cache.set(p.key, { ...st, state: 'half_open', lastProbeAt: nowMs, loadedAt: nowMs });
      this.log?.info(
        { provider: p.key, connectionId },
        'credential breaker open: probing the provider with one connection',
      );
      return true;
    }
    // Someone else probed (or the breaker closed meanwhile): look again.
    this.cache.delete(p.key);
    const fresh = await this.stateOf(p.key);
    return fresh.state === 'closed';
  }

  /** Consumes one recent stale-answer mark (answers to requests sent with replaced credentials). */
  private takeStale(key: string): boolean {
    const list = this.staleAnswers.get(key);
    if (!list) return false;
    const { hit, rest } = takeStaleMark(list, this.now());
    if (rest.length) this.staleAnswers.set(key, rest);
    else this.staleAnswers.delete(key);
    return hit;
  }

  private limiterOf(key: string): ProviderLimiter {
    let l = this.limiters.get(key);
    if (!l) {
      l = new ProviderLimiter();
      this.limiters.set(key, l);
    }
    return l;
  }

  private async stateOf(key: string): Promise<BreakerSnapshot> {
    const c = this.cache.get(key);
    if (c && this.now() - c.loadedAt < this.cacheMs) return c;
    return this.loading.run(key, () => this.load(key));
  }

  private async load(key: string): Promise<BreakerSnapshot> {
    const c = snapshotOf(await readProviderState(this.db!, key), this.now());
    this.cache.set(key, c);
    return c;
  }

  private async open(p: GatedProvider, detail: { code: string; description: string }): Promise<void> {
    const nowMs = this.now();
    const code = detail.code.slice(0, 100);
    const description = scrubSecrets(detail.description).slice(0, MAX_DESC);
    const { probeIntervalMs } = this.opts;
    const opened = await recordBreakerOpen(this.db!, {
      provider: p.key,
      fingerprint: p.credentialsFingerprint,
      code,
      description,
      nowMs,
      probeIntervalMs,
    });
    this.cache.set(p.key, {
      state: 'open',
      openedAt: opened.openedAt.getTime(),
      lastProbeAt: nowMs,
      lastErrorCode: code,
      lastErrorDescription: description,
      fingerprint: p.credentialsFingerprint,
      loadedAt: nowMs,
    });
    if (opened.wasClosed) {
      this.log?.error(
        { provider: p.key, code, description, probeIntervalMs },
        'provider rejected our client credentials: credential breaker OPEN, refreshes for this provider wait (no connection is marked needs_reauth); fix the client id/secret and reload (SIGHUP) or restart',
      );
    }
  }

  /** Closes the breaker if it is not closed; emits provider.credentials_restored once. */
  async close(p: GatedProvider, reason: 'probe_succeeded' | 'credentials_changed'): Promise<boolean> {
    if (!this.db) return false;
    const nowMs = this.now();
    const closed = await recordBreakerClose(this.db, {
      provider: p.key,
      fingerprint: p.credentialsFingerprint,
      reason,
      nowMs,
    });
    const prev = this.cache.get(p.key);
    this.cache.set(p.key, {
      state: 'closed',
      openedAt: null,
      lastProbeAt: prev?.lastProbeAt ?? null,
      lastErrorCode: prev?.lastErrorCode ?? null,
      lastErrorDescription: prev?.lastErrorDescription ?? null,
      fingerprint: p.credentialsFingerprint,
      loadedAt: nowMs,
    });
    if (closed)
      this.log?.warn({ provider: p.key, reason }, 'credential breaker CLOSED: refreshes for this provider resume');
    return closed;
  }

  /** After a reload: providers with new credentials get their breaker closed at once. */
  async onCredentialsChanged(registry: ProviderRegistry, r: ReloadResult): Promise<void> {
    for (const key of r.credentialsChanged) {
      const p = registry.get(key);
      if (!p) continue;
      this.cache.delete(key);
      this.credentialsChangedAt.set(key, this.now());
      try {
        await this.close(p, 'credentials_changed');
      } catch (err) {
        this.log?.warn(
          { provider: key, err },
          'could not close the credential breaker after a reload; the next refresh will',
        );
      }
    }
  }

  /** Breaker and limiter state of every provider (for GET /v1/providers). Never includes secrets. */
  async views(keys: string[]): Promise<Record<string, ProviderGateView>> {
    const rows = this.db ? await providerStates(this.db, keys) : [];
    const byKey = new Map(rows.map((r) => [r.provider, r]));
    const out: Record<string, ProviderGateView> = {};
    for (const k of keys) {
      const r = byKey.get(k);
      const l = this.limiters.get(k);
      out[k] = {
        state: (r?.breakerState as BreakerState | undefined) ?? 'closed',
        openedAt: r?.openedAt?.toISOString() ?? null,
        lastProbeAt: r?.lastProbeAt?.toISOString() ?? null,
        lastError: r?.lastErrorCode ? { code: r.lastErrorCode, description: r.lastErrorDescription } : null,
        inFlight: l?.active ?? 0,
        waiting: l?.waiting ?? 0,
      };
    }
    return out;
  }

  /** The outage hold of every provider, from PostgreSQL (for GET /v1/providers). */
  async outageViews(keys: string[]): Promise<Record<string, OutageView>> {
    const rows = this.db ? await providerStates(this.db, keys) : [];
    const byKey = new Map(rows.map((r) => [r.provider, r]));
    return Object.fromEntries(keys.map((k) => [k, outageView(holdOf(byKey.get(k)))]));
  }
}

/** The breaker + limits as a daemon extension, with GET /v1/providers[/:key] (read scope). */
export function providerGateExtension(opts: BreakerGateOptions): DaemonExtension & { gate: BreakerGate } {
  const gate = new BreakerGate(opts);
  let unsubscribe: (() => void) | undefined;
  return {
    name: 'provider-gate',
    gate,
    async start(d: Pick<ExtensionHost, 'db' | 'log' | 'providers' | 'scheduler'>) {
      gate.bind(d.db, d.log, d.scheduler);
      unsubscribe = d.providers.onReload((r) => {
        if (r.credentialsChanged.length) void gate.onCredentialsChanged(d.providers, r);
      });
      // Restart with new credentials: close breakers whose recorded credentials are not ours.
      for (const row of await openBreakerStates(d.db)) {
        const p = d.providers.get(row.provider);
        if (p && row.credentialsFingerprint && row.credentialsFingerprint !== p.credentialsFingerprint)
          await gate.close(p, 'credentials_changed');
        else if (p)
          d.log.warn(
            { provider: p.key, code: row.lastErrorCode },
            'credential breaker is open for this provider (from an earlier run): refreshes wait for a successful probe',
          );
      }
    },
    routes(app, auth, d: Pick<ExtensionHost, 'providers'>) {
      registerBreakerRoutes(app, auth, { providers: d.providers, gate });
    },
    close() {
      unsubscribe?.();
    },
  };
}
