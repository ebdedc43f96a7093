// What each persona's failures look like: a dead or unknown refresh token, a bad client, a bad
// request, each in the persona's own status, error code and wording (Slack's HTTP 200 ok:false,
// Microsoft's AADSTS descriptions, HubSpot's status/message, GitHub's 200 with an error...).

import { randomUUID } from 'node:crypto';
import { formEncoded, json, type Reply } from '../http.ts';
import type { GrantState } from '../store.ts';
import type { Persona } from '../types.ts';

export type FailKind =
  'dead' | 'unknown_token' | 'bad_client_id' | 'bad_client_secret' | 'invalid_request' | 'unsupported_grant_type';

export interface Failure {
  kind: FailKind;
  viaBasic?: boolean;
  grant?: GrantState;
  message?: string;
}

export interface ReqCtx {
  /** Client asked for JSON (GitHub). */
  wantsJson: boolean;
}

/** Entra ID error descriptions for revokeGrant(id, '<AADSTS code>'). */
const AADSTS: Record<number, { text: string; error?: string; suberror?: string }> = {
  700082: {
    text: 'The refresh token has expired due to inactivity. The token was issued on 2026-01-01T00:00:00Z and was inactive for 90.00:00:00.',
  },
  70008: {
    text: 'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.',
  },
  700084: {
    text: "The refresh token was issued to a single page app (SPA), and therefore has a fixed, limited lifetime of 1.00:00:00, which can't be extended.",
  },
  50173: {
    text: 'The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.',
  },
  50076: {
    text: 'Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access this resource.',
    suberror: 'basic_action',
  },
  50079: {
    text: 'Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access this resource.',
    suberror: 'basic_action',
  },
  65001: {
    text: 'The user or administrator has not consented to use the application. Send an interactive authorization request for this user and resource.',
    suberror: 'consent_required',
  },
  9002313: { text: 'Invalid request. Request is malformed or invalid.' },
  7000215: {
    text: 'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.',
    error: 'invalid_client',
  },
  700016: {
    text: 'Application with identifier was not found in the directory. This can happen if the application has not been installed by the administrator of the tenant.',
    error: 'unauthorized_client',
  },
};

/** A failure as the persona renderers see it. */
interface Seen {
  f: Failure;
  /** revokeGrant's reason, which shapes some personas' terminal answer. */
  reason?: string;
  isClient: boolean;
  isDead: boolean;
  ctx: ReqCtx;
  now: () => number;
}

const rfcClient = ({ f }: Seen, desc: string) =>
  f.viaBasic
    ? json(
        401,
        { error: 'invalid_client', error_description: desc },
        { 'www-authenticate': 'Basic realm="fake-provider"' },
      )
    : json(400, { error: 'invalid_client', error_description: desc });
const rfcOther = ({ f }: Seen) =>
  f.kind === 'unsupported_grant_type'
    ? json(400, { error: 'unsupported_grant_type', error_description: `Unsupported grant type: ${f.message ?? ''}` })
    : json(400, { error: 'invalid_request', error_description: f.message ?? 'Invalid request.' });

/** The persona's error answer for a failure. */
export function renderFailure(persona: Persona, f: Failure, ctx: ReqCtx, now: () => number): Reply {
  const isClient = f.kind === 'bad_client_id' || f.kind === 'bad_client_secret';
  const isDead = f.kind === 'dead' || f.kind === 'unknown_token';
  return FAILURES[persona]({ f, reason: f.grant?.revokeReason, isClient, isDead, ctx, now });
}

const FAILURES: Record<Persona, (s: Seen) => Reply> = {
  gong: (s) => {
    const { f, isClient, isDead } = s;
    if (isDead)
      return json(400, {
        error: 'invalid_grant',
        error_description:
          f.kind === 'unknown_token' ? 'Refresh token code is invalid' : 'Token has been expired or revoked.',
      });
    if (isClient) return json(401, { error: 'invalid_client', error_description: 'Client authentication failed' });
    return rfcOther(s);
  },
  salesforce: ({ f, reason, isDead }) => {
    if (isDead)
      return json(400, { error: 'invalid_grant', error_description: reason ?? 'expired access/refresh token' });
    if (f.kind === 'bad_client_id')
      return json(400, { error: 'invalid_client_id', error_description: 'client identifier invalid' });
    if (f.kind === 'bad_client_secret')
      return json(400, { error: 'invalid_client', error_description: 'invalid client credentials' });
    if (f.kind === 'unsupported_grant_type')
      return json(400, { error: 'unsupported_grant_type', error_description: 'grant type not supported' });
    return json(400, { error: 'invalid_request', error_description: f.message ?? 'invalid request' });
  },
  slack: ({ f, reason, isDead }) => {
    const err = isDead
      ? (reason ?? 'invalid_refresh_token')
      : f.kind === 'bad_client_id'
        ? 'invalid_client_id'
        : f.kind === 'bad_client_secret'
          ? 'bad_client_secret'
          : f.kind === 'unsupported_grant_type'
            ? 'invalid_grant_type'
            : 'invalid_arguments';
    return json(200, { ok: false, error: err });
  },
  google: (s) => {
    const { f, reason, isDead } = s;
    if (isDead) {
      if (reason === 'invalid_rapt')
        return json(400, {
          error: 'invalid_grant',
          error_description: 'reauth related error (invalid_rapt)',
          error_uri: 'https://support.google.com/a/answer/9368756',
          error_subtype: 'invalid_rapt',
        });
      return json(400, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
    }
    if (f.kind === 'bad_client_id')
      return json(401, { error: 'invalid_client', error_description: 'The OAuth client was not found.' });
    if (f.kind === 'bad_client_secret')
      return json(401, { error: 'invalid_client', error_description: 'Unauthorized' });
    return rfcOther(s);
  },
  microsoft: ({ f, reason, now }) => {
    const aad = (code: number, status: number, fallbackError: string) => {
      const e = AADSTS[code];
      const stamp = new Date(now())
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z');
      return json(status, {
        error: e?.error ?? fallbackError,
        error_description: `AADSTS${code}: ${e?.text ?? 'Error.'} Trace ID: ${randomUUID()} Correlation ID: ${randomUUID()} Timestamp: ${stamp}`,
        error_codes: [code],
        timestamp: stamp,
        trace_id: randomUUID(),
        correlation_id: randomUUID(),
        error_uri: `https://login.microsoftonline.com/error?code=${code}`,
        ...(e?.suberror ? { suberror: e.suberror } : {}),
      });
    };
    if (f.kind === 'unknown_token') return aad(9002313, 400, 'invalid_grant');
    if (f.kind === 'dead') {
      const m = reason ? /(\d+)/.exec(reason) : null;
      const code = m ? Number(m[1]) : 700082;
      return aad(code, 400, 'invalid_grant');
    }
    if (f.kind === 'bad_client_id') return aad(700016, 400, 'unauthorized_client');
    if (f.kind === 'bad_client_secret') return aad(7000215, 401, 'invalid_client');
    if (f.kind === 'unsupported_grant_type')
      return json(400, {
        error: 'unsupported_grant_type',
        error_description: 'AADSTS70003: The app requested an unsupported grant type.',
        error_codes: [70003],
      });
    return json(400, {
      error: 'invalid_request',
      error_description: `AADSTS900144: ${f.message ?? 'The request body must contain the following parameter.'}`,
      error_codes: [900144],
    });
  },
  hubspot: ({ f, isDead }) => {
    const correlationId = randomUUID();
    if (isDead || f.kind === 'invalid_request')
      return json(400, { status: 'BAD_REFRESH_TOKEN', message: 'missing or invalid refresh token', correlationId });
    // [M] HubSpot's client-error shapes are second-hand; status/message/correlationId is its error form.
    if (f.kind === 'bad_client_id')
      return json(400, { status: 'BAD_CLIENT_ID', message: 'missing or unknown client id', correlationId });
    if (f.kind === 'bad_client_secret')
      return json(400, { status: 'BAD_CLIENT_SECRET', message: 'missing or invalid client secret', correlationId });
    return json(400, {
      status: 'BAD_GRANT_TYPE',
      message: 'grant_type must be one of: authorization_code, refresh_token',
      correlationId,
    });
  },
  github: ({ f, isClient, isDead, ctx }) => {
    const obj = isDead
      ? {
          error: 'bad_refresh_token',
          error_description: 'The refresh token passed is incorrect or expired.',
          error_uri:
            'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors#bad-refresh-token',
        }
      : isClient
        ? {
            error: 'incorrect_client_credentials',
            error_description: 'The client_id and/or client_secret passed are incorrect.',
            error_uri:
              'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors#incorrect-client-credentials',
          }
        : f.kind === 'unsupported_grant_type'
          ? { error: 'unsupported_grant_type', error_description: 'The grant type is not supported.' }
          : { error: 'invalid_request', error_description: f.message ?? 'Invalid request.' };
    return ctx.wantsJson ? json(200, obj) : formEncoded(200, obj);
  },
  atlassian: (s) => {
    const { isClient, isDead } = s;
    if (isDead) return json(403, { error: 'invalid_grant', error_description: 'Unknown or invalid refresh token.' });
    if (isClient) return json(401, { error: 'invalid_client', error_description: 'Unauthorized' });
    return rfcOther(s);
  },
  xero: ({ f, isClient, isDead }) => {
    if (isDead) return json(400, { error: 'invalid_grant' });
    if (isClient) return json(400, { error: 'invalid_client' });
    return f.kind === 'unsupported_grant_type'
      ? json(400, { error: 'unsupported_grant_type' })
      : json(400, { error: 'invalid_request' });
  },
  zoom: ({ f, isClient, isDead }) => {
    if (isDead) return json(400, { reason: 'Invalid Token!', error: 'invalid_request' });
    if (isClient) return json(401, { reason: 'Invalid client_id or client_secret', error: 'invalid_client' });
    if (f.kind === 'unsupported_grant_type')
      return json(400, { reason: 'Unsupported grant type', error: 'unsupported_grant_type' });
    return json(400, { reason: f.message ?? 'Invalid request', error: 'invalid_request' });
  },
  notion: ({ f, isClient, isDead }) => {
    if (isDead)
      return json(400, {
        error: 'invalid_grant',
        error_description: 'Invalid refresh token.',
        request_id: randomUUID(),
      });
    if (isClient)
      return json(401, {
        error: 'invalid_client',
        error_description: 'Invalid client credentials.',
        request_id: randomUUID(),
      });
    return f.kind === 'unsupported_grant_type'
      ? json(400, {
          error: 'unsupported_grant_type',
          error_description: 'Unsupported grant type.',
          request_id: randomUUID(),
        })
      : json(400, {
          error: 'invalid_request',
          error_description: f.message ?? 'Invalid request.',
          request_id: randomUUID(),
        });
  },
  shopify: (s) => {
    const { isClient, isDead } = s;
    if (isDead)
      return json(400, {
        error: 'invalid_grant',
        error_description: 'The refresh token is invalid, expired or revoked.',
      });
    if (isClient) return json(400, { error: 'invalid_client', error_description: 'Client credentials are invalid.' });
    return rfcOther(s);
  },
  standard: (s) => {
    const { isClient, isDead } = s;
    if (isDead) return json(400, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
    if (isClient) return rfcClient(s, 'Client authentication failed.');
    return rfcOther(s);
  },
};
