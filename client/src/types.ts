// The API's request and answer shapes, named for the client's surface and taken from the types
// openapi-typescript generates from docs/openapi.json (generated/openapi.ts, written by
// `npm run client:types`): the routes' schemas are the one source. Webhook events are not part of
// the HTTP API's document and are written here (docs/webhooks.md).
import type { components, paths } from './generated/openapi.ts';

type Schemas = components['schemas'];
type JsonBody<T> = T extends { content: { 'application/json': infer B } } ? B : never;

export type ConnectionStatus = Schemas['Connection']['status'];

/** Why a connection needs the user again (the document's enum on a needs_reauth refresh outcome). */
export type ReauthReason = Extract<Schemas['RefreshOutcome'], { outcome: 'needs_reauth' }>['reauthReason'];

/** A token set as the provider's token endpoint returned it (RFC 6749 field names). */
export type TokenSetInput = Schemas['TokenSet'];

export type CreateConnectionInput = JsonBody<paths['/v1/connections']['post']['requestBody']>;

/** PUT /v1/connections/:id/tokens: the bare token set, or { tokens, metadata? }. */
export type ReplaceTokensInput = JsonBody<paths['/v1/connections/{id}/tokens']['put']['requestBody']>;

/** POST /v1/connections (201). */
export type CreatedConnection = Schemas['ConnectionCreated'];

/** GET /v1/connections/:id: state and schedule, never a token. */
export type Connection = Schemas['Connection'];

/** GET /v1/connections: one page; `next` is the `after` cursor of the following page. */
export type ConnectionPage = Schemas['ConnectionPage'];

/** The list's query; the client sends limit (1 to 1000, the API's default is 100) as digits. */
export type ListConnectionsQuery = Omit<
  NonNullable<paths['/v1/connections']['get']['parameters']['query']>,
  'limit'
> & {
  limit?: number;
};

/** GET /v1/connections/:id/token (200). */
export type TokenAnswer = Schemas['Token'];

/** POST /v1/connections/:id/refresh: the outcome of one forced refresh. */
export type RefreshOutcome = Schemas['RefreshOutcome'];

/**
 * DELETE /v1/connections/:id?revoke=true (200). Without revoke the API answers 204 and the client
 * returns { id, deleted: true }, hence revoked is optional here.
 */
export type DeletedConnection = Omit<JsonBody<paths['/v1/connections/{id}']['delete']['responses'][200]>, 'revoked'> & {
  revoked?: boolean;
};

export type ConnectSessionInput = JsonBody<paths['/v1/connect-sessions']['post']['requestBody']>;

/** POST /v1/connect-sessions (201): send the user to `url`. */
export type CreatedConnectSession = Schemas['ConnectSessionCreated'];

/** GET /v1/connect-sessions/:id. */
export type ConnectSession = Schemas['ConnectSession'];

/**
 * Any error answer's body, its fields read as optional: Error ({ error, field, message }; a 400
 * names the field), NeedsReauth (409 on a token read or refresh), RefreshFailed (503 on a token read).
 */
export type ErrorBody = Partial<Schemas['Error'] & Schemas['NeedsReauth'] & Omit<Schemas['RefreshFailed'], 'error'>>;

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
