// What the console's views are given: plain values gathered by data.ts, never rows with tokens.
import type { Diagnosis } from '../ops/diagnose-types.ts';
import type { OutageView } from '../providers/outage-policy.ts';
import type { HourBucket } from './chart.ts';

export interface ProviderHealth {
  key: string;
  displayName: string;
  /** False: credentials missing; undefined: the provider is no longer defined. */
  configured: boolean | undefined;
  breaker: string;
  lastError: { code: string; description: string | null } | null;
  /** The provider-wide outage hold (shared in PostgreSQL). */
  outage: OutageView;
  /** This process's limiter; null when no provider gate runs. */
  inFlight: number | null;
  waiting: number | null;
  active: number;
  needsReauth: number;
  hours: HourBucket[];
  /** The `ops report` spike groups of this provider (the provider itself, an org, a team). */
  spikes: { group: string; current: number; previous: number }[];
}

export interface Overview {
  providers: ProviderHealth[];
}

export interface ListFilter {
  status?: 'active' | 'needs_reauth';
  provider?: string;
  search?: string;
  reason?: string;
  page: number;
}

export interface ListRow {
  id: string;
  provider: string;
  externalId: string;
  status: string;
  version: number;
  nextRefreshAt: Date | null;
  lastRefreshedAt: Date | null;
  consecutiveFailures: number;
  problem: string;
}

export interface ConnectionList {
  filter: ListFilter;
  rows: ListRow[];
  total: number;
  pageSize: number;
  providers: string[];
  reasons: string[];
}

export interface AttemptRow {
  startedAt: Date;
  trigger: string;
  outcome: string | null;
  httpStatus: number | null;
  errorCode: string | null;
  errorDescription: string | null;
  durationMs: number | null;
  versionBefore: number;
  versionAfter: number | null;
  uncertain: boolean;
}

export interface ConnectionDetail {
  id: string;
  provider: string;
  providerName: string;
  externalId: string;
  status: string;
  version: number;
  createdAt: Date;
  lastRefreshedAt: Date | null;
  nextRefreshAt: Date | null;
  expiresAt: Date | null;
  refreshExpiresAt: Date | null;
  consecutiveFailures: number;
  failingSince: Date | null;
  lastError: string | null;
  reauthReason: string | null;
  reauthAt: Date | null;
  diagnosis: Diagnosis;
  connectFlow: string[];
  attempts: AttemptRow[];
}

/** What the reconnect button may do for this viewer. */
export type ReconnectOffer =
  | { kind: 'hidden' }
  | { kind: 'unavailable'; why: string }
  | { kind: 'button' }
  | { kind: 'link'; url: string; expiresAt: string }
  | { kind: 'failed'; message: string };
