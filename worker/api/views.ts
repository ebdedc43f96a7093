// The JSON views of rows and results, shared by the HTTP API and the ops CLI. Pure, and free of
// Fastify so the CLI can import it without loading the server.
import type { Connection } from '../generated/prisma/client.ts';
import type { RefreshOutcome } from '../refresh/outcome.ts';

const iso = (d: Date | null | undefined): string | null => d?.toISOString() ?? null;

/** A connection as GET /v1/connections/:id shows it: state and schedule, never a token. */
export function connectionView(c: Connection) {
  return {
    id: c.id,
    provider: c.provider,
    externalId: c.externalId,
    status: c.status,
    expiresAt: iso(c.expiresAt),
    lastRefreshedAt: iso(c.lastRefreshedAt),
    nextRefreshAt: iso(c.nextRefreshAt),
    version: c.version,
    consecutiveFailures: c.consecutiveFailures,
    ...(c.reauthReason ? { reauthReason: c.reauthReason, reauthAt: iso(c.reauthAt) } : {}),
    ...(c.lastErrorCode
      ? { lastError: { code: c.lastErrorCode, description: c.lastErrorDescription, at: iso(c.lastErrorAt) } }
      : {}),
    metadata: c.metadata,
    parentId: c.parentId,
    createdAt: c.createdAt.toISOString(),
    updatedAt: c.updatedAt.toISOString(),
  };
}

/** The answer to POST /v1/connections: the schedule of the new row and its linked token sets. */
export function createdView(c: Connection, linked: { id: string; externalId: string }[]) {
  return {
    id: c.id,
    status: c.status,
    expiresAt: iso(c.expiresAt),
    nextRefreshAt: iso(c.nextRefreshAt),
    ...(linked.length ? { linked } : {}),
  };
}

export function outcomeView(o: RefreshOutcome) {
  switch (o.outcome) {
    case 'rotated':
      return {
        outcome: o.outcome,
        version: o.versionAfter,
        expiresAt: iso(o.expiresAt),
        nextRefreshAt: o.nextRefreshAt.toISOString(),
      };
    case 'transient':
      return {
        outcome: o.outcome,
        code: o.code,
        description: o.description,
        httpStatus: o.httpStatus ?? null,
        retryAt: o.retryAt.toISOString(),
      };
    case 'misconfigured':
      return {
        outcome: o.outcome,
        code: o.code,
        description: o.description,
        httpStatus: o.httpStatus ?? null,
        retryAt: o.retryAt.toISOString(),
      };
    case 'needs_reauth':
      return { outcome: o.outcome, reauthReason: o.reason, code: o.code, description: o.description };
    case 'lost_race':
      return { outcome: o.outcome, nextRefreshAt: iso(o.nextRefreshAt) };
    case 'skipped':
      return { outcome: o.outcome, reason: o.why, nextRefreshAt: iso(o.nextRefreshAt) };
  }
}

/** A token for the app: the only view that carries a secret (sent with cache-control: no-store). */
export function tokenView(t: {
  accessToken: string;
  expiresAt: Date | null;
  tokenType: string | null;
  refreshed: boolean;
}) {
  return { access_token: t.accessToken, expires_at: iso(t.expiresAt), token_type: t.tokenType, refreshed: t.refreshed };
}

/**
 * Retry-After seconds for a failed on-demand refresh: when the connection is backing off after
 * failures, its next try; otherwise 5. Always 1 to 600.
 */
export function retryAfterSeconds(o: RefreshOutcome, nowMs: number): number {
  const next = 'retryAt' in o ? o.retryAt : 'nextRefreshAt' in o ? o.nextRefreshAt : null;
  const wait = next ? Math.ceil((next.getTime() - nowMs) / 1000) : 0;
  return Math.min(600, Math.max(1, wait || 5));
}
