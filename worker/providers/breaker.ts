// The gate in front of each provider's token endpoint (a ProviderGate, see refresh/refresher.ts):
//
// 1. Credential circuit breaker. invalid_client, bad_client_secret and kin mean the operator's
//    client id/secret is wrong, not that a user's grant died. The first such answer opens the
//    breaker for that provider: its refreshes wait (nothing is marked needs_reauth), one connection
//    probes per BREAKER_PROBE_INTERVAL_MS, the first success closes it, and new credentials (SIGHUP
//    reload or restart) close it at once. State lives in PostgreSQL (ProviderState) so every process
//    agrees and it survives restarts; each open/close writes its outbox event in the same transaction.
// 2. Per-provider in-process limits on the token endpoint: at most `concurrency` requests in flight
//    and at most `ratePerSecond` starts per second, for the queue workers and the on-demand API alike,
//    so a slow or rate-limited provider only ever waits on itself.
//
// No secret ever enters this file's state, logs or API views: only codes, scrubbed descriptions and
// a credentials fingerprint (kept in the database, never shown).
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Daemon, DaemonExtension } from '../daemon.ts';
import type { ProviderGate } from '../refresh/refresher.ts';
import type { Db } from '../store/db.ts';
import { enqueueEvent } from '../store/outbox.ts';
import { scrubSecrets } from '../log/logger.ts';
import type { ProviderRegistry, ReloadResult, ResolvedProvider } from './registry.ts';

export type BreakerState = 'closed' | 'open' | 'half_open';

interface Cached {
  state: BreakerState;
  openedAt: number | null;
  lastProbeAt: number | null;
  lastErrorCode: string | null;
  lastErrorDescription: string | null;
  fingerprint: string | null;
  loadedAt: number;
}

interface StateRow {
  breakerState: string;
  openedAt: Date | null;
  lastProbeAt: Date | null;
  lastErrorCode: string | null;
  lastErrorDescription: string | null;
  credentialsFingerprint: string | null;
}

const MAX_DESC = 300;
/** After a credentials change, credential errors this recent may come from requests built before it. */
const STALE_AFTER_CHANGE_MS = 2000;

/** Counting semaphore + start pacing for one provider. Limits are read live (a reload may change them). */
class ProviderLimiter {
  active = 0;
  private readonly waiters: (() => void)[] = [];
  private paceChain: Promise<void> = Promise.resolve();
  private lastStartAt = 0;

  async acquire(limit: () => number): Promise<void> {
    if (this.active < limit()) {
      this.active++;
      return;
    }
    // release() counts us in before waking us.
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  release(limit: () => number): void {
    this.active--;
    // Hand free slots to waiters (a raised limit after a reload may admit several).
    while (this.waiters.length > 0 && this.active < limit()) {
      this.active++;
      this.waiters.shift()!();
    }
  }

  /**
   * Spaces request starts so at most `perSecond` begin in any second (0 = unlimited). Starts are
   * serialised and measured from the previous actual start, so a late timer never lets two
   * requests out closer together than 1/perSecond.
   */
  pace(perSecond: number, now: () => number): Promise<void> {
    if (!(perSecond > 0)) return Promise.resolve();
    const turn = this.paceChain.then(async () => {
      const wait = this.lastStartAt + 1000 / perSecond - now();
      if (wait > 0) await new Promise((r) => setTimeout(r, Math.ceil(wait)));
      this.lastStartAt = now();
    });
    this.paceChain = turn.catch(() => undefined);
    return turn;
  }

  get waiting(): number {
    return this.waiters.length;
  }
}

export interface BreakerGateOptions {
  probeIntervalMs: number;
  /** How long a process trusts its cached breaker state before re-reading it (default min(1 s, interval/2)). */
  cacheMs?: number;
  now?: () => number;
}

export interface ProviderGateView {
  state: BreakerState;
  openedAt: string | null;
  lastProbeAt: string | null;
  lastError: { code: string; description: string | null } | null;
  inFlight: number;
  waiting: number;
}

export class BreakerGate implements ProviderGate {
  private db?: Db;
  private log?: Logger;
  private readonly cache = new Map<string, Cached>();
  private readonly loading = new Map<string, Promise<Cached>>();
  private readonly limiters = new Map<string, ProviderLimiter>();
  private readonly staleAnswers = new Map<string, number[]>();
  private readonly credentialsChangedAt = new Map<string, number>();
  private readonly now: () => number;
  private readonly cacheMs: number;

  constructor(private readonly opts: BreakerGateOptions) {
    this.now = opts.now ?? Date.now;
    this.cacheMs = opts.cacheMs ?? Math.max(50, Math.min(1000, Math.floor(opts.probeIntervalMs / 2)));
  }

  /** Binds the database and logger (the daemon creates them after the gate). Until then the gate is open. */
  bind(db: Db, log: Logger): void {
    this.db = db;
    this.log = log.child({ component: 'provider-gate' });
  }

  // ----- ProviderGate ----------------------------------------------------------------------------

  async admit(p: ResolvedProvider, connectionId: string): Promise<boolean> {
    if (!this.db) return true;
    let st = await this.stateOf(p.key);
    if (st.state === 'closed') return true;
    if (st.fingerprint !== null && st.fingerprint !== p.credentialsFingerprint) {
      // The operator changed the client id/secret since the breaker opened: try them at once.
      this.credentialsChangedAt.set(p.key, this.now());
      await this.close(p, 'credentials_changed');
      return true;
    }
    const nowMs = this.now();
    const interval = this.opts.probeIntervalMs;
    if (st.lastProbeAt !== null && nowMs - st.lastProbeAt < interval) return false;
    // One probe per interval across all processes: whoever moves lastProbeAt wins.
    const claimed = await this.db.$executeRaw`
      UPDATE "ProviderState" SET "breakerState" = 'half_open', "lastProbeAt" = ${new Date(nowMs)}, "updatedAt" = ${new Date(nowMs)}
      WHERE "provider" = ${p.key} AND "breakerState" <> 'closed'
        AND ("lastProbeAt" IS NULL OR "lastProbeAt" <= ${new Date(nowMs - interval)})`;
    if (claimed === 1) {
      st = { ...st, state: 'half_open', lastProbeAt: nowMs };
      this.cache.set(p.key, { ...st, loadedAt: nowMs });
      this.log?.info({ provider: p.key, connectionId }, 'credential breaker open: probing the provider with one connection');
      return true;
    }
    // Someone else probed (or the breaker closed meanwhile): look again.
    this.cache.delete(p.key);
    const fresh = await this.stateOf(p.key);
    return fresh.state === 'closed';
  }

  async run<T>(p: ResolvedProvider, fn: () => Promise<T>): Promise<T> {
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

  async report(p: ResolvedProvider, result: 'ok' | 'credentials' | 'other', detail?: { code: string; description: string }): Promise<void> {
    if (!this.db) return;
    try {
      if (result === 'credentials') {
        // Requests built just before a credentials change may still answer for the old ones.
        const changedAt = this.credentialsChangedAt.get(p.key);
        if (this.takeStale(p.key) || (changedAt !== undefined && this.now() - changedAt < STALE_AFTER_CHANGE_MS)) {
          this.log?.info({ provider: p.key }, 'credential error from a request sent with the previous credentials; ignored');
          return;
        }
        await this.open(p, detail ?? { code: 'credentials', description: '' });
      } else if (result === 'ok') {
        const st = this.cache.get(p.key);
        if (!st || st.state !== 'closed') await this.close(p, 'probe_succeeded');
      }
    } catch (err) {
      this.log?.warn({ provider: p.key, err }, 'could not record the credential breaker state; will retry on the next answer');
    }
  }

  // ----- state -----------------------------------------------------------------------------------

  /** Consumes one recent stale-answer mark (answers to requests sent with replaced credentials). */
  private takeStale(key: string): boolean {
    const list = this.staleAnswers.get(key);
    if (!list) return false;
    const fresh = list.filter((t) => this.now() - t < 10_000);
    const hit = fresh.shift() !== undefined;
    if (fresh.length) this.staleAnswers.set(key, fresh);
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

  private async stateOf(key: string): Promise<Cached> {
    const c = this.cache.get(key);
    if (c && this.now() - c.loadedAt < this.cacheMs) return c;
    let p = this.loading.get(key);
    if (!p) {
      p = this.load(key).finally(() => this.loading.delete(key));
      this.loading.set(key, p);
    }
    return p;
  }

  private async load(key: string): Promise<Cached> {
    const row = await this.db!.providerState.findUnique({ where: { provider: key } });
    const c = toCached(row, this.now());
    this.cache.set(key, c);
    return c;
  }

  private async open(p: ResolvedProvider, detail: { code: string; description: string }): Promise<void> {
    const db = this.db!;
    const nowMs = this.now();
    const now = new Date(nowMs);
    const code = detail.code.slice(0, 100);
    const description = scrubSecrets(detail.description).slice(0, MAX_DESC);
    const opened = await db.$transaction(async (tx) => {
      await tx.$executeRaw`
        INSERT INTO "ProviderState" ("provider", "breakerState", "updatedAt") VALUES (${p.key}, 'closed', ${now})
        ON CONFLICT ("provider") DO NOTHING`;
      const rows = await tx.$queryRaw<{ breakerState: string; openedAt: Date | null }[]>`
        SELECT "breakerState", "openedAt" FROM "ProviderState" WHERE "provider" = ${p.key} FOR UPDATE`;
      const wasClosed = rows[0]?.breakerState !== 'open' && rows[0]?.breakerState !== 'half_open';
      await tx.providerState.update({
        where: { provider: p.key },
        data: {
          breakerState: 'open',
          ...(wasClosed ? { openedAt: now } : {}),
          lastProbeAt: now,
          lastErrorCode: code,
          lastErrorDescription: description,
          credentialsFingerprint: p.credentialsFingerprint,
        },
      });
      if (wasClosed) {
        await enqueueEvent(tx, 'provider.credentials_invalid', {
          provider: p.key,
          payload: { provider: p.key, errorCode: code, errorDescription: description, openedAt: now.toISOString(), probeIntervalMs: this.opts.probeIntervalMs },
        });
      }
      return { wasClosed, openedAt: wasClosed ? now : rows[0]?.openedAt ?? now };
    });
    this.cache.set(p.key, {
      state: 'open', openedAt: opened.openedAt.getTime(), lastProbeAt: nowMs, lastErrorCode: code, lastErrorDescription: description,
      fingerprint: p.credentialsFingerprint, loadedAt: nowMs,
    });
    if (opened.wasClosed) {
      this.log?.error({ provider: p.key, code, description, probeIntervalMs: this.opts.probeIntervalMs },
        'provider rejected our client credentials: credential breaker OPEN, refreshes for this provider wait (no connection is marked needs_reauth); fix the client id/secret and reload (SIGHUP) or restart');
    }
  }

  /** Closes the breaker if it is not closed; emits provider.credentials_restored once. */
  async close(p: ResolvedProvider, reason: 'probe_succeeded' | 'credentials_changed'): Promise<boolean> {
    if (!this.db) return false;
    const nowMs = this.now();
    const now = new Date(nowMs);
    const closed = await this.db.$transaction(async (tx) => {
      const rows = await tx.$queryRaw<{ breakerState: string; openedAt: Date | null; lastErrorCode: string | null }[]>`
        SELECT "breakerState", "openedAt", "lastErrorCode" FROM "ProviderState" WHERE "provider" = ${p.key} FOR UPDATE`;
      const row = rows[0];
      if (!row || row.breakerState === 'closed') return null;
      await tx.providerState.update({
        where: { provider: p.key },
        data: { breakerState: 'closed', openedAt: null, credentialsFingerprint: p.credentialsFingerprint },
      });
      await enqueueEvent(tx, 'provider.credentials_restored', {
        provider: p.key,
        payload: {
          provider: p.key, reason, openedAt: row.openedAt?.toISOString() ?? null, closedAt: now.toISOString(),
          openForMs: row.openedAt ? nowMs - row.openedAt.getTime() : null, lastErrorCode: row.lastErrorCode,
        },
      });
      return row;
    });
    const prev = this.cache.get(p.key);
    this.cache.set(p.key, {
      state: 'closed', openedAt: null, lastProbeAt: prev?.lastProbeAt ?? null, lastErrorCode: prev?.lastErrorCode ?? null,
      lastErrorDescription: prev?.lastErrorDescription ?? null, fingerprint: p.credentialsFingerprint, loadedAt: nowMs,
    });
    if (closed) this.log?.warn({ provider: p.key, reason }, 'credential breaker CLOSED: refreshes for this provider resume');
    return closed !== null;
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
        this.log?.warn({ provider: key, err }, 'could not close the credential breaker after a reload; the next refresh will');
      }
    }
  }

  /** Breaker and limiter state of every provider (for GET /v1/providers). Never includes secrets. */
  async views(keys: string[]): Promise<Record<string, ProviderGateView>> {
    const rows = this.db ? await this.db.providerState.findMany({ where: { provider: { in: keys } } }) : [];
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
}

function toCached(row: StateRow | null, nowMs: number): Cached {
  const state = row?.breakerState === 'open' || row?.breakerState === 'half_open' ? row.breakerState : 'closed';
  return {
    state,
    openedAt: row?.openedAt?.getTime() ?? null,
    lastProbeAt: row?.lastProbeAt?.getTime() ?? null,
    lastErrorCode: row?.lastErrorCode ?? null,
    lastErrorDescription: row?.lastErrorDescription ?? null,
    fingerprint: row?.credentialsFingerprint ?? null,
    loadedAt: nowMs,
  };
}

/** The public, secret-free description of a provider definition. */
export function providerView(p: ResolvedProvider) {
  // Never show userinfo or a query string (either could carry a credential someone put there).
  const tokenUrl = p.tokenUrl.split('?')[0].replace(/^([a-z]+:\/\/)[^/@]*@/i, '$1');
  return {
    key: p.key,
    displayName: p.displayName,
    configured: p.configured,
    tokenUrl,
    clientAuth: p.clientAuth,
    paramsIn: p.paramsIn,
    responseFormat: p.responseFormat,
    extraParamNames: Object.keys(p.extraParams),
    headerNames: Object.keys(p.headers),
    expiry: { source: p.expiry.source, field: p.expiry.field ?? null, defaultLifetimeSec: p.expiry.defaultLifetimeSec ?? null, cron: p.expiry.cron ?? null },
    rotation: p.rotation,
    oldTokenGrace: p.oldTokenGrace,
    refreshLeadSec: p.refreshLeadSec,
    idleLifetimeSec: p.idleLifetimeSec ?? null,
    concurrency: p.concurrency,
    ratePerSecond: p.ratePerSecond,
    metadataFields: p.metadataFields,
    notes: p.notes ?? null,
  };
}

/** The breaker + limits as a daemon extension, with GET /v1/providers[/:key] (read scope). */
export function providerGateExtension(opts: BreakerGateOptions): DaemonExtension & { gate: BreakerGate } {
  const gate = new BreakerGate(opts);
  let unsubscribe: (() => void) | undefined;
  return {
    name: 'provider-gate',
    gate,
    async start(d: Daemon) {
      gate.bind(d.db, d.log);
      unsubscribe = d.providers.onReload((r) => {
        if (r.credentialsChanged.length) void gate.onCredentialsChanged(d.providers, r);
      });
      // Restart with new credentials: close breakers whose recorded credentials are not ours.
      const open = await d.db.providerState.findMany({ where: { breakerState: { not: 'closed' } } });
      for (const row of open) {
        const p = d.providers.get(row.provider);
        if (p && row.credentialsFingerprint && row.credentialsFingerprint !== p.credentialsFingerprint) await gate.close(p, 'credentials_changed');
        else if (p) d.log.warn({ provider: p.key, code: row.lastErrorCode }, 'credential breaker is open for this provider (from an earlier run): refreshes wait for a successful probe');
      }
    },
    routes(app: FastifyInstance, auth, d: Daemon) {
      const read = { preHandler: auth('read') };
      app.get('/v1/providers', read, async () => {
        const all = d.providers.all();
        const views = await gate.views(all.map((p) => p.key));
        return { providers: all.map((p) => ({ ...providerView(p), breaker: views[p.key] })) };
      });
      app.get<{ Params: { key: string } }>('/v1/providers/:key', read, async (req, reply) => {
        const p = d.providers.get(req.params.key);
        if (!p) return reply.code(404).send({ error: 'not_found', message: 'no such provider' });
        const views = await gate.views([p.key]);
        return { ...providerView(p), breaker: views[p.key] };
      });
    },
    close() {
      unsubscribe?.();
    },
  };
}
