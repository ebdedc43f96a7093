// Where a refresh happens. One call = at most one token request for one connection:
//   lock (Redis, owner token) -> read row + write-ahead attempt (one statement) -> provider call ->
//   classify -> one fenced commit (or a guarded needs_reauth mark) -> release.
// Everything expected comes back as a RefreshOutcome; a thrown error is a bug or an outage.
import type { Logger } from 'pino';
import { classifyAnswer, type Classified, type HttpAnswer, type ReauthReason } from '../oauth/answer.ts';
import { redactEchoedSecrets } from '../log/scrub.ts';
import type { HttpClient } from '../oauth/http.ts';
import { buildRefreshRequest, type TokenRequest } from '../oauth/request.ts';
import { DecryptError, type Keyring } from '../crypto/keyring.ts';
import type { ConnectionLocks, Lease } from '../lock/lock.ts';
import type { ProviderRegistry, ResolvedProvider } from '../providers/registry.ts';
import { providerEnvName } from '../providers/env.ts';
import type { AttemptFinish, ConnectionRow, ConnectionStore, RotationCommit } from '../store/connections.ts';
import { backoffMs } from '../util/backoff.ts';
import { dueBounds, dueWithin, planNextRefresh, spreadKeyOf } from './plan.ts';
import type { RefreshOutcome } from './outcome.ts';
import { explainDeadGrant } from './explain.ts';
import type { AttemptObserver, FaultHook, ProviderGate, Trigger } from '../interfaces.ts';

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
  onAttempt?: AttemptObserver;
  /** Test hook: called at chosen points of a refresh (used by the fault suite to die at a moment). */
  faultPoint?: FaultHook;
}

export interface RefreshRequest {
  trigger: Trigger;
  /** on_demand: refresh only if the access token expires within this many ms. */
  minValidMs?: number;
  /** Planned start time, to measure lateness (default for scheduled refreshes: the row's nextRefreshAt). */
  plannedAt?: number;
  /** `ops refresh --force`: call the provider even with its credential breaker open (limits still apply). */
  bypassBreaker?: boolean;
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

  planNext(
    row: Pick<ConnectionRow, 'id' | 'expiresAt'>,
    provider: ResolvedProvider,
    expiresAt: Date | null,
    nowMs: number,
  ): Date {
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

  private async refreshLocked(connectionId: string, req: RefreshRequest, lease?: LeaseCheck): Promise<RefreshOutcome> {
    const { store, log } = this.d;
    const startMs = this.now();
    const bounds = dueBounds(req.trigger, startMs, this.d.policy.skewToleranceMs, req.minValidMs);
    // One statement reads the row and writes the write-ahead attempt if the connection is active and
    // due (the same conditions as isDue): the attempt is on disk before the provider can rotate
    // anything. It is refused while another process's attempt on this token version is still out
    // (within a lock TTL): only possible when Redis lost our lock, and presenting the token again
    // would then be a reuse.
    const { row, attemptId } = await store.claim({
      connectionId,
      trigger: req.trigger,
      workerId: this.d.workerId,
      startedAt: new Date(startMs),
      exclusiveSince: new Date(startMs - this.d.locks.ttl),
      ...bounds,
    });
    if (!row) return { outcome: 'skipped', why: 'not_found', nextRefreshAt: null };
    if (row.status !== 'active') return { outcome: 'skipped', why: 'not_active', nextRefreshAt: null };
    if (!dueWithin(row, bounds)) {
      if (attemptId !== null) await store.dropAttempt(attemptId); // cannot happen: the claim checks the same bounds
      const backoff = dueWithin(row, { ...bounds, backoffUntil: null });
      return { outcome: 'skipped', why: backoff ? 'backoff' : 'not_due', nextRefreshAt: row.nextRefreshAt };
    }
    if (attemptId === null) {
      log.warn(
        { connectionId, provider: row.provider, version: row.version },
        'another refresh of this token version is still in flight (Redis lost the lock?); not calling',
      );
      return { outcome: 'skipped', why: 'busy', nextRefreshAt: null };
    }
    const plannedAt =
      req.plannedAt ?? (req.trigger === 'scheduled' && row.nextRefreshAt ? row.nextRefreshAt.getTime() : undefined);
    return this.refreshClaimed({ row, req: { ...req, plannedAt }, attemptId, startMs, lease });
  }

  /** Preflight, the call, then one handler per kind of answer. */
  private async refreshClaimed(a: Attempt): Promise<RefreshOutcome> {
    const pre = await this.unsent(a, () => this.preflight(a));
    if (pre.kind === 'done') return pre.outcome;
    const ready: Ready = { ...a, call: pre.call };
    const answer = await this.call(ready);
    if (answer === null) return this.unsent(a, () => this.onLeaseLost(ready));
    const answeredAt = process.hrtime.bigint();
    const nowMs = this.now();
    const { provider, refreshToken } = pre.call;
    const c = redactEchoedSecrets(classifyAnswer(provider, answer, nowMs), [refreshToken, provider.clientSecret]);
    switch (c.kind) {
      case 'tokens':
        return this.onTokens(ready, c, nowMs, answeredAt);
      case 'terminal':
        return this.onTerminal(ready, c, nowMs);
      case 'credentials':
        return this.onCredentials(ready, c, nowMs);
      case 'transient':
        return this.onTransient(ready, c, nowMs);
    }
  }

  /**
   * Runs a step that ends before the request may reach the provider. If it throws, the claim it
   * leaves would later read as a crash after the provider answered: remove it.
   */
  private async unsent<T>(a: Attempt, step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (e) {
      await this.d.store.dropAttempt(a.attemptId).catch(() => undefined);
      throw e;
    }
  }

  /** Everything that can stop the refresh before a call: provider set up, breaker, token readable, request buildable. */
  private async preflight(
    a: Attempt,
  ): Promise<{ kind: 'done'; outcome: RefreshOutcome } | { kind: 'ready'; call: PreparedCall }> {
    const { row } = a;
    const done = async (outcome: Promise<RefreshOutcome>) => ({ kind: 'done' as const, outcome: await outcome });
    const provider = this.d.providers.get(row.provider);
    if (!provider)
      return done(this.misconfiguredWithoutCall(a, 'unknown_provider', `provider "${row.provider}" is not defined`));
    if (!provider.configured) {
      return done(
        this.misconfiguredWithoutCall(
          a,
          'client_credentials_missing',
          `set ${providerEnvName(provider.key, 'CLIENT_ID')} and _CLIENT_SECRET`,
        ),
      );
    }
    if (!a.req.bypassBreaker && !(await this.gate.admit(provider, row.id))) {
      await this.d.store.dropAttempt(a.attemptId);
      return {
        kind: 'done',
        outcome: {
          outcome: 'skipped',
          why: 'breaker_open',
          nextRefreshAt: new Date(a.startMs + this.d.policy.breakerProbeIntervalMs),
        },
      };
    }
    // A provider-wide outage: wait for the provider's probe (no request, no failure counted).
    const held = a.req.bypassBreaker ? undefined : await this.gate.hold?.(provider, row.id);
    if (held?.kind === 'wait') {
      await this.d.store.dropAttempt(a.attemptId);
      return {
        kind: 'done',
        outcome: { outcome: 'skipped', why: 'provider_outage', nextRefreshAt: new Date(held.until) },
      };
    }
    let refreshToken: string;
    try {
      refreshToken = this.d.keyring.decrypt(row.refreshTokenEnc);
    } catch (e) {
      if (e instanceof DecryptError) return done(this.misconfiguredWithoutCall(a, 'decrypt_failed', e.message));
      throw e;
    }
    if (refreshToken === '') {
      // A non-expiring token stored without refresh token (connect flow): there is nothing to refresh.
      await this.d.store.dropAttempt(a.attemptId);
      return { kind: 'done', outcome: { outcome: 'skipped', why: 'not_due', nextRefreshAt: null } };
    }
    const built = buildRefreshRequest(provider, refreshToken, (row.metadata ?? {}) as Record<string, unknown>);
    if (built.kind === 'missing_metadata') return done(this.misconfiguredWithoutCall(a, built.kind, built.description));
    const call = {
      provider,
      refreshToken,
      request: built.request,
      tokenFingerprint: this.d.keyring.fingerprint(refreshToken),
    };
    await this.d.faultPoint?.('before_call', { connectionId: row.id, provider: row.provider });
    return { kind: 'ready', call };
  }

  /** The token request, inside the provider's gate. null: not sent, the lease may have expired. */
  private async call(a: Ready): Promise<HttpAnswer | null> {
    const { lease, call } = a;
    const ttl = this.d.locks.ttl;
    // Never present a refresh token on a lease that may have expired (this process was frozen, or
    // the heartbeat saw the key gone): another process may own the connection now, and a second
    // request with the same single-use token is a reuse that revokes the grant. The heartbeat
    // renews every TTL/3, so a healthy lease always has more than a third of its TTL left; and the
    // key must still be ours in Redis (a wiped Redis drops every lock at once). Checked inside the
    // gate, right before the request goes out.
    const leaseOk = async () =>
      !lease || (lease.remainingMs() >= ttl / 3 && (await lease.confirm()) && lease.remainingMs() >= ttl / 3);
    let sent = false;
    try {
      return await this.gate.run(call.provider, async () => {
        if (!(await leaseOk())) return null;
        sent = true;
        return this.d.http(call.request, this.d.policy.requestTimeoutMs);
      });
    } catch (e) {
      // Once the request may have reached the provider, the claim stays: it explains what follows.
      if (!sent) await this.d.store.dropAttempt(a.attemptId).catch(() => undefined);
      throw e;
    }
  }

  private async onLeaseLost(a: Ready): Promise<RefreshOutcome> {
    const { row, call } = a;
    await this.d.store.finishAttempt({
      attemptId: a.attemptId,
      now: new Date(this.now()),
      outcome: 'lock_lost',
      durationMs: this.now() - a.startMs,
      tokenFingerprint: call.tokenFingerprint,
    });
    this.d.log.warn(
      { connectionId: row.id, provider: row.provider },
      'refresh lock may have expired before the provider call (process paused?); not calling',
    );
    return { outcome: 'skipped', why: 'busy', nextRefreshAt: null };
  }

  private async onTokens(a: Ready, c: Answer<'tokens'>, nowMs: number, answeredAt: bigint): Promise<RefreshOutcome> {
    const { row, call } = a;
    const { provider, refreshToken } = call;
    // Only CPU work between the answer and the commit: the crash window stays short.
    const newRefresh = c.tokens.refreshToken ?? refreshToken;
    const accessTokenEnc = this.d.keyring.encrypt(c.tokens.accessToken);
    const refreshTokenEnc = this.d.keyring.encrypt(newRefresh);
    const nextRefreshAt = this.planNext(row, provider, c.tokens.expiresAt, nowMs);
    await this.d.faultPoint?.('after_answer', { connectionId: row.id, provider: row.provider });
    const commit: Omit<RotationCommit, 'commitWindowUs'> = {
      connectionId: row.id,
      attemptId: a.attemptId,
      tokenFingerprint: call.tokenFingerprint,
      versionBefore: row.version,
      accessTokenEnc,
      refreshTokenEnc,
      encKeyId: this.d.keyring.currentId,
      tokenType: c.tokens.tokenType,
      scope: c.tokens.scope,
      expiresAt: c.tokens.expiresAt,
      refreshExpiresAt: c.tokens.refreshExpiresAt,
      metadata: c.tokens.metadata,
      now: new Date(nowMs),
      nextRefreshAt,
      httpStatus: c.httpStatus,
      durationMs: nowMs - a.startMs,
    };
    const { versionAfter, commitWindowUs } = await this.commitWithRetry(a, commit, answeredAt);
    await this.d.faultPoint?.('after_commit', { connectionId: row.id, provider: row.provider });
    void this.gate.report(provider, 'ok');
    const out: RefreshOutcome =
      versionAfter === null
        ? await this.lostRace(a)
        : {
            outcome: 'rotated',
            versionBefore: row.version,
            versionAfter,
            expiresAt: c.tokens.expiresAt,
            nextRefreshAt,
            rotatedRefreshToken: newRefresh !== refreshToken,
          };
    this.report(a, out, nowMs - a.startMs, commitWindowUs);
    return out;
  }

  private async onTerminal(a: Ready, c: Answer<'terminal'>, nowMs: number): Promise<RefreshOutcome> {
    const { row } = a;
    void this.gate.report(a.call.provider, 'other');
    const reason = await this.explainTerminal(a, c);
    const marked = await this.d.store.markNeedsReauth({
      connectionId: row.id,
      versionBefore: row.version,
      reason,
      finish: { ...this.finish(a, c, nowMs), outcome: 'needs_reauth' },
      eventPayload: {
        provider: row.provider,
        externalId: row.externalId,
        reason,
        errorCode: c.code,
        errorDescription: c.description,
        httpStatus: c.httpStatus ?? null,
      },
    });
    let out: RefreshOutcome;
    if (marked === 'needs_reauth') {
      out = { outcome: 'needs_reauth', reason, code: c.code, description: c.description, httpStatus: c.httpStatus };
      const loud = reason.startsWith('rotation_lost');
      this.d.log[loud ? 'error' : 'warn'](
        { connectionId: row.id, provider: row.provider, reason, code: c.code },
        loud ? 'connection lost: a rotated refresh token was never stored' : 'connection needs re-authorization',
      );
    } else {
      out = await this.lostRace(a);
    }
    this.report(a, out, nowMs - a.startMs);
    return out;
  }

  private async onCredentials(a: Ready, c: Answer<'credentials'>, nowMs: number): Promise<RefreshOutcome> {
    const { row } = a;
    void this.gate.report(a.call.provider, 'credentials', { code: c.code, description: c.description });
    const retryAt = new Date(nowMs + this.d.policy.breakerProbeIntervalMs);
    await this.d.store.recordFailure({
      connectionId: row.id,
      versionBefore: row.version,
      finish: { ...this.finish(a, c, nowMs), outcome: 'misconfigured' },
      retryAt,
      countsAsFailure: false,
    });
    const out: RefreshOutcome = {
      outcome: 'misconfigured',
      code: c.code,
      description: c.description,
      httpStatus: c.httpStatus,
      retryAt,
    };
    this.report(a, out, nowMs - a.startMs);
    return out;
  }

  private async onTransient(a: Ready, c: Answer<'transient'>, nowMs: number): Promise<RefreshOutcome> {
    const { row } = a;
    const { provider } = a.call;
    void this.gate.report(provider, 'other');
    let delay = backoffMs(
      row.consecutiveFailures + 1,
      this.d.policy.retryBaseMs,
      this.d.policy.retryMaxMs,
      this.random,
      c.retryAfterMs,
    );
    // The provider may have rotated without our seeing the answer: where the old token stays
    // usable for a grace window (Xero, Atlassian), retry well inside that window.
    if (c.uncertain && provider.oldTokenGrace.kind === 'seconds')
      delay = Math.min(delay, Math.max(500, (provider.oldTokenGrace.seconds * 1000) / 4));
    // Part of a provider-wide outage: wait for the provider's probe instead of stacking backoff.
    const retry = (await this.gate.transient?.(provider, row.id, delay)) ?? {
      retryAt: nowMs + delay,
      countsAsFailure: true,
    };
    const retryAt = new Date(retry.retryAt);
    await this.d.store.recordFailure({
      connectionId: row.id,
      versionBefore: row.version,
      finish: { ...this.finish(a, c, nowMs), outcome: 'transient', uncertain: c.uncertain },
      retryAt,
      countsAsFailure: retry.countsAsFailure,
      failingPayload: {
        provider: row.provider,
        externalId: row.externalId,
        errorCode: c.code,
        errorDescription: c.description,
        since: (row.failingSince ?? new Date(nowMs)).toISOString(),
      },
    });
    const out: RefreshOutcome = {
      outcome: 'transient',
      code: c.code,
      description: c.description,
      httpStatus: c.httpStatus,
      retryAt,
      uncertain: c.uncertain,
    };
    this.report(a, out, nowMs - a.startMs);
    return out;
  }

  /** How a failed answer finishes the attempt row (the handler adds the outcome). */
  private finish(
    a: Ready,
    c: Answer<'terminal' | 'credentials' | 'transient'>,
    nowMs: number,
  ): Omit<AttemptFinish, 'outcome'> {
    return {
      attemptId: a.attemptId,
      tokenFingerprint: a.call.tokenFingerprint,
      now: new Date(nowMs),
      httpStatus: c.httpStatus,
      errorCode: c.code,
      errorDescription: c.description,
      durationMs: nowMs - a.startMs,
    };
  }

  /** Another process moved the connection on while we were calling: report where it stands now. */
  private async lostRace(a: Attempt): Promise<RefreshOutcome> {
    const cur = await this.d.store.load(a.row.id);
    return { outcome: 'lost_race', versionBefore: a.row.version, nextRefreshAt: cur?.nextRefreshAt ?? null };
  }

  /** A dead-grant answer after an attempt whose result we never stored means we lost the rotation. */
  private async explainTerminal(a: Attempt, c: Answer<'terminal'>): Promise<ReauthReason> {
    if (c.reason === 'interaction_required' || c.reason === 'authentication_failure') return c.reason;
    const { id, version } = a.row;
    const [unresolvedPrior, previousVersion] = await Promise.all([
      this.d.store.unresolvedPriorAttempt(id, version, a.attemptId),
      version > 1 ? this.d.store.attemptsOnVersion(id, version - 1) : Promise.resolve([]),
    ]);
    return explainDeadGrant(c.reason, { version, unresolvedPrior, previousVersion });
  }

  /**
   * We hold the only copy of a freshly rotated token: keep trying to store it through a database
   * outage (bounded by commitRetryMs) rather than dropping it.
   */
  private async commitWithRetry(
    a: Attempt,
    commit: Omit<RotationCommit, 'commitWindowUs'>,
    answeredAt: bigint,
  ): Promise<{ versionAfter: number | null; commitWindowUs: number }> {
    const { row, attemptId } = a;
    // A connection whose failure was announced gets connection.recovered in the same transaction.
    const recovered =
      row.failingNotifiedAt !== null
        ? { provider: row.provider, externalId: row.externalId, after: 'refresh_failures' }
        : undefined;
    const deadline = this.now() + this.d.policy.commitRetryMs;
    let delay = 200;
    for (let attempt = 1; ; attempt++) {
      const commitWindowUs = Number((process.hrtime.bigint() - answeredAt) / 1000n);
      const c = { ...commit, commitWindowUs };
      try {
        const versionAfter = recovered
          ? await this.d.store.commitRotationRecovered(c, recovered)
          : await this.d.store.commitRotation(c);
        if (attempt > 1)
          this.d.log.warn({ connectionId: row.id, attempt, attemptId }, 'rotation committed after database retries');
        return { versionAfter, commitWindowUs };
      } catch (e) {
        if (this.now() >= deadline) {
          this.d.log.fatal(
            { connectionId: row.id, attemptId, err: e },
            'could not store a rotated token set before COMMIT_RETRY_MS ran out; the attempt stays unfinished and the next refresh will diagnose it',
          );
          throw e;
        }
        this.d.log.warn(
          { connectionId: row.id, attempt, err: e },
          'commit of rotated tokens failed; retrying (token kept in memory)',
        );
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  private async misconfiguredWithoutCall(a: Attempt, code: string, description: string): Promise<RefreshOutcome> {
    const { row } = a;
    const nowMs = this.now();
    const retryAt = new Date(nowMs + this.d.policy.breakerProbeIntervalMs);
    await this.d.store.recordFailure({
      connectionId: row.id,
      versionBefore: row.version,
      retryAt,
      countsAsFailure: false,
      finish: {
        attemptId: a.attemptId,
        now: new Date(nowMs),
        outcome: 'misconfigured',
        errorCode: code,
        errorDescription: description,
        durationMs: 0,
      },
    });
    const out: RefreshOutcome = { outcome: 'misconfigured', code, description, retryAt };
    this.report(a, out, 0, undefined, nowMs);
    return out;
  }

  /** Logs the attempt and tells the observers. Lateness is measured from startedMs (default: the attempt's start). */
  private report(
    a: Attempt,
    out: RefreshOutcome,
    durationMs: number,
    commitWindowUs?: number,
    startedMs = a.startMs,
  ): void {
    const { row, req } = a;
    const base = { connectionId: row.id, provider: row.provider, trigger: req.trigger, versionBefore: row.version };
    const lateMs = req.plannedAt !== undefined ? startedMs - req.plannedAt : undefined;
    const versionAfter = out.outcome === 'rotated' ? out.versionAfter : undefined;
    const detail = 'code' in out ? { code: out.code } : {};
    const reason = out.outcome === 'needs_reauth' ? { reason: out.reason } : {};
    this.d.log.info(
      { ...base, outcome: out.outcome, durationMs, versionAfter, ...detail, ...reason, lateMs },
      'refresh attempt',
    );
    this.d.onAttempt?.({
      provider: base.provider,
      trigger: base.trigger,
      outcome: out,
      durationMs,
      commitWindowUs,
      lateMs,
    });
  }
}

type LeaseCheck = Pick<Lease, 'remainingMs' | 'confirm'>;

/** One claimed refresh: the row as claimed, the request, its write-ahead attempt and lease. */
interface Attempt {
  row: ConnectionRow;
  req: RefreshRequest;
  attemptId: string;
  startMs: number;
  lease?: LeaseCheck;
}

/** What the preflight prepared for the call. */
interface PreparedCall {
  provider: ResolvedProvider;
  refreshToken: string;
  request: TokenRequest;
  tokenFingerprint: string;
}

/** An attempt that passed its preflight: the context of the call and of every answer handler. */
type Ready = Attempt & { call: PreparedCall };

type Answer<K extends Classified['kind']> = Extract<Classified, { kind: K }>;
