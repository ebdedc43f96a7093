// `why`: turns a connection's row, its attempt history and what we know about the provider into a
// diagnosis in plain words plus the next step. Pure: the command loads the inputs, this decides.
import { formatDuration, isoShort, plural } from './format.ts';

export type DiagnosisCode =
  | 'healthy'
  | 'failing'
  | 'lost_race_handled'
  | 'credentials'
  | 'misconfigured'
  | 'org_policy'
  | 'team_revoked'
  | 'token_cap'
  | 'revoked'
  | 'expired'
  | 'idle_expired'
  | 'authentication_failure'
  | 'interaction_required'
  | 'rotation_lost_in_crash'
  | 'rotation_lost_in_flight'
  | 'rotation_lost_commit_failed'
  | 'unknown';

export interface DiagConnection {
  id: string;
  provider: string;
  externalId: string;
  status: 'active' | 'needs_reauth';
  version: number;
  createdAt: Date;
  lastRefreshedAt: Date | null;
  nextRefreshAt: Date | null;
  expiresAt: Date | null;
  refreshExpiresAt: Date | null;
  consecutiveFailures: number;
  failingSince: Date | null;
  lastErrorCode: string | null;
  lastErrorDescription: string | null;
  lastErrorAt: Date | null;
  reauthReason: string | null;
  reauthAt: Date | null;
  metadata: unknown;
}

export interface DiagAttempt {
  startedAt: Date;
  finishedAt: Date | null;
  trigger: string;
  outcome: string | null;
  httpStatus: number | null;
  errorCode: string | null;
  errorDescription: string | null;
  uncertain: boolean;
  providerRotated: boolean;
  versionBefore: number;
  versionAfter: number | null;
  workerId: string;
}

export interface Peer {
  id: string;
  externalId: string;
  status: string;
  createdAt: Date;
  reauthAt: Date | null;
}

export interface DiagnoseInput {
  now: number;
  connection: DiagConnection;
  /** Newest first. */
  attempts: DiagAttempt[];
  provider: { key: string; displayName: string; configured: boolean; idleLifetimeSec?: number } | null;
  breaker?: { state: string; lastErrorCode: string | null; openedAt: Date | null } | null;
  /** Other connections of the same provider for the same provider user (see userKeyOf). */
  sameUser: Peer[];
  /** Other connections in the same Salesforce org / Slack team (see orgKeyOf). */
  sameOrg: Peer[];
  /** Active connections of this provider whose last attempt was a client-credential error. */
  providerMisconfigured?: number;
}

export interface Diagnosis {
  code: DiagnosisCode;
  headline: string;
  details: string[];
  nextStep: string;
  /** Something went wrong and the daemon already dealt with it (nothing to do). */
  handled?: boolean;
}

export interface ProviderFacts {
  family: string;
  /** Refresh tokens kept per user per client; a new grant beyond it silently revokes the oldest. */
  tokenCapPerUser?: number;
  /** Refresh-token inactivity limit in days. */
  idleDays?: number;
  /** What groups connections for org-wide failures. */
  orgKind?: 'salesforce_org' | 'slack_team';
}

/** From /work/shared/docs/providers.md ("Lifetimes and caps worth scheduling around"). */
const FACTS: { match: RegExp; facts: ProviderFacts }[] = [
  { match: /salesforce/, facts: { family: 'salesforce', tokenCapPerUser: 5, orgKind: 'salesforce_org' } },
  { match: /google|gmail|gdrive/, facts: { family: 'google', tokenCapPerUser: 100, idleDays: 183 } },
  { match: /docusign/, facts: { family: 'docusign', tokenCapPerUser: 5, idleDays: 30 } },
  { match: /microsoft|entra|azure|outlook|office365/, facts: { family: 'microsoft', idleDays: 90 } },
  { match: /atlassian|jira|confluence/, facts: { family: 'atlassian', idleDays: 90 } },
  { match: /intuit|quickbooks/, facts: { family: 'intuit', idleDays: 100 } },
  { match: /pipedrive/, facts: { family: 'pipedrive', idleDays: 60 } },
  { match: /box/, facts: { family: 'box', idleDays: 60 } },
  { match: /slack/, facts: { family: 'slack', orgKind: 'slack_team' } },
];

export function providerFacts(providerKey: string): ProviderFacts {
  const k = providerKey.toLowerCase();
  return FACTS.find((f) => f.match.test(k))?.facts ?? { family: k };
}

const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined);

/** Salesforce identity URL .../id/<orgId>/<userId>. */
export function salesforceIdentity(metadata: unknown): { org: string; user: string } | undefined {
  const id = str(obj(metadata).id);
  const m = id ? /\/id\/([A-Za-z0-9]{15,18})\/([A-Za-z0-9]{15,18})\/?$/.exec(id) : null;
  return m ? { org: m[1], user: m[2] } : undefined;
}

/** The provider-side user a connection belongs to, when its metadata says. */
export function userKeyOf(providerKey: string, metadata: unknown): string | undefined {
  const md = obj(metadata);
  if (providerFacts(providerKey).family === 'salesforce') {
    const sf = salesforceIdentity(md);
    if (sf) return `${sf.org}/${sf.user}`;
  }
  return str(md.user_id) ?? str(md.sub) ?? str(md.email) ?? str(obj(md.user).id) ?? str(obj(md.authed_user).id) ?? str(obj(obj(md.owner).user).id);
}

/** Salesforce org (org id from the identity URL, else the instance host) or Slack team id. */
export function orgKeyOf(providerKey: string, metadata: unknown): string | undefined {
  const md = obj(metadata);
  const kind = providerFacts(providerKey).orgKind;
  if (kind === 'salesforce_org') {
    const sf = salesforceIdentity(md);
    if (sf) return sf.org;
    const inst = str(md.instance_url);
    if (inst) {
      try {
        return new URL(inst).host;
      } catch {
        return inst;
      }
    }
    return undefined;
  }
  if (kind === 'slack_team') return str(obj(md.team).id) ?? str(md.team_id);
  return undefined;
}

/** Failures of a whole org within this window of each other count as "together". */
export const TOGETHER_MS = 60 * 60_000;

function said(a: DiagAttempt | undefined, c: DiagConnection): string {
  const code = a?.errorCode ?? c.lastErrorCode ?? 'an error';
  const desc = a?.errorDescription ?? c.lastErrorDescription;
  const at = a?.finishedAt ?? a?.startedAt ?? c.lastErrorAt;
  return `The provider answered ${code}${desc ? ` ("${desc}")` : ''}${a?.httpStatus ? ` with HTTP ${a.httpStatus}` : ''} at ${isoShort(at)}.`;
}

const RECONNECT = 'Ask the user to reconnect (authorize the app again); the app then sends the new tokens with PUT /v1/connections/:id/tokens and refreshing resumes. Replaying cannot revive this grant.';

export function diagnose(input: DiagnoseInput): Diagnosis {
  const { connection: c, attempts, now } = input;
  const pname = input.provider?.displayName ?? c.provider;
  const facts = providerFacts(c.provider);
  const terminal = attempts.find((a) => a.outcome === 'needs_reauth');

  if (c.status === 'active') {
    const lastFinished = attempts.find((a) => a.finishedAt !== null);
    if (lastFinished?.outcome === 'misconfigured' && c.lastErrorCode) {
      if (c.lastErrorCode === 'client_credentials_missing' || c.lastErrorCode === 'unknown_provider') {
        return {
          code: 'misconfigured',
          headline: `Not disconnected: the daemon is not configured for ${pname}, so it cannot refresh`,
          details: [`${c.lastErrorCode}: ${c.lastErrorDescription ?? ''}`.trim(), `Every ${pname} connection is affected; the grant itself is fine and is retried.`],
          nextStep: `${c.lastErrorDescription ?? 'Define the provider and its client credentials'}, restart the daemon, then run: ops failed replay --provider ${c.provider}`,
        };
      }
      if (c.lastErrorCode === 'decrypt_failed') {
        return {
          code: 'misconfigured',
          headline: 'Not disconnected: the stored tokens cannot be decrypted with the configured keys',
          details: [c.lastErrorDescription ?? '', 'An encryption key that wrote this row is missing from ENCRYPTION_KEYS.'].filter(Boolean),
          nextStep: 'Add the missing key id back to ENCRYPTION_KEYS (keep old keys until rotation finished), restart, then run: ops failed replay',
        };
      }
      const others = input.providerMisconfigured ?? 0;
      return {
        code: 'credentials',
        headline: `Not the user's fault: the client credentials for ${pname} are wrong for the whole provider`,
        details: [
          said(lastFinished, c),
          `That is a client-authentication error: the provider rejected our client id/secret, not this user's grant. The grant is kept and nothing is marked needs_reauth.`,
          ...(others > 1 ? [`${plural(others, 'active connection')} of ${pname} fail the same way right now.`] : []),
          ...(input.breaker && input.breaker.state !== 'closed' ? [`The ${pname} credential breaker is ${input.breaker.state}${input.breaker.openedAt ? ` since ${isoShort(input.breaker.openedAt)}` : ''}: only one probe per interval reaches the provider.`] : []),
        ],
        nextStep: `Fix ${c.provider.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_CLIENT_ID / _CLIENT_SECRET (or the provider definition), restart the daemon, then run: ops failed replay --provider ${c.provider}`,
      };
    }
    if (c.lastErrorCode || c.consecutiveFailures > 0) {
      const expired = c.expiresAt !== null && c.expiresAt.getTime() < now;
      return {
        code: 'failing',
        headline: `Not disconnected: refreshing has failed ${plural(c.consecutiveFailures, 'time')} in a row${c.failingSince ? ` since ${isoShort(c.failingSince)}` : ''}, and is retried`,
        details: [
          said(attempts.find((a) => a.outcome === 'transient'), c),
          'A temporary failure (provider outage, rate limit, timeout) never disconnects: the grant is kept and retried with backoff.',
          expired ? `The access token expired ${formatDuration(now - c.expiresAt!.getTime())} ago, so API calls fail until a refresh succeeds.` : 'The current access token is still valid.',
          c.nextRefreshAt ? `Next try at ${isoShort(c.nextRefreshAt)}.` : '',
        ].filter(Boolean),
        nextStep: `Check ${pname}'s status; once it answers again run: ops failed replay --provider ${c.provider} (safe to repeat).`,
      };
    }
    if (input.breaker && input.breaker.state !== 'closed') {
      return {
        code: 'credentials',
        headline: `Not disconnected, but refreshing is paused: the ${pname} credential breaker is ${input.breaker.state} because the provider rejects our client credentials`,
        details: [
          `The breaker opened${input.breaker.openedAt ? ` at ${isoShort(input.breaker.openedAt)}` : ''} on ${input.breaker.lastErrorCode ?? 'a client-authentication error'}; refreshes of every ${pname} connection wait and one probe per interval checks the credentials.`,
          'This connection has not failed itself and nothing is marked needs_reauth.',
          c.expiresAt ? `Its access token ${c.expiresAt.getTime() < now ? 'expired' : 'expires'} ${isoShort(c.expiresAt)}.` : '',
        ].filter(Boolean),
        nextStep: `Fix ${c.provider.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_CLIENT_ID / _CLIENT_SECRET, restart the daemon; the breaker closes on the next successful probe. Then: ops failed replay --provider ${c.provider}`,
      };
    }
    const race = attempts.slice(0, 5).find((a) => a.outcome === 'lost_race');
    if (race) {
      return {
        code: 'lost_race_handled',
        handled: true,
        headline: 'Connected. A refresh lost a race and it was handled',
        details: [
          `At ${isoShort(race.startedAt)} a ${race.trigger} refresh read version ${race.versionBefore}, but the tokens had changed meanwhile (another refresh or a reconnect stored version ${race.versionBefore + 1}).`,
          'The version fence rejected the stale write, so the newer tokens were kept and nothing was lost.',
          `Last refreshed ${isoShort(c.lastRefreshedAt)}; version ${c.version}.`,
        ],
        nextStep: 'Nothing to do.',
      };
    }
    return {
      code: 'healthy',
      headline: 'Connected: nothing is wrong with this connection',
      details: [`Last refreshed ${isoShort(c.lastRefreshedAt)}, next refresh ${isoShort(c.nextRefreshAt)}, version ${c.version}.`],
      nextStep: 'Nothing to do. If the app still sees errors, compare its token with GET /v1/connections/:id/token.',
    };
  }

  // needs_reauth from here.
  const reason = c.reauthReason ?? 'unknown';
  const when = c.reauthAt ?? terminal?.finishedAt ?? c.lastErrorAt;
  const base = said(terminal, c);

  if (reason === 'rotation_lost_in_crash') {
    const crashed = attempts.find((a) => a.finishedAt === null && (!terminal || a.versionBefore === terminal.versionBefore));
    return {
      code: 'rotation_lost_in_crash',
      headline: 'Rotation lost in a crash: a worker died after sending the refresh token, so the new token was never stored',
      details: [
        crashed ? `Worker ${crashed.workerId} started a ${crashed.trigger} refresh at ${isoShort(crashed.startedAt)} and never finished it (the process died mid-refresh).` : 'An earlier attempt on the same token never finished (the process died mid-refresh).',
        `${pname} rotates refresh tokens: it had already spent the old one, so the next refresh was refused.`,
        base,
      ],
      nextStep: `${RECONNECT} Look at why ${crashed ? crashed.workerId : 'that worker'} died (OOM kill, deploy without drain).`,
    };
  }
  if (reason === 'rotation_lost_in_flight') {
    const lost = attempts.find((a) => a.uncertain && (!terminal || a.versionBefore === terminal.versionBefore));
    return {
      code: 'rotation_lost_in_flight',
      headline: 'Rotation lost in flight: the provider rotated the token but its answer never reached us',
      details: [
        lost ? `The ${lost.trigger} refresh at ${isoShort(lost.startedAt)} ended with ${lost.errorCode ?? 'an unreadable answer'} after the request was sent (timeout or broken answer).` : 'An earlier attempt on the same token ended without a readable answer.',
        `${pname} spent the old refresh token with that request, so the next refresh was refused.`,
        base,
      ],
      nextStep: `${RECONNECT} If it recurs, raise REQUEST_TIMEOUT_MS or ask ${pname} for a reuse grace period.`,
    };
  }
  if (reason === 'rotation_lost_commit_failed') {
    return {
      code: 'rotation_lost_commit_failed',
      headline: 'Rotation lost: the provider answered with new tokens but PostgreSQL could not store them in time',
      details: ['The commit was retried for COMMIT_RETRY_MS and then given up (see the fatal log line for this connection).', base],
      nextStep: `${RECONNECT} Check PostgreSQL availability at that time; consider a longer COMMIT_RETRY_MS.`,
    };
  }
  if (reason === 'interaction_required') {
    return {
      code: 'interaction_required',
      headline: 'The user must sign in interactively (MFA, consent or a policy change), so refreshing cannot continue',
      details: [base, 'The grant is not revoked, but the provider wants the user in front of a browser.'],
      nextStep: 'Ask the user to reconnect; they will be asked for MFA or consent. Nothing to fix on our side.',
    };
  }
  if (reason === 'authentication_failure') {
    return {
      code: 'authentication_failure',
      headline: `${pname} reports an authentication failure: the user's password changed or the user was deactivated or frozen`,
      details: [base, 'A password reset or deactivation revokes every refresh token of that user.'],
      nextStep: `If the user is still active, ask them to reconnect; if they were deactivated, remove the connection (DELETE /v1/connections/${c.id}).`,
    };
  }

  if (reason === 'revoked' || reason === 'expired') {
    // Whole org failing together: an org-wide policy or admin action, not this user.
    const orgMates = input.sameOrg;
    if (facts.orgKind && orgMates.length >= 1 && when) {
      const together = orgMates.filter((p) => p.status === 'needs_reauth' && p.reauthAt && Math.abs(p.reauthAt.getTime() - when.getTime()) <= TOGETHER_MS);
      if (together.length === orgMates.length) {
        const org = orgKeyOf(c.provider, c.metadata);
        const times = [when, ...together.map((p) => p.reauthAt!)].map((d) => d.getTime());
        const spread = Math.max(...times) - Math.min(...times);
        if (facts.orgKind === 'salesforce_org') {
          return {
            code: 'org_policy',
            headline: `Every connection of Salesforce org ${org} failed together: an org-wide admin policy, not this user`,
            details: [
              `All ${orgMates.length + 1} connections of the org were refused within ${formatDuration(spread)} of each other.`,
              base,
              'That pattern matches the connected app\'s Refresh Token Policy set to "Immediately expire refresh token" (or "Expire refresh token after" a period), or an admin revoking the app for the whole org.',
            ],
            nextStep: `Ask the Salesforce admin of org ${org} to check Setup > Connected Apps > Manage > Edit Policies > Refresh Token Policy ("Refresh token is valid until revoked"); then the org's users reconnect. A replay will not help.`,
          };
        }
        return {
          code: 'team_revoked',
          headline: `Every connection of Slack workspace ${org} failed together: the app was removed or its tokens revoked for the workspace`,
          details: [`All ${orgMates.length + 1} connections of the team were refused within ${formatDuration(spread)} of each other.`, base],
          nextStep: `Ask a workspace admin of ${org} whether the app was uninstalled; reinstalling it reconnects the workspace.`,
        };
      }
    }
    // A per-user token cap with a reconnect just before: the newest grant pushed this one out.
    if (facts.tokenCapPerUser && when) {
      const newer = input.sameUser.filter((p) => p.createdAt.getTime() > c.createdAt.getTime() && p.createdAt.getTime() <= when.getTime());
      const failingVersion = terminal?.versionBefore ?? c.version;
      const producedByRotation = failingVersion === 1 || attempts.some((a) => a.versionAfter === failingVersion);
      const replaced = !producedByRotation;
      if (newer.length > 0 || replaced) {
        const latest = newer.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())[0];
        return {
          code: 'token_cap',
          headline: `Too many tokens for one user: ${pname} keeps at most ${facts.tokenCapPerUser} refresh tokens per user per app, and a reconnect pushed this one out`,
          details: [
            `When a user authorizes the app again, ${pname} issues a new refresh token and silently revokes the oldest beyond ${facts.tokenCapPerUser}.`,
            ...(newer.length ? [`${plural(newer.length, 'other connection')} for the same ${pname} user ${newer.length === 1 ? 'was' : 'were'} authorized after this one, the latest ${latest ? `(${latest.externalId}) at ${isoShort(latest.createdAt)}` : ''}, before this one failed.`] : []),
            ...(replaced ? [`This connection's tokens were replaced by the app (version ${failingVersion} did not come from a refresh): a reconnect happened shortly before.`] : []),
            base,
          ],
          nextStep: `Reconnect the user once and stop creating extra grants for the same user (reuse the existing connection: PUT /v1/connections/:id/tokens instead of a new connection per login). Remove stale connections of that user.`,
        };
      }
    }
    if (reason === 'expired') {
      const lastOk = c.lastRefreshedAt;
      const idleMs = lastOk && when ? when.getTime() - lastOk.getTime() : undefined;
      const idleLimitMs = input.provider?.idleLifetimeSec ? input.provider.idleLifetimeSec * 1000 : facts.idleDays ? facts.idleDays * 86_400_000 : undefined;
      const details = [base];
      let code: DiagnosisCode = 'expired';
      if (c.refreshExpiresAt && when && c.refreshExpiresAt.getTime() <= when.getTime()) {
        details.push(`The refresh token's own lifetime ended at ${isoShort(c.refreshExpiresAt)}.`);
      } else if (idleMs !== undefined && idleLimitMs !== undefined && idleMs >= idleLimitMs * 0.9) {
        code = 'idle_expired';
        details.push(`It was last refreshed ${formatDuration(idleMs)} before it failed; ${pname} expires refresh tokens unused for ${formatDuration(idleLimitMs)}.`);
      } else {
        details.push('The refresh token expired (its lifetime or the provider\'s session policy ended), or it sat unused longer than the provider allows.');
      }
      if (facts.family === 'google' && when && Math.abs(when.getTime() - c.createdAt.getTime() - 7 * 86_400_000) < 12 * 3_600_000) {
        details.push('It died about 7 days after it was created: Google expires refresh tokens after 7 days for apps in "Testing" status with external users. Publish the app.');
      }
      return {
        code,
        headline: code === 'idle_expired' ? 'The refresh token expired after being idle too long' : 'The refresh token expired',
        details,
        nextStep: `${RECONNECT}${code === 'idle_expired' ? ` To prevent it, set idleLifetimeSec for ${c.provider} so the daemon refreshes before the idle limit.` : ''}`,
      };
    }
    return {
      code: 'revoked',
      headline: 'Revoked by the user or an admin: the grant was withdrawn at the provider',
      details: [base, 'Typical causes: the user disconnected the app, an admin removed its access, or the user changed their password.'],
      nextStep: RECONNECT,
    };
  }

  return {
    code: 'unknown',
    headline: `Needs re-authorization (${reason})`,
    details: [base],
    nextStep: RECONNECT,
  };
}
