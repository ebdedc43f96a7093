// The API's request and answer shapes, written by hand from worker/api/views.ts and the routes.
// Kept in this one file so it can be swapped for types generated from docs/openapi.json
// (`npm run client:types`) once that document exists.

export type ConnectionStatus = 'active' | 'needs_reauth';

export type ReauthReason =
  | 'revoked'
  | 'expired'
  | 'authentication_failure'
  | 'interaction_required'
  | 'rotation_lost_in_crash'
  | 'rotation_lost_in_flight'
  | 'rotation_lost_commit_failed'
  | 'rotation_lost_in_pause';

/** A token set as the provider's token endpoint returned it (RFC 6749 field names). */
export interface TokenSetInput {
  access_token: string;
  refresh_token?: string;
  expires_in?: number;
  token_type?: string;
  scope?: string;
  [field: string]: unknown;
}

export interface CreateConnectionInput {
  provider: string;
  externalId: string;
  tokens: TokenSetInput;
  metadata?: Record<string, unknown>;
}

/** POST /v1/connections (201). */
export interface CreatedConnection {
  id: string;
  status: ConnectionStatus;
  expiresAt: string | null;
  nextRefreshAt: string | null;
  linked?: { id: string; externalId: string }[];
}

/** GET /v1/connections/:id: state and schedule, never a token. */
export interface Connection {
  id: string;
  provider: string;
  externalId: string;
  status: ConnectionStatus;
  expiresAt: string | null;
  lastRefreshedAt: string | null;
  nextRefreshAt: string | null;
  version: number;
  consecutiveFailures: number;
  reauthReason?: ReauthReason;
  reauthAt?: string | null;
  lastError?: { code: string; description: string | null; at: string | null };
  metadata: unknown;
  parentId: string | null;
  createdAt: string;
  updatedAt: string;
}

/** GET /v1/connections: one page; `next` is the `after` cursor of the following page. */
export interface ConnectionPage {
  connections: Connection[];
  next: string | null;
}

export interface ListConnectionsQuery {
  status?: ConnectionStatus;
  provider?: string;
  externalId?: string;
  /** Page size, 1 to 1000 (the API's default is 100). */
  limit?: number;
  /** Start after this connection id. */
  after?: string;
}

/** GET /v1/connections/:id/token (200). */
export interface TokenAnswer {
  access_token: string;
  expires_at: string | null;
  token_type: string | null;
  refreshed: boolean;
}

/** POST /v1/connections/:id/refresh: the outcome of one forced refresh. */
export type RefreshOutcome =
  | { outcome: 'rotated'; version: number; expiresAt: string | null; nextRefreshAt: string }
  | {
      outcome: 'transient' | 'misconfigured';
      code: string;
      description: string;
      httpStatus: number | null;
      retryAt: string;
    }
  | { outcome: 'needs_reauth'; reauthReason: ReauthReason; code: string; description: string }
  | { outcome: 'lost_race'; nextRefreshAt: string | null }
  | { outcome: 'skipped'; reason: string; nextRefreshAt: string | null };

/** DELETE /v1/connections/:id?revoke=true (200); without revoke the API answers 204. */
export interface DeletedConnection {
  id: string;
  deleted: true;
  revoked?: boolean;
  reason?: string;
  detail?: string;
}

export interface ConnectSessionInput {
  provider: string;
  externalId: string;
  returnUrl: string;
  /** Reconnect this connection in place (same id) instead of creating one. */
  connectionId?: string;
  scopes?: string[];
  metadata?: Record<string, unknown>;
}

/** POST /v1/connect-sessions (201): send the user to `url`. */
export interface CreatedConnectSession {
  id: string;
  url: string;
  expiresAt: string;
  mode: 'connect' | 'reconnect';
  connectionId?: string;
}

/** GET /v1/connect-sessions/:id. */
export interface ConnectSession {
  id: string;
  provider: string;
  externalId: string;
  status: string;
  connectionId?: string;
  outcome?: string;
  error?: string;
  errorDescription?: string | null;
  createdAt: string;
  expiresAt: string;
  finishedAt?: string;
}

/** The error bodies: { error, field, message } for a bad request, { error, message } otherwise. */
export interface ErrorBody {
  error: string;
  field?: string;
  message?: string;
  [field: string]: unknown;
}

/** Webhook event types and the `data` each carries (docs/webhooks.md). */
export interface WebhookEventData {
  'connection.needs_reauth': {
    connectionId: string;
    provider: string;
    externalId: string;
    reason: ReauthReason;
    errorCode: string | null;
    errorDescription: string | null;
    httpStatus: number | null;
  };
  'connection.refresh_failing': {
    connectionId: string;
    provider: string;
    externalId: string;
    errorCode: string | null;
    errorDescription: string | null;
    since: string;
  };
  'connection.created': { connectionId: string; provider: string; externalId: string };
  'connection.recovered': {
    connectionId: string;
    provider: string;
    externalId: string;
    after: 'reconnect' | 'refresh_failures';
    reason?: 'reconnected';
    previousStatus?: string;
  };
}

export type WebhookEventType = keyof WebhookEventData;

/** The body of a delivery, the Standard Webhooks shape { type, timestamp, data }, plus its id. */
export type WebhookEvent = {
  [T in WebhookEventType]: { id: string; type: T; timestamp: string; data: WebhookEventData[T] };
}[WebhookEventType];
