// Where a refresh happens. One call = at most one token request for one connection:
//   lock (Redis, owner token) -> read row + write-ahead attempt (one statement) -> provider call ->
//   classify -> one fenced commit (or a guarded needs_reauth mark) -> release.
// Everything expected comes back as a RefreshOutcome; a thrown error is a bug or an outage.
import type { Logger } from 'pino';
import { classifyAnswer, type Classified, type ReauthReason } from '../oauth/answer.ts';
import { redactEchoedSecrets } from '../log/logger.ts';
import type { HttpClient } from '../oauth/http.ts';
import { buildRefreshRequest } from '../oauth/request.ts';
import { DecryptError, type Keyring } from '../crypto/keyring.ts';
import type { ConnectionLocks, Lease } from '../lock/lock.ts';
import type { ProviderRegistry, ResolvedProvider } from '../providers/registry.ts';
import type { ConnectionRow, ConnectionStore } from '../store/connections.ts';
import { dueBounds, dueWithin, planNextRefresh, retryDelayMs, spreadKeyOf } from './plan.ts';
import type { RefreshOutcome, Trigger } from './outcome.ts';

export interface RefreshPolicy {
  requestTimeoutMs: number;
  refreshJitterMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  commitRetryMs: number;
  breakerProbeIntervalMs: number;
  /** Tolerated clock skew between processes when deciding whether a job is due. */
  skewToleranceMs: number;
  cronSpreadMs: number;
}

/** Gate in front of each provider's token endpoint (credential breaker, concurrency, rate). */
export interface ProviderGate {
  /** May this connection call the provider now? Open breakers let one probe through per interval. */
  admit(provider: ResolvedProvider, connectionId: string): Promise<boolean>;
  /** Runs the token request inside the provider's concurrency and rate limits. */
  run<T>(provider: ResolvedProvider, fn: () => Promise<T>): Promise<T>;
  /** Tells the gate how the provider answered (opens/closes the credential breaker). */
  report(provider: ResolvedProvider, result: 'ok' | 'credentials' | 'other', detail?: { code: string; description: string }): Promise<void>;
}

export const openGate: ProviderGate = {
  admit: async () => true,
  run: (_p, fn) => fn(),
  report: async () => {},
};

export interface RefresherDeps {
  store: ConnectionStore;
  locks: ConnectionLocks;
  providers: ProviderRegistry;
  keyring: Keyring;
  http: HttpClient;
  log: Logger;
  policy: RefreshPolicy;
  workerId: string;
  now?: () => number;
  random?: () => number;
  gate?: ProviderGate;
  /** Observes every finished attempt (metrics). */
  onAttempt?: (e: { provider: string; trigger: Trigger; outcome: RefreshOutcome; durationMs: number; commitWindowUs?: number; lateMs?: number }) => void;
  /** Test hook: called at chosen points of a refresh (used by the fault suite to die at a moment). */
  faultPoint?: (point: 'before_call' | 'after_answer' | 'after_commit' | 'before_ack', ctx?: { connectionId: string; provider: string }) => void | Promise<void>;
}

export interface RefreshRequest {
  trigger: Trigger;
  /** on_demand: refresh only if the access token expires within this many ms. */
  minValidMs?: number;
  /** Planned start time, to measure lateness (default for scheduled refreshes: the row's nextRefreshAt). */
  plannedAt?: number;
}

export class Refresher {
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly gate: ProviderGate;

  constructor(private readonly d: RefresherDeps) {
    this.now = d.now ?? Date.now;
    this.random = d.random ?? Math.random;
    this.gate = d.gate ?? openGate;
  }

  /** Whether a refresh is due for this request (pure over the row; the claim statement applies the same bounds). */
  isDue(row: ConnectionRow, req: RefreshRequest, nowMs: number): boolean {
    return dueWithin(row, dueBounds(req.trigger, nowMs, this.d.policy.skewToleranceMs, req.minValidMs));
  }

  planNext(row: Pick<ConnectionRow, 'id' | 'expiresAt'>, provider: ResolvedProvider, expiresAt: Date | null, nowMs: number): Date {
    return planNextRefresh({
      nowMs,
      expiresAt,
      leadMs: provider.refreshLeadSec * 1000,
      jitterMs: this.d.policy.refreshJitterMs,
      cron: provider.expiry.source === 'none' ? provider.expiry.cron : undefined,
      cronSpreadMs: this.d.policy.cronSpreadMs,
      idleLifetimeMs: provider.idleLifetimeSec ? provider.idleLifetimeSec * 1000 : undefined,
      spreadKey: spreadKeyOf(row.id),
      random: this.random,
    });
  }

  async refresh(connectionId: string, req: RefreshRequest): Promise<RefreshOutcome> {
    const lease = await this.d.locks.tryAcquire(connectionId);
    if (!lease) return { outcome: 'skipped', why: 'busy', nextRefreshAt: null };
    this.inFlight++;
    try {
      return await this.refreshLocked(connectionId, req, lease);
    } finally {
      this.inFlight--;
      if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      await lease.release();
    }
  }

  private inFlight = 0;
  private readonly idleWaiters: (() => void)[] = [];

  /**
   * Resolves when no refresh is running in this process (true), or after timeoutMs (false). Shutdown
   * waits on this before closing the database: a refresh may hold the only copy of a rotated token
   * while its commit retries through a database outage.
   */
  whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref();
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private async refreshLocked(connectionId: string, req: RefreshRequest, lease?: Pick<Lease, 'remainingMs' | 'confirm'>): Promise<RefreshOutcome> {
    const { store, log } = this.d;
    const startMs = this.now();
    const bounds = dueBounds(req.trigger, startMs, this.d.policy.skewToleranceMs, req.minValidMs);
    // One statement reads the row and writes the write-ahead attempt if the connection is active and
    // due (the same conditions as isDue): the attempt is on disk before the provider can rotate
    // anything. It is refused while another process's attempt on this token version is still out
    // (within a lock TTL): only possible when Redis lost our lock, and presenting the token again
    // would then be a reuse.
    const { row, attemptId } = await store.claim({
      connectionId, trigger: req.trigger, workerId: this.d.workerId, startedAt: new Date(startMs),
      exclusiveSince: new Date(startMs - this.d.locks.ttl), ...bounds,
    });
    if (!row) return { outcome: 'skipped', why: 'not_found', nextRefreshAt: null };
    if (row.status !== 'active') return { outcome: 'skipped', why: 'not_active', nextRefreshAt: null };
    if (!dueWithin(row, bounds)) {
      if (attemptId !== null) await store.dropAttempt(attemptId); // cannot happen: the claim checks the same bounds
      const backoff = dueWithin(row, { ...bounds, backoffUntil: null });
      return { outcome: 'skipped', why: backoff ? 'backoff' : 'not_due', nextRefreshAt: row.nextRefreshAt };
    }
    if (attemptId === null) {
      log.warn({ connectionId, provider: row.provider, version: row.version }, 'another refresh of this token version is still in flight (Redis lost the lock?); not calling');
      return { outcome: 'skipped', why: 'busy', nextRefreshAt: null };
    }
    if (req.plannedAt === undefined && req.trigger === 'scheduled' && row.nextRefreshAt) req = { ...req, plannedAt: row.nextRefreshAt.getTime() };

    // refreshClaimed sets `sent` the moment the request may reach the provider. An unsent claim left
    // behind by a throw would later read as a crash after the provider answered: remove it.
    const progress = { sent: false };
    try {
      return await this.refreshClaimed(row, req, attemptId, startMs, progress, lease);
    } catch (e) {
      if (!progress.sent) await store.dropAttempt(attemptId).catch(() => undefined);
      throw e;
    }
  }

  private async refreshClaimed(row: ConnectionRow, req: RefreshRequest, attemptId: string, startMs: number, progress: { sent: boolean }, lease?: Pick<Lease, 'remainingMs' | 'confirm'>): Promise<RefreshOutcome> {
    const { store, log } = this.d;
    const connectionId = row.id;
    const provider = this.d.providers.get(row.provider);
    const base = { connectionId, provider: row.provider, trigger: req.trigger, versionBefore: row.version };
    if (!provider || !provider.configured) {
      return this.misconfiguredWithoutCall(row, req, attemptId, provider ? 'client_credentials_missing' : 'unknown_provider',
        provider ? `set ${provider.key.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_CLIENT_ID and _CLIENT_SECRET` : `provider "${row.provider}" is not defined`);
    }
    if (!(await this.gate.admit(provider, connectionId))) {
      await store.dropAttempt(attemptId);
      return { outcome: 'skipped', why: 'breaker_open', nextRefreshAt: new Date(startMs + this.d.policy.breakerProbeIntervalMs) };
    }

    let refreshToken: string;
    try {
      refreshToken = this.d.keyring.decrypt(row.refreshTokenEnc);
    } catch (e) {
      if (e instanceof DecryptError) return this.misconfiguredWithoutCall(row, req, attemptId, 'decrypt_failed', e.message);
      throw e;
    }
    if (refreshToken === '') {
      // A non-expiring token stored without refresh token (connect flow): there is nothing to refresh.
      await store.dropAttempt(attemptId);
      return { outcome: 'skipped', why: 'not_due', nextRefreshAt: null };
    }
    const metadata = (row.metadata ?? {}) as Record<string, unknown>;
    const built = buildRefreshRequest(provider, refreshToken, metadata);
    if (!built.ok) return this.misconfiguredWithoutCall(row, req, attemptId, built.code, built.description);
    const tokenFingerprint = this.d.keyring.fingerprint(refreshToken);

    await this.d.faultPoint?.('before_call', { connectionId, provider: row.provider });

    // Never present a refresh token on a lease that may have expired (this process was frozen, or
    // the heartbeat saw the key gone): another process may own the connection now, and a second
    // request with the same single-use token is a reuse that revokes the grant. The heartbeat
    // renews every TTL/3, so a healthy lease always has more than a third of its TTL left; and the
    // key must still be ours in Redis (a wiped Redis drops every lock at once). Checked inside the
    // gate, right before the request goes out.
    const leaseOk = async () => !lease || (lease.remainingMs() >= this.d.locks.ttl / 3 && (await lease.confirm()) && lease.remainingMs() >= this.d.locks.ttl / 3);
    const answer = await this.gate.run(provider, async () => {
      if (!(await leaseOk())) return null;
      progress.sent = true;
      return this.d.http(built.request, this.d.policy.requestTimeoutMs);
    });
    if (answer === null) {
      await store.finishAttempt({ attemptId, now: new Date(this.now()), outcome: 'lock_lost', durationMs: this.now() - startMs, tokenFingerprint });
      log.warn({ connectionId, provider: row.provider }, 'refresh lock may have expired before the provider call (process paused?); not calling');
      return { outcome: 'skipped', why: 'busy', nextRefreshAt: null };
    }
    const answeredAt = process.hrtime.bigint();
    const nowMs = this.now();
    const c = redactEchoedSecrets(classifyAnswer(provider, answer, nowMs), [refreshToken, provider.clientSecret]);

    if (c.kind === 'tokens') {
      // Only CPU work between the answer and the commit: the crash window stays short.
      const newRefresh = c.tokens.refreshToken ?? refreshToken;
      const accessTokenEnc = this.d.keyring.encrypt(c.tokens.accessToken);
      const refreshTokenEnc = this.d.keyring.encrypt(newRefresh);
      const nextRefreshAt = this.planNext(row, provider, c.tokens.expiresAt, nowMs);
      await this.d.faultPoint?.('after_answer', { connectionId, provider: row.provider });
      const commit = {
        connectionId, attemptId, tokenFingerprint, versionBefore: row.version, accessTokenEnc, refreshTokenEnc,
        encKeyId: this.d.keyring.currentId, tokenType: c.tokens.tokenType, scope: c.tokens.scope,
        expiresAt: c.tokens.expiresAt, refreshExpiresAt: c.tokens.refreshExpiresAt, metadata: c.tokens.metadata,
        now: new Date(nowMs), nextRefreshAt, httpStatus: c.httpStatus, durationMs: nowMs - startMs, commitWindowUs: 0,
      };
      const recovered = row.failingNotifiedAt !== null;
      const versionAfter = await this.commitWithRetry(commit, answeredAt, recovered ? { provider: row.provider, externalId: row.externalId, after: 'refresh_failures' } : undefined, attemptId);
      await this.d.faultPoint?.('after_commit', { connectionId, provider: row.provider });
      void this.gate.report(provider, 'ok');
      let out: RefreshOutcome;
      if (versionAfter === null) {
        const cur = await store.load(connectionId);
        out = { outcome: 'lost_race', versionBefore: row.version, nextRefreshAt: cur?.nextRefreshAt ?? null };
      } else {
        out = { outcome: 'rotated', versionBefore: row.version, versionAfter, expiresAt: c.tokens.expiresAt, nextRefreshAt, rotatedRefreshToken: newRefresh !== refreshToken };
      }
      this.report(base, req, out, nowMs - startMs, commit.commitWindowUs, startMs);
      return out;
    }

    const finish = { attemptId, tokenFingerprint, now: new Date(nowMs), httpStatus: c.httpStatus, errorCode: c.code, errorDescription: c.description, durationMs: nowMs - startMs };
    let out: RefreshOutcome;
    if (c.kind === 'terminal') {
      void this.gate.report(provider, 'other');
      const reason = await this.explainTerminal(c, connectionId, row.version, attemptId);
      const marked = await store.markNeedsReauth({
        connectionId, versionBefore: row.version, reason,
        finish: { ...finish, outcome: 'needs_reauth' },
        eventPayload: { provider: row.provider, externalId: row.externalId, reason, errorCode: c.code, errorDescription: c.description, httpStatus: c.httpStatus ?? null },
      });
      if (marked === 'needs_reauth') {
        out = { outcome: 'needs_reauth', reason, code: c.code, description: c.description, httpStatus: c.httpStatus };
        const loud = reason.startsWith('rotation_lost');
        log[loud ? 'error' : 'warn']({ connectionId, provider: row.provider, reason, code: c.code }, loud ? 'connection lost: a rotated refresh token was never stored' : 'connection needs re-authorization');
      } else {
        const cur = await store.load(connectionId);
        out = { outcome: 'lost_race', versionBefore: row.version, nextRefreshAt: cur?.nextRefreshAt ?? null };
      }
    } else if (c.kind === 'credentials') {
      void this.gate.report(provider, 'credentials', { code: c.code, description: c.description });
      const retryAt = new Date(nowMs + this.d.policy.breakerProbeIntervalMs);
      await store.recordFailure({ connectionId, versionBefore: row.version, finish: { ...finish, outcome: 'misconfigured' }, retryAt, countsAsFailure: false });
      out = { outcome: 'misconfigured', code: c.code, description: c.description, httpStatus: c.httpStatus, retryAt };
    } else {
      void this.gate.report(provider, 'other');
      let delay = retryDelayMs(row.consecutiveFailures + 1, this.d.policy.retryBaseMs, this.d.policy.retryMaxMs, this.random, c.retryAfterMs);
      // The provider may have rotated without our seeing the answer: where the old token stays
      // usable for a grace window (Xero, Atlassian), retry well inside that window.
      if (c.uncertain && provider.oldTokenGrace.kind === 'seconds') delay = Math.min(delay, Math.max(500, (provider.oldTokenGrace.seconds * 1000) / 4));
      const retryAt = new Date(nowMs + delay);
      await store.recordFailure({
        connectionId, versionBefore: row.version, finish: { ...finish, outcome: 'transient', uncertain: c.uncertain }, retryAt, countsAsFailure: true,
        failingPayload: { provider: row.provider, externalId: row.externalId, errorCode: c.code, errorDescription: c.description, since: (row.failingSince ?? new Date(nowMs)).toISOString() },
      });
      out = { outcome: 'transient', code: c.code, description: c.description, httpStatus: c.httpStatus, retryAt, uncertain: c.uncertain };
    }
    this.report(base, req, out, nowMs - startMs, undefined, startMs);
    return out;
  }

  /** A dead-grant answer after an attempt whose result we never stored means we lost the rotation. */
  private async explainTerminal(c: Extract<Classified, { kind: 'terminal' }>, connectionId: string, version: number, attemptId: string): Promise<ReauthReason> {
    if (c.reason === 'interaction_required' || c.reason === 'authentication_failure') return c.reason;
    const prior = await this.d.store.unresolvedPriorAttempt(connectionId, version, attemptId);
    if (!prior) return c.reason;
    if (prior.finishedAt === null) return 'rotation_lost_in_crash';
    if (prior.providerRotated) return 'rotation_lost_commit_failed';
    return 'rotation_lost_in_flight';
  }

  /**
   * We hold the only copy of a freshly rotated token: keep trying to store it through a database
   * outage (bounded by commitRetryMs) rather than dropping it.
   */
  private async commitWithRetry(
    commit: Parameters<ConnectionStore['commitRotation']>[0],
    answeredAt: bigint,
    recoveredPayload: Record<string, unknown> | undefined,
    attemptId: string,
  ): Promise<number | null> {
    const deadline = this.now() + this.d.policy.commitRetryMs;
    let delay = 200;
    for (let attempt = 1; ; attempt++) {
      commit.commitWindowUs = Number((process.hrtime.bigint() - answeredAt) / 1000n);
      try {
        const v = recoveredPayload ? await this.d.store.commitRotationRecovered(commit, recoveredPayload) : await this.d.store.commitRotation(commit);
        if (attempt > 1) this.d.log.warn({ connectionId: commit.connectionId, attempt, attemptId }, 'rotation committed after database retries');
        return v;
      } catch (e) {
        if (this.now() >= deadline) {
          this.d.log.fatal({ connectionId: commit.connectionId, attemptId, err: e }, 'could not store a rotated token set before COMMIT_RETRY_MS ran out; the attempt stays unfinished and the next refresh will diagnose it');
          throw e;
        }
        this.d.log.warn({ connectionId: commit.connectionId, attempt, err: e }, 'commit of rotated tokens failed; retrying (token kept in memory)');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  private async misconfiguredWithoutCall(row: ConnectionRow, req: RefreshRequest, attemptId: string, code: string, description: string): Promise<RefreshOutcome> {
    const nowMs = this.now();
    const retryAt = new Date(nowMs + this.d.policy.breakerProbeIntervalMs);
    await this.d.store.recordFailure({
      connectionId: row.id, versionBefore: row.version, retryAt, countsAsFailure: false,
      finish: { attemptId, now: new Date(nowMs), outcome: 'misconfigured', errorCode: code, errorDescription: description, durationMs: 0 },
    });
    const out: RefreshOutcome = { outcome: 'misconfigured', code, description, retryAt };
    this.report({ connectionId: row.id, provider: row.provider, trigger: req.trigger, versionBefore: row.version }, req, out, 0, undefined, nowMs);
    return out;
  }

  private report(base: { connectionId: string; provider: string; trigger: Trigger; versionBefore: number }, req: RefreshRequest, out: RefreshOutcome, durationMs: number, commitWindowUs: number | undefined, startMs: number): void {
    const lateMs = req.plannedAt !== undefined ? startMs - req.plannedAt : undefined;
    const versionAfter = out.outcome === 'rotated' ? out.versionAfter : undefined;
    const detail = 'code' in out ? { code: out.code } : {};
    const reason = out.outcome === 'needs_reauth' ? { reason: out.reason } : {};
    this.d.log.info({ ...base, outcome: out.outcome, durationMs, versionAfter, ...detail, ...reason, lateMs }, 'refresh attempt');
    this.d.onAttempt?.({ provider: base.provider, trigger: base.trigger, outcome: out, durationMs, commitWindowUs, lateMs });
  }
}
