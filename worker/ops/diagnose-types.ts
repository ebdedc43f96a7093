// The inputs and output of `why`'s diagnosis (diagnose.ts), shared with the rules that decide it.
import type { ProviderDefinition } from '../providers/types.ts';

/** What the diagnosis knows of the provider: its name and the facts of its definition. */
export type DiagProvider = Pick<ProviderDefinition, 'key' | 'displayName'> &
  Partial<Pick<ProviderDefinition, 'idleLifetimeSec' | 'tokenCapPerUser' | 'org' | 'fixedGrantLifetimes'>> & {
    configured: boolean;
  };

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
  provider: DiagProvider | null;
  breaker?: { state: string; lastErrorCode: string | null; openedAt: Date | null } | null;
  /** Other connections of the same provider for the same provider user (see userKeyOf). */
  sameUser: Peer[];
  /** Other connections in the same org or team (see orgKeyOf: Salesforce org, Slack team). */
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
