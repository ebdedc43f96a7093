// Expected results of a refresh are values, not exceptions.
import type { ReauthReason } from '../oauth/answer.ts';

export type RefreshOutcome =
  | {
      outcome: 'rotated';
      versionBefore: number;
      versionAfter: number;
      expiresAt: Date | null;
      nextRefreshAt: Date;
      rotatedRefreshToken: boolean;
    }
  | { outcome: 'transient'; code: string; description: string; httpStatus?: number; retryAt: Date; uncertain: boolean }
  | { outcome: 'needs_reauth'; reason: ReauthReason; code: string; description: string; httpStatus?: number }
  | { outcome: 'lost_race'; versionBefore: number; nextRefreshAt: Date | null }
  | { outcome: 'misconfigured'; code: string; description: string; httpStatus?: number; retryAt: Date }
  | { outcome: 'skipped'; why: SkipReason; nextRefreshAt: Date | null };

/** backoff: an app asked for a token while the connection's last refresh failed and its retry time has not come. */
/** provider_outage: the provider is held after a provider-wide transient outage; nextRefreshAt is its next probe. */
export type SkipReason =
  'not_found' | 'not_active' | 'not_due' | 'backoff' | 'busy' | 'breaker_open' | 'provider_outage';
