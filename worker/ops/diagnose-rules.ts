// The rules of `why`, in order: the first whose predicate holds gives the diagnosis. Pure. What is
// known about a provider (token caps, idle limits, orgs) comes from its definition, never its name.
import { providerEnvName } from '../providers/env.ts';
import { orgKeyOf } from '../providers/identity.ts';
import type { OrgSpec } from '../providers/types.ts';
import type { DiagAttempt, DiagConnection, Diagnosis, DiagnoseInput, DiagProvider, Peer } from './diagnose-types.ts';
import { formatDuration, isoShort, plural } from './format.ts';

/** What every rule reads: the input plus a few facts derived from it once. */
export interface DiagContext {
  input: DiagnoseInput;
  c: DiagConnection;
  now: number;
  provider: DiagProvider | null;
  /** The provider's display name (its key when it is not defined). */
  pname: string;
  /** The newest attempt that ended in needs_reauth. */
  terminal: DiagAttempt | undefined;
  /** The newest finished attempt. */
  lastFinished: DiagAttempt | undefined;
  /** reauthReason, 'unknown' when unset. */
  reason: string;
  /** When the grant was found dead. */
  when: Date | null;
  /** "The provider answered ..." for the terminal attempt. */
  said: string;
}

export interface Rule {
  name: string;
  when(x: DiagContext): boolean;
  diagnose(x: DiagContext): Diagnosis;
}

/** Failures of a whole org within this window of each other count as "together". */
const TOGETHER_MS = 60 * 60_000;

export function said(a: DiagAttempt | undefined, c: DiagConnection): string {
  const code = a?.errorCode ?? c.lastErrorCode ?? 'an error';
  const desc = a?.errorDescription ?? c.lastErrorDescription;
  const at = a?.finishedAt ?? a?.startedAt ?? c.lastErrorAt;
  return `The provider answered ${code}${desc ? ` ("${desc}")` : ''}${a?.httpStatus ? ` with HTTP ${a.httpStatus}` : ''} at ${isoShort(at)}.`;
}

const RECONNECT =
  'Ask the user to reconnect (authorize the app again); the app then sends the new tokens with PUT /v1/connections/:id/tokens and refreshing resumes. Replaying cannot revive this grant.';

const DAY_MS = 86_400_000;

const active = (x: DiagContext) => x.c.status === 'active';
const reauth = (reason: string) => (x: DiagContext) => !active(x) && x.reason === reason;
const deadGrant = (x: DiagContext) => reauth('revoked')(x) || reauth('expired')(x);
const misconfigured = (x: DiagContext) =>
  active(x) && x.lastFinished?.outcome === 'misconfigured' && Boolean(x.c.lastErrorCode);
const breakerOpen = (x: DiagContext) => Boolean(x.input.breaker && x.input.breaker.state !== 'closed');
const lostRace = (x: DiagContext) => x.input.attempts.slice(0, 5).find((a) => a.outcome === 'lost_race');
const credentialsVar = (x: DiagContext) => providerEnvName(x.c.provider, 'CLIENT_ID');

/** Every other connection of the org failed within TOGETHER_MS of this one. */
function orgFailedTogether(
  x: DiagContext,
): { org: OrgSpec; key: string | undefined; mates: number; spreadMs: number } | undefined {
  const org = x.provider?.org;
  const mates = x.input.sameOrg;
  if (!org || mates.length === 0 || !x.when) return undefined;
  const at = x.when.getTime();
  const together = mates.filter(
    (p) => p.status === 'needs_reauth' && p.reauthAt && Math.abs(p.reauthAt.getTime() - at) <= TOGETHER_MS,
  );
  if (together.length !== mates.length) return undefined;
  const times = [at, ...together.map((p) => p.reauthAt!.getTime())];
  return {
    org,
    key: orgKeyOf(x.provider ?? undefined, x.c.metadata),
    mates: mates.length,
    spreadMs: Math.max(...times) - Math.min(...times),
  };
}

/** A per-user token cap and a sign that a newer grant pushed this one out. */
function tokenCapEvidence(
  x: DiagContext,
): { cap: number; newer: Peer[]; replaced: boolean; failingVersion: number } | undefined {
  const cap = x.provider?.tokenCapPerUser;
  if (!cap || !x.when) return undefined;
  const created = x.c.createdAt.getTime();
  const newer = x.input.sameUser.filter(
    (p) => p.createdAt.getTime() > created && p.createdAt.getTime() <= x.when!.getTime(),
  );
  const failingVersion = x.terminal?.versionBefore ?? x.c.version;
  // Version 1 came with the connection and later versions from refreshes; any other was set by the app.
  const producedByRotation = failingVersion === 1 || x.input.attempts.some((a) => a.versionAfter === failingVersion);
  const replaced = !producedByRotation;
  return newer.length > 0 || replaced ? { cap, newer, replaced, failingVersion } : undefined;
}

function describeDays(ms: number): string {
  return ms % DAY_MS === 0 ? plural(ms / DAY_MS, 'day') : formatDuration(ms);
}

/** The "why it expired" details and whether it was idleness. */
function expiryDetails(x: DiagContext): { idle: boolean; details: string[] } {
  const { c, when, pname } = x;
  const idleMs = c.lastRefreshedAt && when ? when.getTime() - c.lastRefreshedAt.getTime() : undefined;
  const idleLimitMs = x.provider?.idleLifetimeSec ? x.provider.idleLifetimeSec * 1000 : undefined;
  const details = [x.said];
  let idle = false;
  if (c.refreshExpiresAt && when && c.refreshExpiresAt.getTime() <= when.getTime()) {
    details.push(`The refresh token's own lifetime ended at ${isoShort(c.refreshExpiresAt)}.`);
  } else if (idleMs !== undefined && idleLimitMs !== undefined && idleMs >= idleLimitMs * 0.9) {
    idle = true;
    details.push(
      `It was last refreshed ${formatDuration(idleMs)} before it failed; ${pname} expires refresh tokens unused for ${formatDuration(idleLimitMs)}.`,
    );
  } else {
    details.push(
      "The refresh token expired (its lifetime or the provider's session policy ended), or it sat unused longer than the provider allows.",
    );
  }
  for (const g of x.provider?.fixedGrantLifetimes ?? []) {
    const lifeMs = g.afterSec * 1000;
    const tolerance = Math.min(12 * 3_600_000, lifeMs / 10);
    if (when && Math.abs(when.getTime() - c.createdAt.getTime() - lifeMs) < tolerance)
      details.push(`It died about ${describeDays(lifeMs)} after it was created: ${g.cause}`);
  }
  return { idle, details };
}

const fill = (text: string, org: string | undefined) => text.replace(/\{org\}/g, org ?? '?');

export const RULES: Rule[] = [
  {
    name: 'not configured for the provider',
    when: (x) =>
      misconfigured(x) &&
      (x.c.lastErrorCode === 'client_credentials_missing' || x.c.lastErrorCode === 'unknown_provider'),
    diagnose: ({ c, pname }) => ({
      code: 'misconfigured',
      headline: `Not disconnected: the daemon is not configured for ${pname}, so it cannot refresh`,
      details: [
        `${c.lastErrorCode}: ${c.lastErrorDescription ?? ''}`.trim(),
        `Every ${pname} connection is affected; the grant itself is fine and is retried.`,
      ],
      nextStep: `${c.lastErrorDescription ?? 'Define the provider and its client credentials'}, restart the daemon, then run: ops failed replay --provider ${c.provider}`,
    }),
  },
  {
    name: 'tokens cannot be decrypted',
    when: (x) => misconfigured(x) && x.c.lastErrorCode === 'decrypt_failed',
    diagnose: ({ c }) => ({
      code: 'misconfigured',
      headline: 'Not disconnected: the stored tokens cannot be decrypted with the configured keys',
      details: [
        c.lastErrorDescription ?? '',
        'An encryption key that wrote this row is missing from ENCRYPTION_KEYS.',
      ].filter(Boolean),
      nextStep:
        'Add the missing key id back to ENCRYPTION_KEYS (keep old keys until rotation finished), restart, then run: ops failed replay',
    }),
  },
  {
    name: 'client credentials rejected',
    when: misconfigured,
    diagnose: (x) => {
      const { c, pname, input } = x;
      const others = input.providerMisconfigured ?? 0;
      return {
        code: 'credentials',
        headline: `Not the user's fault: the client credentials for ${pname} are wrong for the whole provider`,
        details: [
          said(x.lastFinished, c),
          `That is a client-authentication error: the provider rejected our client id/secret, not this user's grant. The grant is kept and nothing is marked needs_reauth.`,
          ...(others > 1 ? [`${plural(others, 'active connection')} of ${pname} fail the same way right now.`] : []),
          ...(input.breaker && breakerOpen(x)
            ? [
                `The ${pname} credential breaker is ${input.breaker.state}${input.breaker.openedAt ? ` since ${isoShort(input.breaker.openedAt)}` : ''}: only one probe per interval reaches the provider.`,
              ]
            : []),
        ],
        nextStep: `Fix ${credentialsVar(x)} / _CLIENT_SECRET (or the provider definition), restart the daemon, then run: ops failed replay --provider ${c.provider}`,
      };
    },
  },
  {
    name: 'failing, retried',
    when: (x) => active(x) && (Boolean(x.c.lastErrorCode) || x.c.consecutiveFailures > 0),
    diagnose: ({ c, now, pname, input }) => {
      const expired = c.expiresAt !== null && c.expiresAt.getTime() < now;
      return {
        code: 'failing',
        headline: `Not disconnected: refreshing has failed ${plural(c.consecutiveFailures, 'time')} in a row${c.failingSince ? ` since ${isoShort(c.failingSince)}` : ''}, and is retried`,
        details: [
          said(
            input.attempts.find((a) => a.outcome === 'transient'),
            c,
          ),
          'A temporary failure (provider outage, rate limit, timeout) never disconnects: the grant is kept and retried with backoff.',
          expired
            ? `The access token expired ${formatDuration(now - c.expiresAt!.getTime())} ago, so API calls fail until a refresh succeeds.`
            : 'The current access token is still valid.',
          c.nextRefreshAt ? `Next try at ${isoShort(c.nextRefreshAt)}.` : '',
        ].filter(Boolean),
        nextStep: `Check ${pname}'s status; once it answers again run: ops failed replay --provider ${c.provider} (safe to repeat).`,
      };
    },
  },
  {
    name: 'credential breaker open',
    when: (x) => active(x) && breakerOpen(x),
    diagnose: (x) => {
      const { c, now, pname } = x;
      const breaker = x.input.breaker!;
      return {
        code: 'credentials',
        headline: `Not disconnected, but refreshing is paused: the ${pname} credential breaker is ${breaker.state} because the provider rejects our client credentials`,
        details: [
          `The breaker opened${breaker.openedAt ? ` at ${isoShort(breaker.openedAt)}` : ''} on ${breaker.lastErrorCode ?? 'a client-authentication error'}; refreshes of every ${pname} connection wait and one probe per interval checks the credentials.`,
          'This connection has not failed itself and nothing is marked needs_reauth.',
          c.expiresAt
            ? `Its access token ${c.expiresAt.getTime() < now ? 'expired' : 'expires'} ${isoShort(c.expiresAt)}.`
            : '',
        ].filter(Boolean),
        nextStep: `Fix ${credentialsVar(x)} / _CLIENT_SECRET, restart the daemon; the breaker closes on the next successful probe. Then: ops failed replay --provider ${c.provider}`,
      };
    },
  },
  {
    name: 'lost a race, handled',
    when: (x) => active(x) && lostRace(x) !== undefined,
    diagnose: (x) => {
      const race = lostRace(x)!;
      return {
        code: 'lost_race_handled',
        handled: true,
        headline: 'Connected. A refresh lost a race and it was handled',
        details: [
          `At ${isoShort(race.startedAt)} a ${race.trigger} refresh read version ${race.versionBefore}, but the tokens had changed meanwhile (another refresh or a reconnect stored version ${race.versionBefore + 1}).`,
          'The version fence rejected the stale write, so the newer tokens were kept and nothing was lost.',
          `Last refreshed ${isoShort(x.c.lastRefreshedAt)}; version ${x.c.version}.`,
        ],
        nextStep: 'Nothing to do.',
      };
    },
  },
  {
    name: 'healthy',
    when: active,
    diagnose: ({ c }) => ({
      code: 'healthy',
      headline: 'Connected: nothing is wrong with this connection',
      details: [
        `Last refreshed ${isoShort(c.lastRefreshedAt)}, next refresh ${isoShort(c.nextRefreshAt)}, version ${c.version}.`,
      ],
      nextStep: 'Nothing to do. If the app still sees errors, compare its token with GET /v1/connections/:id/token.',
    }),
  },
  {
    name: 'rotation lost in a crash',
    when: reauth('rotation_lost_in_crash'),
    diagnose: ({ input, terminal, pname, said: base }) => {
      const crashed = input.attempts.find(
        (a) => a.finishedAt === null && (!terminal || a.versionBefore === terminal.versionBefore),
      );
      return {
        code: 'rotation_lost_in_crash',
        headline:
          'Rotation lost in a crash: a worker died after sending the refresh token, so the new token was never stored',
        details: [
          crashed
            ? `Worker ${crashed.workerId} started a ${crashed.trigger} refresh at ${isoShort(crashed.startedAt)} and never finished it (the process died mid-refresh).`
            : 'An earlier attempt on the same token never finished (the process died mid-refresh).',
          `${pname} rotates refresh tokens: it had already spent the old one, so the next refresh was refused.`,
          base,
        ],
        nextStep: `${RECONNECT} Look at why ${crashed ? crashed.workerId : 'that worker'} died (OOM kill, deploy without drain).`,
      };
    },
  },
  {
    name: 'rotation lost in flight',
    when: reauth('rotation_lost_in_flight'),
    diagnose: ({ input, terminal, pname, said: base }) => {
      const lost = input.attempts.find((a) => a.uncertain && (!terminal || a.versionBefore === terminal.versionBefore));
      return {
        code: 'rotation_lost_in_flight',
        headline: 'Rotation lost in flight: the provider rotated the token but its answer never reached us',
        details: [
          lost
            ? `The ${lost.trigger} refresh at ${isoShort(lost.startedAt)} ended with ${lost.errorCode ?? 'an unreadable answer'} after the request was sent (timeout or broken answer).`
            : 'An earlier attempt on the same token ended without a readable answer.',
          `${pname} spent the old refresh token with that request, so the next refresh was refused.`,
          base,
        ],
        nextStep: `${RECONNECT} If it recurs, raise REQUEST_TIMEOUT_MS or ask ${pname} for a reuse grace period.`,
      };
    },
  },
  {
    name: 'rotation lost at commit',
    when: reauth('rotation_lost_commit_failed'),
    diagnose: ({ said: base }) => ({
      code: 'rotation_lost_commit_failed',
      headline: 'Rotation lost: the provider answered with new tokens but PostgreSQL could not store them in time',
      details: [
        'The commit was retried for COMMIT_RETRY_MS and then given up (see the fatal log line for this connection).',
        base,
      ],
      nextStep: `${RECONNECT} Check PostgreSQL availability at that time; consider a longer COMMIT_RETRY_MS.`,
    }),
  },
  {
    name: 'interaction required',
    when: reauth('interaction_required'),
    diagnose: ({ said: base }) => ({
      code: 'interaction_required',
      headline: 'The user must sign in interactively (MFA, consent or a policy change), so refreshing cannot continue',
      details: [base, 'The grant is not revoked, but the provider wants the user in front of a browser.'],
      nextStep: 'Ask the user to reconnect; they will be asked for MFA or consent. Nothing to fix on our side.',
    }),
  },
  {
    name: 'authentication failure',
    when: reauth('authentication_failure'),
    diagnose: ({ c, pname, said: base }) => ({
      code: 'authentication_failure',
      headline: `${pname} reports an authentication failure: the user's password changed or the user was deactivated or frozen`,
      details: [base, 'A password reset or deactivation revokes every refresh token of that user.'],
      nextStep: `If the user is still active, ask them to reconnect; if they were deactivated, remove the connection (DELETE /v1/connections/${c.id}).`,
    }),
  },
  {
    // Whole org failing together: an org-wide policy or admin action, not this user.
    name: 'whole org failed together',
    when: (x) => deadGrant(x) && orgFailedTogether(x) !== undefined,
    diagnose: (x) => {
      const { org, key, mates, spreadMs } = orgFailedTogether(x)!;
      const all = `All ${mates + 1} connections of the ${org.name} were refused within ${formatDuration(spreadMs)} of each other.`;
      if (org.together === 'admin_policy') {
        return {
          code: 'org_policy',
          headline: `Every connection of ${org.name} ${key} failed together: an org-wide admin policy, not this user`,
          details: [all, x.said, ...(org.hint ? [org.hint] : [])],
          nextStep: fill(
            org.advice ??
              `Ask an admin of ${org.name} {org} which policy changed for the app; then its users reconnect. A replay will not help.`,
            key,
          ),
        };
      }
      return {
        code: 'team_revoked',
        headline: `Every connection of ${org.name} ${key} failed together: the app was removed or its tokens revoked for the whole ${org.name}`,
        details: [all, x.said, ...(org.hint ? [org.hint] : [])],
        nextStep: fill(
          org.advice ??
            `Ask an admin of ${org.name} {org} whether the app was uninstalled; reinstalling it reconnects its users.`,
          key,
        ),
      };
    },
  },
  {
    // A per-user token cap with a reconnect just before: the newest grant pushed this one out.
    name: 'per-user token cap',
    when: (x) => deadGrant(x) && tokenCapEvidence(x) !== undefined,
    diagnose: (x) => {
      const { cap, newer, replaced, failingVersion } = tokenCapEvidence(x)!;
      const { pname } = x;
      const latest = [...newer].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())[0];
      return {
        code: 'token_cap',
        headline: `Too many tokens for one user: ${pname} keeps at most ${cap} refresh tokens per user per app, and a reconnect pushed this one out`,
        details: [
          `When a user authorizes the app again, ${pname} issues a new refresh token and silently revokes the oldest beyond ${cap}.`,
          ...(newer.length
            ? [
                `${plural(newer.length, 'other connection')} for the same ${pname} user ${newer.length === 1 ? 'was' : 'were'} authorized after this one, the latest ${latest ? `(${latest.externalId}) at ${isoShort(latest.createdAt)}` : ''}, before this one failed.`,
              ]
            : []),
          ...(replaced
            ? [
                `This connection's tokens were replaced by the app (version ${failingVersion} did not come from a refresh): a reconnect happened shortly before.`,
              ]
            : []),
          x.said,
        ],
        nextStep: `Reconnect the user once and stop creating extra grants for the same user (reuse the existing connection: PUT /v1/connections/:id/tokens instead of a new connection per login). Remove stale connections of that user.`,
      };
    },
  },
  {
    name: 'refresh token expired',
    when: reauth('expired'),
    diagnose: (x) => {
      const { idle, details } = expiryDetails(x);
      return {
        code: idle ? 'idle_expired' : 'expired',
        headline: idle ? 'The refresh token expired after being idle too long' : 'The refresh token expired',
        details,
        nextStep: `${RECONNECT}${idle ? ` To prevent it, set idleLifetimeSec for ${x.c.provider} so the daemon refreshes before the idle limit.` : ''}`,
      };
    },
  },
  {
    name: 'revoked',
    when: reauth('revoked'),
    diagnose: ({ said: base }) => ({
      code: 'revoked',
      headline: 'Revoked by the user or an admin: the grant was withdrawn at the provider',
      details: [
        base,
        'Typical causes: the user disconnected the app, an admin removed its access, or the user changed their password.',
      ],
      nextStep: RECONNECT,
    }),
  },
  {
    name: 'other re-authorization reason',
    when: () => true,
    diagnose: ({ reason, said: base }) => ({
      code: 'unknown',
      headline: `Needs re-authorization (${reason})`,
      details: [base],
      nextStep: RECONNECT,
    }),
  },
];
