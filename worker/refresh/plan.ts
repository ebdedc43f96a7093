// When to refresh next, and when a refresh is due. Pure: clock and randomness are passed in.
// (How long to back off after a failure: util/backoff.ts.)
import { CronExpressionParser } from 'cron-parser';

export interface PlanInput {
  nowMs: number;
  expiresAt: Date | null;
  /** Refresh no later than this long before expiry. */
  leadMs: number;
  /** Up to this much random earlier start, so connections created together spread out. */
  jitterMs: number;
  /** Provider refreshes on a cron schedule (no expiry in its answers). */
  cron?: string;
  /** Spread cron refreshes over this window after each tick (deterministic per connection). */
  cronSpreadMs?: number;
  /** Refresh-token idle lifetime: refresh at least this often to keep the grant alive. */
  idleLifetimeMs?: number;
  /** Stable per-connection value in [0,1) (hash of its id), used for the cron spread. */
  spreadKey: number;
  random: () => number;
}

export function planNextRefresh(p: PlanInput): Date {
  let at: number;
  if (p.cron) {
    const next = CronExpressionParser.parse(p.cron, { currentDate: new Date(p.nowMs), tz: 'UTC' })
      .next()
      .getTime();
    at = next + Math.floor(p.spreadKey * (p.cronSpreadMs ?? 3600_000));
  } else if (p.expiresAt) {
    const exp = p.expiresAt.getTime();
    const lifetime = Math.max(0, exp - p.nowMs);
    // About 75% of the lifetime, never later than the lead time before expiry; for tokens shorter
    // than the lead, no earlier than half their life (refreshing at once would loop).
    at = Math.min(p.nowMs + lifetime * 0.75, exp - p.leadMs);
    at = Math.max(at, p.nowMs + lifetime * 0.5);
    const jitter = Math.min(p.jitterMs, lifetime * 0.1) * p.random();
    at -= jitter;
  } else {
    at = p.nowMs + 24 * 3600_000;
  }
  // Keep-alive: a grant idle for its whole idle lifetime dies; refresh well inside it.
  if (p.idleLifetimeMs) at = Math.min(at, p.nowMs + p.idleLifetimeMs * 0.5);
  return new Date(Math.max(Math.floor(at), p.nowMs));
}

/** A stable value in [0,1) from a connection id (for spreading cron fan-out). */
export function spreadKeyOf(id: string): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
  return (h >>> 0) / 2 ** 32;
}

export interface DueBounds {
  /** Due only if nextRefreshAt is null or at/before this. */
  dueBy: Date | null;
  /** Due only if expiresAt is null or before this. */
  expiringBefore: Date | null;
  /** After a failure (consecutiveFailures > 0), due only once its retry time (nextRefreshAt) is at/before this. */
  backoffUntil: Date | null;
}

/**
 * When a refresh of this trigger is due, as bounds on the row (the claim statement writes the
 * attempt only within them; Refresher.isDue is the same rule over a row in memory). An app asking
 * for a token does not bypass the backoff of a failing connection: during a provider outage every
 * GET /token would otherwise be one more call to the provider (a retry storm driven by the app).
 * An operator's forced refresh or replay does.
 */
export function dueBounds(trigger: string, nowMs: number, skewToleranceMs: number, minValidMs = 60_000): DueBounds {
  switch (trigger) {
    case 'forced':
    case 'replay':
      return { dueBy: null, expiringBefore: null, backoffUntil: null };
    case 'on_demand':
      // The retry time was planned by whichever process saw the failure, by its clock: wait the skew
      // tolerance past it, so a process whose clock runs ahead does not call early.
      return {
        dueBy: null,
        expiringBefore: new Date(nowMs + minValidMs),
        backoffUntil: new Date(nowMs - skewToleranceMs),
      };
    default:
      return { dueBy: new Date(nowMs + skewToleranceMs), expiringBefore: null, backoffUntil: null };
  }
}

/** Whether a row is due under these bounds (the same rule as the claim statement's SQL). */
export function dueWithin(
  row: { nextRefreshAt: Date | null; expiresAt: Date | null; consecutiveFailures: number },
  b: DueBounds,
): boolean {
  if (b.dueBy && row.nextRefreshAt && row.nextRefreshAt.getTime() > b.dueBy.getTime()) return false;
  if (b.expiringBefore && row.expiresAt && row.expiresAt.getTime() >= b.expiringBefore.getTime()) return false;
  if (
    b.backoffUntil &&
    row.consecutiveFailures > 0 &&
    row.nextRefreshAt &&
    row.nextRefreshAt.getTime() > b.backoffUntil.getTime()
  )
    return false;
  return true;
}
