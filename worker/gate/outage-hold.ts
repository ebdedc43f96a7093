// The provider-wide outage hold (rules: providers/outage-policy.ts, SQL: store/provider-hold.ts).
//
// When many connections of one provider fail transient within a window, the provider holds: its
// refreshes wait (no request, no failure counted, no stacked backoff), one probe at a time goes out
// across all processes, and the first success releases the hold and re-schedules every connection
// that waited on it at once, spread over a short window within the provider's rate limit.
//
// The hold itself is shared (PostgreSQL), so every process waits, probes and releases together.
// Detection is per process: each process counts the distinct connections it saw fail transient and
// the first to cross the threshold opens the shared hold. A provider-wide outage hits every process
// at once, so each sees its share within the window, and counting locally costs no database write
// per failed request during the outage, when the failures come fastest.
import type { Logger } from 'pino';
import type { GatedProvider, JobPlanner } from '../interfaces.ts';
import {
  CLOSED_HOLD,
  holdAdmission,
  isProviderOutage,
  noteTransient,
  probeClaimed,
  probeFailed,
  releaseOffsetMs,
  startHold,
  transientRetry,
  type HoldSnapshot,
  type OutageThresholds,
} from '../providers/outage-policy.ts';
import type { Db } from '../store/db.ts';
import {
  claimHoldProbe,
  failHoldProbe,
  openHold,
  readHold,
  releaseHeldConnections,
  releaseHold,
} from '../store/provider-hold.ts';
import { SingleFlight } from '../util/single-flight.ts';

/** At most this many waiting connections are re-scheduled on release; the rest wake at their probe time. */
const RELEASE_BATCH = 20_000;
/** Job moves in flight at once while releasing (each is a few Redis round trips). */
const RELEASE_PARALLEL = 32;

export interface OutageHoldOptions {
  thresholds: OutageThresholds;
  /** How long a closed hold is trusted before re-reading it (the breaker's cacheMs). */
  closedCacheMs: number;
  /**
   * How long a held state is trusted: short, so a release made by another process is seen before
   * the connections it re-scheduled wake up (the release starts this much later).
   */
  heldCacheMs: number;
  now: () => number;
}

type Cached = HoldSnapshot & { loadedAt: number };

export type HoldDecision = { kind: 'pass' } | { kind: 'wait'; until: number };

export class OutageHold {
  private db?: Db;
  private log?: Logger;
  private planner?: JobPlanner;
  private readonly cache = new Map<string, Cached>();
  private readonly loading = new SingleFlight<Cached>();
  private readonly transients = new Map<string, Map<string, number>>();
  /** The connection whose probe this process has out, per provider. */
  private readonly probers = new Map<string, string>();

  constructor(private readonly o: OutageHoldOptions) {}

  bind(db: Db, log: Logger, planner?: JobPlanner): void {
    this.db = db;
    this.log = log;
    this.planner = planner;
  }

  /** May this connection call the provider now, or wait until `until`? */
  async admit(p: GatedProvider, connectionId: string): Promise<HoldDecision> {
    if (!this.db) return { kind: 'pass' };
    const h = await this.snapshot(p.key);
    const nowMs = this.o.now();
    const a = holdAdmission(h, nowMs);
    if (a.kind !== 'probe') return a;
    const next = probeClaimed(h, nowMs, this.o.thresholds);
    if (await claimHoldProbe(this.db, p.key, h, next, nowMs)) {
      this.cache.set(p.key, { ...next, loadedAt: nowMs });
      this.probers.set(p.key, connectionId);
      this.log?.info({ provider: p.key, connectionId, probe: next.probes }, 'provider outage hold: probing');
      return { kind: 'pass' };
    }
    // Another process claimed it (or released the hold): look again.
    this.cache.delete(p.key);
    const fresh = holdAdmission(await this.snapshot(p.key), nowMs);
    return fresh.kind === 'probe' ? { kind: 'wait', until: nowMs + this.o.heldCacheMs } : fresh;
  }

  /** Notes a transient failure; where the connection retries (its own backoff, or the hold's probe). */
  async transient(
    p: GatedProvider,
    connectionId: string,
    ownBackoffMs: number,
  ): Promise<{ retryAt: number; countsAsFailure: boolean }> {
    const nowMs = this.o.now();
    if (!this.db) return { retryAt: nowMs + ownBackoffMs, countsAsFailure: true };
    let h: HoldSnapshot = await this.snapshot(p.key);
    if (this.probers.get(p.key) === connectionId && h.state === 'probing') {
      this.probers.delete(p.key);
      h = probeFailed(h, nowMs, this.o.thresholds);
      await failHoldProbe(this.db, p.key, h, nowMs);
      this.cache.set(p.key, { ...h, loadedAt: nowMs });
    } else if (h.state === 'closed') {
      h = await this.noteTransient(p.key, connectionId, nowMs);
    }
    return transientRetry(h, ownBackoffMs, nowMs);
  }

  /** A success from the provider: end the hold (if this process knows of one) and release its waiters. */
  async succeeded(p: GatedProvider): Promise<void> {
    const c = this.cache.get(p.key);
    if (!this.db || !c || c.state === 'closed') return;
    const nowMs = this.o.now();
    this.probers.delete(p.key);
    this.transients.delete(p.key);
    const r = await releaseHold(this.db, p.key, nowMs);
    this.cache.set(p.key, { ...CLOSED_HOLD, loadedAt: nowMs });
    if (!r.released) return;
    this.log?.warn(
      { provider: p.key, heldForMs: nowMs - r.since, probes: r.probes },
      'provider outage hold released: refreshes resume',
    );
    // In the background: the credential breaker's answer to this success must not wait on the job moves.
    void this.releaseWaiters(p, r.since, nowMs).catch((err: unknown) => {
      this.log?.warn(
        { provider: p.key, err },
        'could not release the connections that waited; they go at their probe time',
      );
    });
  }

  private async noteTransient(key: string, connectionId: string, nowMs: number): Promise<HoldSnapshot> {
    const t = this.o.thresholds;
    const w = noteTransient(this.transients.get(key) ?? new Map(), connectionId, nowMs, t);
    this.transients.set(key, w);
    if (!isProviderOutage(w, nowMs, t)) return CLOSED_HOLD;
    this.transients.delete(key);
    const { opened, hold } = await openHold(this.db!, key, startHold(nowMs, t), nowMs);
    this.cache.set(key, { ...hold, loadedAt: nowMs });
    if (opened)
      this.log?.warn(
        { provider: key, connections: w.size, windowMs: t.windowMs },
        'provider-wide transient outage: holding its refreshes behind one probe',
      );
    return hold;
  }

  /**
   * Re-schedules every connection that waited on the hold: from just after every process has seen
   * the release (heldCacheMs), spread over releaseSpreadMs and never faster than ratePerSecond.
   */
  private async releaseWaiters(p: GatedProvider, sinceMs: number, nowMs: number): Promise<void> {
    const planner = this.planner;
    if (!planner) return;
    const t = this.o.thresholds;
    const start = nowMs + this.o.heldCacheMs;
    const ids = await releaseHeldConnections(
      this.db!,
      p.key,
      new Date(sinceMs - t.windowMs),
      new Date(start),
      RELEASE_BATCH,
    );
    let next = 0;
    const lane = async () => {
      for (let i = next++; i < ids.length; i = next++) {
        const at = new Date(start + releaseOffsetMs(i, ids.length, t.releaseSpreadMs, p.ratePerSecond));
        await planner.ensure(ids[i], p.key, at).catch((err: unknown) => {
          this.log?.warn({ provider: p.key, connectionId: ids[i], err }, 'could not re-schedule after the outage');
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(RELEASE_PARALLEL, ids.length) }, lane));
    this.log?.info({ provider: p.key, connections: ids.length }, 'provider outage hold: waiting connections released');
  }

  private async snapshot(key: string): Promise<Cached> {
    const c = this.cache.get(key);
    const ttl = c?.state === 'closed' ? this.o.closedCacheMs : this.o.heldCacheMs;
    if (c && this.o.now() - c.loadedAt < ttl) return c;
    return this.loading.run(key, async () => {
      const v = { ...(await readHold(this.db!, key)), loadedAt: this.o.now() };
      this.cache.set(key, v);
      return v;
    });
  }
}
