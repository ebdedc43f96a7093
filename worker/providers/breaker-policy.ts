// The credential breaker's rules, pure: what a process does with the breaker state it holds. The
// gate (breaker.ts) does the I/O around them (ProviderState in PostgreSQL, the outbox, logs).

export type BreakerState = 'closed' | 'open' | 'half_open';

/** The breaker and limiter state of one provider as GET /v1/providers shows it. Never a secret. */
export interface ProviderGateView {
  state: BreakerState;
  openedAt: string | null;
  lastProbeAt: string | null;
  lastError: { code: string; description: string | null } | null;
  inFlight: number;
  waiting: number;
}

/** A process's copy of one provider's ProviderState row (times in ms since epoch). */
export interface BreakerSnapshot {
  state: BreakerState;
  openedAt: number | null;
  lastProbeAt: number | null;
  lastErrorCode: string | null;
  lastErrorDescription: string | null;
  /** Fingerprint of the client credentials the breaker opened with (never the credentials). */
  fingerprint: string | null;
  /** When this copy was read. */
  loadedAt: number;
}

export interface StateRow {
  breakerState: string;
  openedAt: Date | null;
  lastProbeAt: Date | null;
  lastErrorCode: string | null;
  lastErrorDescription: string | null;
  credentialsFingerprint: string | null;
}

/** After a credentials change, credential errors this recent may come from requests built before it. */
export const STALE_AFTER_CHANGE_MS = 2000;
/** How long a mark of "this answer was to a request sent with replaced credentials" counts. */
export const STALE_MARK_MS = 10_000;

/** How long a process trusts its cached state by default: min(1 s, interval/2), at least 50 ms. */
export function defaultCacheMs(probeIntervalMs: number): number {
  return Math.max(50, Math.min(1000, Math.floor(probeIntervalMs / 2)));
}

/** A row as a snapshot; no row (a provider never opened) is closed. */
export function snapshotOf(row: StateRow | null, nowMs: number): BreakerSnapshot {
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

/**
 * What a connection that wants to call the provider may do:
 *   pass                 the breaker is closed;
 *   credentials_changed  the operator changed the client id/secret since it opened: close it, pass;
 *   wait                 open, and a probe went out less than one interval ago;
 *   probe                open, and a probe is due: whoever claims it (one process) passes.
 */
export type Admission = 'pass' | 'credentials_changed' | 'wait' | 'probe';

export function admission(st: BreakerSnapshot, fingerprint: string, nowMs: number, probeIntervalMs: number): Admission {
  if (st.state === 'closed') return 'pass';
  if (st.fingerprint !== null && st.fingerprint !== fingerprint) return 'credentials_changed';
  if (st.lastProbeAt !== null && nowMs - st.lastProbeAt < probeIntervalMs) return 'wait';
  return 'probe';
}

/** Takes one mark younger than STALE_MARK_MS off the list; older marks are dropped. */
export function takeStaleMark(marks: readonly number[], nowMs: number): { hit: boolean; rest: number[] } {
  const fresh = marks.filter((t) => nowMs - t < STALE_MARK_MS);
  const hit = fresh.shift() !== undefined;
  return { hit, rest: fresh };
}

/**
 * Does a credential error leave the breaker alone? Yes when it answered a request sent with
 * replaced credentials (a stale mark), or came just after a credentials change.
 */
export function ignoresCredentialError(
  staleMark: boolean,
  credentialsChangedAt: number | undefined,
  nowMs: number,
): boolean {
  return staleMark || (credentialsChangedAt !== undefined && nowMs - credentialsChangedAt < STALE_AFTER_CHANGE_MS);
}

/** A success closes the breaker unless this process knows it is closed. */
export function closesOnSuccess(cached: BreakerSnapshot | undefined): boolean {
  return !cached || cached.state !== 'closed';
}
