// The fake provider's public types: options, faults, and what its observers return.

import type { AuthorizeOptions } from './routes/authorize.ts';

export type Persona =
  | 'standard'
  | 'gong'
  | 'salesforce'
  | 'slack'
  | 'google'
  | 'microsoft'
  | 'hubspot'
  | 'github'
  | 'atlassian'
  | 'xero'
  | 'zoom'
  | 'notion'
  | 'shopify';

export const PERSONAS: readonly Persona[] = [
  'standard',
  'gong',
  'salesforce',
  'slack',
  'google',
  'microsoft',
  'hubspot',
  'github',
  'atlassian',
  'xero',
  'zoom',
  'notion',
  'shopify',
];

export type Rotation = 'always' | 'never' | 'optional-on' | 'optional-off';

export interface FakeProviderOptions {
  /** Default 'standard'. */
  persona?: Persona;
  /** Default 0 (ephemeral). The server binds 127.0.0.1 only. */
  port?: number;
  /** Default 'client-id'. */
  clientId?: string;
  /** Default 'client-secret'. */
  clientSecret?: string;
  /** Default per persona. 'optional-on' behaves like 'always', 'optional-off' like 'never'. */
  rotation?: Rotation;
  /** Default true: presenting a rotated-away refresh token (outside grace) revokes the whole grant. */
  reuseDetection?: boolean;
  /** Old refresh token still accepted for N s after it was first used. Default per persona (Xero 1800, Atlassian 600, else 0). */
  graceSeconds?: number;
  /** Access-token lifetime. Default per persona (3600 unless the provider documents otherwise: Slack 43200, GitHub 28800, HubSpot/Xero 1800, Google 3599). */
  accessTtlSeconds?: number;
  /** Clock used for grace windows, expiries and ledger timestamps (not for injected delays). Default Date.now. */
  now?: () => number;
  /** Serve the JSON admin API under /_admin/ on the same server. Default false. */
  admin?: boolean;
  /** The authorization endpoint (/authorize, /revoke): see routes/authorize.ts. */
  authorize?: AuthorizeOptions;
}

export interface Faults {
  /** Answer every refresh with this HTTP status and a JSON error body; no rotation. */
  status?: number;
  /** Adds a Retry-After header (meant for status 429 / 503). */
  retryAfterSeconds?: number;
  /** Custom body for a `status` fault (object -> JSON, string -> sent as is with application/json). */
  body?: string | Record<string, unknown>;
  /** Wait before processing; if the client disconnected meanwhile, nothing is processed (no rotation). */
  delayMs?: number;
  /** Rotate first, then wait before answering (models an answer lost in flight). */
  delayAfterRotateMs?: number;
  /** 200 with truncated JSON; no rotation. */
  malformed?: boolean;
  /** An HTML page (text/html) with status `htmlStatus` (default 502); no rotation. */
  html?: boolean;
  htmlStatus?: number;
  /** 200 with access_token but no refresh_token; does NOT rotate (old refresh token stays current). */
  omitRefreshToken?: boolean;
  /** Answer as if the client secret were wrong (persona's credential-error form). */
  invalidClient?: boolean;
  /** HTTP 200 {"ok":false,"error":<value>} (Slack's error form), e.g. 'internal_error', 'ratelimited', 'fatal_error'. */
  slackError?: string;
  /** Apply the faults only to the next N token-endpoint requests, then clear automatically. */
  count?: number;
}

export interface IssuedGrant {
  grantId: string;
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  /** The JSON a real provider returns at authorization time. */
  raw: Record<string, unknown>;
  /** Slack only: grant id of the user token in raw.authed_user (a separate grant). */
  userGrantId?: string;
}

export interface ProviderStats {
  /** Every request that reached the token endpoint (including faulted / rejected ones). */
  refreshRequests: number;
  successes: number;
  reuseEvents: number;
  revokedByReuse: number;
  /** Requests answered by an injected fault. */
  faulted: number;
  /** delayMs requests whose client went away before processing (nothing was done). */
  abortedBeforeProcessing: number;
  perGrant: Record<string, { refreshes: number; reuses: number }>;
}

export interface LedgerGrant {
  grantId: string;
  userId: string;
  kind: 'default' | 'bot' | 'user';
  status: 'active' | 'revoked';
  revokedBy?: 'user' | 'reuse';
  revokeReason?: string;
  current: string;
  /** Every refresh token issued for this grant, in order (the first one came from issueGrant). */
  issued: string[];
}

export interface Ledger {
  grants: LedgerGrant[];
  reuses: Array<{ grantId: string; token: string; at: number }>;
}

export interface AccessTokenInfo {
  active: boolean;
  grantId?: string;
  reason?: 'unknown' | 'expired' | 'revoked';
  expiresAt?: number;
}
