// The provider-wide outage hold's rules, pure. Per-connection backoff is right for one broken
// connection and wrong when the whole provider is down: after a long outage each connection would
// wait out its own stacked backoff long after the provider recovered. So when enough distinct
// connections of one provider fail transient within a window, the provider holds: its refreshes
// wait for one probe at a time (1 s, 2 s, 4 s, capped low), and the first success releases them,
// spread over a short window. The gate (gate/outage-hold.ts) does the I/O around these rules.

export type HoldState = 'closed' | 'holding' | 'probing';

export interface OutageThresholds {
  /** Distinct connections failing transient within windowMs that mean a provider-wide outage. */
  minConnections: number;
  windowMs: number;
  probeBaseMs: number;
  /** Cap of the probe interval: kept low so recovery is seen within seconds. */
  probeMaxMs: number;
  /** On release, the waiting connections go spread over this window (within the provider's rate limit). */
  releaseSpreadMs: number;
}

export const DEFAULT_OUTAGE: OutageThresholds = {
  minConnections: 5,
  windowMs: 10_000,
  probeBaseMs: 1000,
  probeMaxMs: 3000,
  releaseSpreadMs: 1000,
};

export interface HoldSnapshot {
  state: HoldState;
  since: number | null;
  /** When the next probe may go out (holding), or when the running probe's claim lapses (probing). */
  nextProbeAt: number | null;
  /** Probes sent in this hold (drives the probe backoff). */
  probes: number;
}

export const CLOSED_HOLD: HoldSnapshot = { state: 'closed', since: null, nextProbeAt: null, probes: 0 };

/** Recent transient failures of one provider: connection id -> time of its latest failure. */
export type FailureWindow = ReadonlyMap<string, number>;

/** The window after a transient failure of connectionId, with failures older than windowMs dropped. */
export function noteTransient(
  w: FailureWindow,
  connectionId: string,
  nowMs: number,
  t: OutageThresholds,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const [id, at] of w) if (nowMs - at < t.windowMs) out.set(id, at);
  out.set(connectionId, nowMs);
  return out;
}

/** Is this window a provider-wide outage (≥ minConnections distinct connections)? */
export function isProviderOutage(w: FailureWindow, nowMs: number, t: OutageThresholds): boolean {
  let n = 0;
  for (const at of w.values()) if (nowMs - at < t.windowMs) n++;
  return n >= Math.max(1, t.minConnections);
}

/** Delay before the n-th probe of a hold (n ≥ 1): base, doubling, capped at probeMaxMs. No jitter: one prober. */
export function probeDelayMs(n: number, t: Pick<OutageThresholds, 'probeBaseMs' | 'probeMaxMs'>): number {
  return Math.min(t.probeMaxMs, t.probeBaseMs * 2 ** Math.min(Math.max(n - 1, 0), 20));
}

/** A hold starting now: the first probe after probeBaseMs. */
export function startHold(nowMs: number, t: OutageThresholds): HoldSnapshot {
  return { state: 'holding', since: nowMs, nextProbeAt: nowMs + probeDelayMs(1, t), probes: 0 };
}

/**
 * What a refresh of a provider may do under its hold:
 *   pass   no hold;
 *   wait   holding (or a probe is out): wait until `until`, no token request, no failure counted;
 *   probe  a probe is due: whoever claims it (one, across processes) calls the provider.
 */
export type HoldAdmission = { kind: 'pass' } | { kind: 'wait'; until: number } | { kind: 'probe' };

export function holdAdmission(h: HoldSnapshot, nowMs: number): HoldAdmission {
  if (h.state === 'closed') return { kind: 'pass' };
  const at = h.nextProbeAt ?? nowMs;
  if (nowMs < at) return { kind: 'wait', until: at };
  return { kind: 'probe' };
}

/** The hold after a probe was claimed: the next one may go only after its backoff. */
export function probeClaimed(h: HoldSnapshot, nowMs: number, t: OutageThresholds): HoldSnapshot {
  const probes = h.probes + 1;
  return { state: 'probing', since: h.since ?? nowMs, nextProbeAt: nowMs + probeDelayMs(probes + 1, t), probes };
}

/** The hold after a probe failed transient: holding, the next probe at the time its claim set. */
export function probeFailed(h: HoldSnapshot, nowMs: number, t: OutageThresholds): HoldSnapshot {
  return { ...h, state: 'holding', nextProbeAt: h.nextProbeAt ?? nowMs + probeDelayMs(h.probes + 1, t) };
}

/**
 * Where a transient failure puts the connection's next try. During a hold (or when the failure is
 * part of the outage) the connection's own backoff resets: it waits for the provider's next probe
 * instead of stacking, so it is ready as soon as the provider recovers.
 */
export function transientRetry(
  h: HoldSnapshot,
  ownBackoffMs: number,
  nowMs: number,
): { retryAt: number; countsAsFailure: boolean } {
  if (h.state === 'closed') return { retryAt: nowMs + ownBackoffMs, countsAsFailure: true };
  return { retryAt: Math.max(nowMs, h.nextProbeAt ?? nowMs), countsAsFailure: false };
}

/**
 * Release after recovery: the i-th of n waiting connections goes at now + offset, spread evenly
 * over spreadMs but never faster than ratePerSecond (0 = no rate limit).
 */
export function releaseOffsetMs(i: number, n: number, spreadMs: number, ratePerSecond: number): number {
  if (n <= 1) return 0;
  const even = (spreadMs * i) / n;
  const paced = ratePerSecond > 0 ? (1000 * i) / ratePerSecond : 0;
  return Math.floor(Math.max(even, paced));
}

/** The hold as shown by GET /v1/providers, `ops providers` and the console (times as ISO strings). */
export interface OutageView {
  state: HoldState;
  since: string | null;
  nextProbeAt: string | null;
  probes: number;
}

export function outageView(h: HoldSnapshot): OutageView {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return { state: h.state, since: iso(h.since), nextProbeAt: iso(h.nextProbeAt), probes: h.probes };
}
