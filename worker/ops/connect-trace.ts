// What the hosted connect flow left about one connection, for `why` and `connections show`: when
// the user (re)connected, how often (providers that cap tokens per user revoke the oldest), and why
// a flow failed. Pure: sessions and the clock are passed in.
import { isoShort, relative } from './format.ts';

export interface SessionRow {
  id: string;
  status: string;
  outcome: string | null;
  errorCode: string | null;
  errorDescription: string | null;
  createdAt: Date;
  expiresAt: Date;
  finishedAt: Date | null;
}

export interface ConnectTrace {
  connectedAt: string | null;
  reconnects: number;
  reconnectsLast30d: number;
  lastReconnectAt: string | null;
  failures: { sessionId: string; at: string; error: string; description: string | null }[];
  pending: number;
  lines: string[];
}

const DAY = 86_400_000;

const HINTS: Record<string, string> = {
  access_denied: 'the user declined consent at the provider',
  invalid_grant: 'the provider refused the code (redirect URI registration, or the code expired)',
  provider_unavailable: 'the provider had trouble; starting again later usually works',
  misconfigured: "this service's client credentials were refused (operator)",
  no_refresh_token: 'the provider issued no refresh token (an app setting at the provider)',
  invalid_issuer: 'the answer came from another issuer (mix-up defence)',
};

/** tokenCapPerUser: the provider definition's cap on refresh tokens per user and app, if any. */
export function connectTrace(
  sessions: SessionRow[],
  providerKey: string,
  tokenCapPerUser: number | undefined,
  nowMs: number,
): ConnectTrace {
  const done = sessions.filter((s) => s.status === 'completed' && s.finishedAt);
  const first = done.filter((s) => s.outcome === 'connected').at(-1);
  const re = done.filter((s) => s.outcome === 'reconnected');
  const re30 = re.filter((s) => nowMs - s.finishedAt!.getTime() <= 30 * DAY);
  const failures = sessions.filter((s) => s.status === 'failed').slice(0, 5);
  const pending = sessions.filter((s) => s.status === 'pending' && s.expiresAt.getTime() > nowMs);
  const lines: string[] = [];
  if (first)
    lines.push(
      `Connected through the hosted flow ${isoShort(first.finishedAt)} (${relative(first.finishedAt, nowMs)}).`,
    );
  if (re.length) {
    lines.push(
      `Reconnected by the user ${re.length === 1 ? 'once' : `${re.length} times`}, last ${isoShort(re[0].finishedAt)} (${relative(re[0].finishedAt, nowMs)}); ${re30.length} in the last 30 days.`,
    );
    const cap = tokenCapPerUser;
    if (cap && re30.length > 0) {
      lines.push(
        `Each reconnect issues a new refresh token; ${providerKey} keeps at most ${cap} per user and app and revokes the oldest, so frequent reconnects can end this user's other connections.`,
      );
    }
  }
  for (const f of failures) {
    const hint = f.errorCode ? HINTS[f.errorCode] : undefined;
    lines.push(
      `A connect flow failed ${isoShort(f.finishedAt ?? f.createdAt)} (${relative(f.finishedAt ?? f.createdAt, nowMs)}): ${f.errorCode ?? 'unknown'}${hint ? ` - ${hint}` : ''}.`,
    );
  }
  if (pending.length)
    lines.push(
      `${pending.length === 1 ? 'A connect link is' : `${pending.length} connect links are`} open (not used yet).`,
    );
  return {
    connectedAt: first?.finishedAt?.toISOString() ?? null,
    reconnects: re.length,
    reconnectsLast30d: re30.length,
    lastReconnectAt: re[0]?.finishedAt?.toISOString() ?? null,
    failures: failures.map((f) => ({
      sessionId: f.id,
      at: (f.finishedAt ?? f.createdAt).toISOString(),
      error: f.errorCode ?? 'unknown',
      description: f.errorDescription,
    })),
    pending: pending.length,
    lines,
  };
}
