// Built-in provider definitions. Facts and how sure they are: docs/providers.md
// ([V] official docs, [2] second-hand, [M] unconfirmed). Its table of built-ins is generated from
// this file: run `npm run docs:providers` after a change (a test fails while it is stale).
// Client credentials default to <KEY>_CLIENT_ID / <KEY>_CLIENT_SECRET from the environment
// (key upper-cased, - as _: GITHUB_APP_CLIENT_ID).
//
// Safe defaults where a fact is unconfirmed:
// - rotation 'optional' unless rotation is confirmed ([V]) or the issue names it: a new refresh token
//   in an answer ALWAYS wins (the core stores any refresh token that comes back, whatever `rotation`
//   says); 'always' additionally treats an answer without one as uncertain (retried, never stored).
// - unknown error codes are transient (retried with backoff, reported as failing), never terminal.
// - oldTokenGrace 'none' unless a grace is documented: we never count on reusing an old token.
import { DEFAULT_USER_KEYS } from './defaults.ts';
import type { ProviderInput } from './types.ts';
import { BUILTIN_AUTHORIZATION } from './builtin-authorization.ts';

const DAY = 86400;
// Salesforce identity URL .../id/<orgId>/<userId> (15 or 18 characters each).
const SF_ID = '[A-Za-z0-9]{15,18}';

export const BUILTIN_PROVIDERS: Record<string, ProviderInput> = {
  gong: {
    displayName: 'Gong',
    tokenUrl: 'https://app.gong.io/oauth2/generate-customer-token',
    clientAuth: 'basic',
    // [2] Gong's examples send grant_type and refresh_token as QUERY parameters with an empty body.
    paramsIn: 'query',
    rotation: 'always',
    oldTokenGrace: 'none',
    metadataFields: ['api_base_url_for_customer'],
    errors: { terminalDescriptions: ['Refresh token code is invalid', 'Token has been expired or revoked'] },
    notes:
      'Basic auth; grant_type and refresh_token in the query string; single-use refresh tokens; api_base_url_for_customer kept.',
  },
  salesforce: {
    displayName: 'Salesforce',
    tokenUrl: 'https://login.salesforce.com/services/oauth2/token',
    clientAuth: 'body',
    paramsIn: 'form',
    responseFormat: 'json',
    // No expires_in [V]: the answer carries issued_at (ms, string). The access token lives as long as
    // the org's session timeout (2 h default [M]), so it is refreshed daily by cron (a keep-alive for
    // the refresh token's policy too) and, on demand, whenever it is older than the assumed 2 h.
    expiry: { source: 'none', defaultLifetimeSec: 7200, cron: '0 3 * * *' },
    // Rotation is an opt-in per app [V]: a refresh_token in the answer replaces ours, none keeps ours.
    rotation: 'optional',
    oldTokenGrace: 'none',
    metadataFields: ['instance_url', 'id', 'issued_at'],
    errors: {
      terminalDescriptions: ['expired access/refresh token', 'authentication failure'],
      // A password change, deactivation or freeze revokes every refresh token of the user [seed].
      descriptionReasons: [{ contains: 'authentication failure', reason: 'authentication_failure' }],
      credential: ['invalid_client', 'invalid_client_id', 'invalid_client_credentials', 'unauthorized_client'],
    },
    // 5 refresh tokens per user per app: a sixth grant silently revokes the oldest.
    tokenCapPerUser: 5,
    userKeys: [{ path: 'id', pattern: `/id/(${SF_ID}/${SF_ID})/?$` }, ...DEFAULT_USER_KEYS],
    org: {
      keys: [
        { path: 'id', pattern: `/id/(${SF_ID})/${SF_ID}/?$` },
        { path: 'instance_url', host: true },
      ],
      name: 'Salesforce org',
      together: 'admin_policy',
      hint: 'That pattern matches the connected app\'s Refresh Token Policy set to "Immediately expire refresh token" (or "Expire refresh token after" a period), or an admin revoking the app for the whole org.',
      advice:
        'Ask the Salesforce admin of org {org} to check Setup > Connected Apps > Manage > Edit Policies > Refresh Token Policy ("Refresh token is valid until revoked"); then the org\'s users reconnect. A replay will not help.',
    },
    notes:
      'No expires_in (issued_at in ms); daily cron refresh; optional rotation; instance_url re-stored on every refresh.',
  },
  'salesforce-sandbox': {
    extends: 'salesforce',
    displayName: 'Salesforce (sandbox)',
    tokenUrl: 'https://test.salesforce.com/services/oauth2/token',
    notes: 'Salesforce against test.salesforce.com.',
  },
  slack: {
    displayName: 'Slack',
    tokenUrl: 'https://slack.com/api/oauth.v2.access',
    clientAuth: 'basic',
    paramsIn: 'form',
    responseFormat: 'json',
    rotation: 'always',
    oldTokenGrace: 'none',
    metadataFields: ['bot_user_id', 'app_id', 'team', 'enterprise', 'is_enterprise_install'],
    org: {
      keys: ['team.id', 'team_id'],
      name: 'Slack workspace',
      label: 'slack team',
      together: 'app_removed',
      advice:
        'Ask a workspace admin of {org} whether the app was uninstalled; reinstalling it reconnects the workspace.',
    },
    errors: {
      // Slack answers errors as HTTP 200 {"ok":false,"error":"..."} [V].
      bodyErrorWhen: [{ field: 'ok', equals: false }],
      codeFields: ['error'],
      // invalid_refresh_token is [M] (likely); the others are Slack's documented dead-grant errors.
      terminal: [
        'invalid_refresh_token',
        'invalid_grant',
        'token_revoked',
        'token_expired',
        'account_inactive',
        'app_uninstalled',
      ],
      credential: [
        'invalid_client_id',
        'bad_client_secret',
        'invalid_client',
        'unauthorized_client',
        'invalid_grant_type',
      ],
      transient: ['internal_error', 'fatal_error', 'ratelimited', 'request_timeout', 'service_unavailable'],
    },
    hooks: {
      // The user token (authed_user) has its own refresh token: keep it fresh as a linked connection.
      linkedTokenSets(tokens) {
        const user = tokens.authed_user as Record<string, unknown> | undefined;
        if (user && typeof user.refresh_token === 'string') return [{ suffix: '#user', tokens: user }];
        return [];
      },
    },
    notes:
      'oauth.v2.access; errors arrive as HTTP 200 {"ok":false}; bot and user (authed_user) tokens refresh separately.',
  },
  google: {
    displayName: 'Google',
    tokenUrl: 'https://oauth2.googleapis.com/token',
    clientAuth: 'body',
    paramsIn: 'form',
    responseFormat: 'json',
    // Google does not rotate [M]: optional keeps any refresh token that does come back.
    rotation: 'optional',
    // "6 months" unused [2]: 180 days keeps the keep-alive refresh on the safe side of any reading.
    idleLifetimeSec: 180 * DAY,
    // 100 refresh tokens per account per client: a newer grant silently revokes the oldest.
    tokenCapPerUser: 100,
    fixedGrantLifetimes: [
      {
        afterSec: 7 * DAY,
        cause:
          'Google expires refresh tokens after 7 days for apps in "Testing" status with external users. Publish the app.',
      },
    ],
    errors: {
      // error_subtype invalid_rapt: a re-authentication proof is required (user interaction) [2].
      codeFields: ['error_subtype', 'error'],
      interactionRequired: ['invalid_rapt', 'interaction_required', 'consent_required', 'login_required'],
    },
    notes:
      'Refresh tokens die after 6 months unused (keep-alive refresh); 7 days for apps in Testing; 100 per account per client.',
  },
  microsoft: {
    displayName: 'Microsoft Entra ID (v2)',
    tokenUrl: 'https://login.microsoftonline.com/{tenant|common}/oauth2/v2.0/token',
    clientAuth: 'body',
    paramsIn: 'form',
    responseFormat: 'json',
    // A new refresh token comes back every time; the old one is NOT revoked [V]. We store the new one.
    rotation: 'always',
    oldTokenGrace: 'not_revoked',
    idleLifetimeSec: 90 * DAY,
    errors: {
      // AADSTS codes decide, from error_codes (or the AADSTS text in error_description).
      numericCodesField: 'error_codes',
      descriptionCodePattern: 'AADSTS(\\d+)',
      // 70008 / 700082 expired by inactivity, 700084 SPA lifetime, 50173 grant revoked (password).
      // invalid_grant alone is NOT terminal here: an unknown AADSTS code is retried (safe side).
      terminal: ['70008', '700082', '700084', '50173', '70043', '700081'],
      // 50076 / 50079 MFA, 50078 MFA expired, 65001 consent: the user must interact [M].
      interactionRequired: [
        '50076',
        '50079',
        '50078',
        '50158',
        '65001',
        'interaction_required',
        'consent_required',
        'login_required',
      ],
      // 7000215 bad secret, 7000222 expired secret, 700016 unknown app, 7000218 secret missing.
      credential: ['invalid_client', 'unauthorized_client', '7000215', '7000222', '700016', '7000218'],
    },
    notes:
      'Tenant from metadata {tenant} (default common); AADSTS codes decide; old refresh token stays valid but the new one is stored; 90-day idle limit.',
  },
  hubspot: {
    displayName: 'HubSpot',
    tokenUrl: 'https://api.hubapi.com/oauth/v1/token',
    clientAuth: 'body',
    paramsIn: 'form',
    responseFormat: 'json',
    // Never rotates [M] (echoes the same refresh token): optional stores whatever comes back.
    rotation: 'optional',
    errors: {
      // HubSpot's error form is {"status":"BAD_REFRESH_TOKEN","message":...} [2].
      codeFields: ['status', 'error'],
      descriptionFields: ['message', 'error_description'],
      terminal: ['BAD_REFRESH_TOKEN', 'invalid_grant'],
      credential: ['BAD_CLIENT_ID', 'BAD_CLIENT_SECRET', 'invalid_client', 'unauthorized_client'],
    },
    notes:
      'Dead token answers {"status":"BAD_REFRESH_TOKEN"}; v1 endpoint deprecated 2027-02-16 (override tokenUrl for /oauth/2026-03/token).',
  },
  xero: {
    displayName: 'Xero',
    tokenUrl: 'https://identity.xero.com/connect/token',
    clientAuth: 'basic',
    paramsIn: 'form',
    responseFormat: 'json',
    rotation: 'always',
    // The old refresh token stays usable for 30 minutes [2]: an uncertain attempt is retried inside it.
    oldTokenGrace: 1800,
    idleLifetimeSec: 60 * DAY,
    notes: 'Rotates every refresh; the previous token is reusable for 30 min (a retry after a crash succeeds).',
  },
  quickbooks: {
    displayName: 'QuickBooks (Intuit)',
    tokenUrl: 'https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer',
    clientAuth: 'basic',
    paramsIn: 'form',
    responseFormat: 'json',
    // The value may change (about daily) [2]: optional, a new one wins.
    rotation: 'optional',
    refreshExpiresInField: 'x_refresh_token_expires_in',
    idleLifetimeSec: 100 * DAY,
    notes: 'Refresh token value changes about daily (always store it); 100-day idle limit, 5 years absolute.',
  },
  zoom: {
    displayName: 'Zoom',
    tokenUrl: 'https://zoom.us/oauth/token',
    clientAuth: 'basic',
    paramsIn: 'form',
    responseFormat: 'json',
    rotation: 'always',
    oldTokenGrace: 'none',
    metadataFields: ['api_url'],
    errors: {
      // Dead token: 400 {"reason":"Invalid Token!","error":"invalid_request"}; codes 4711/4733/4735 [V].
      codeFields: ['error', 'code'],
      descriptionFields: ['reason', 'error_description', 'message'],
      terminal: ['invalid_grant', '4711', '4733', '4735'],
      terminalDescriptions: ['Invalid Token!'],
    },
    notes: 'Basic auth; single-use refresh tokens; a dead token answers reason "Invalid Token!".',
  },
  atlassian: {
    displayName: 'Atlassian',
    tokenUrl: 'https://auth.atlassian.com/oauth/token',
    clientAuth: 'body',
    paramsIn: 'json',
    responseFormat: 'json',
    rotation: 'always',
    // 10-minute reuse interval [V]; reuse after it revokes the whole token family.
    oldTokenGrace: 600,
    idleLifetimeSec: 90 * DAY,
    notes: 'JSON body; rotating with a 10-min reuse interval; dead token answers 403 invalid_grant; 90-day idle limit.',
  },
  dropbox: {
    displayName: 'Dropbox',
    tokenUrl: 'https://api.dropboxapi.com/oauth2/token',
    clientAuth: 'body',
    paramsIn: 'form',
    responseFormat: 'json',
    // Does not rotate [M]: optional keeps a new one should it come back.
    rotation: 'optional',
    notes: 'Short-lived (~4 h) access tokens; long-lived refresh token.',
  },
  notion: {
    displayName: 'Notion',
    tokenUrl: 'https://api.notion.com/v1/oauth/token',
    clientAuth: 'basic',
    paramsIn: 'json',
    responseFormat: 'json',
    rotation: 'always',
    // The answer shows no expiry [V]: assume one hour (refreshing early is safe; rotation is fenced).
    expiry: { source: 'expires_in', defaultLifetimeSec: 3600 },
    metadataFields: ['bot_id', 'workspace_id', 'workspace_name'],
    notes: 'Basic auth + JSON body; rotating; no expiry in the answer (1 h assumed).',
  },
  box: {
    displayName: 'Box',
    tokenUrl: 'https://api.box.com/oauth2/token',
    clientAuth: 'body',
    paramsIn: 'form',
    responseFormat: 'json',
    rotation: 'always',
    oldTokenGrace: 'none',
    idleLifetimeSec: 60 * DAY,
    errors: { terminalDescriptions: ['Refresh token has expired'] },
    notes: 'Single-use refresh tokens; 60-day idle limit.',
  },
  docusign: {
    displayName: 'DocuSign',
    tokenUrl: 'https://account.docusign.com/oauth/token',
    clientAuth: 'basic',
    paramsIn: 'form',
    responseFormat: 'json',
    rotation: 'always',
    // Reportedly dies at once [2].
    oldTokenGrace: 'none',
    idleLifetimeSec: 30 * DAY,
    tokenCapPerUser: 5,
    notes:
      'New refresh token each time; 30-day idle limit; 5 grants per user. Developer accounts: override tokenUrl to account-d.docusign.com.',
  },
  asana: {
    displayName: 'Asana',
    tokenUrl: 'https://app.asana.com/-/oauth_token',
    clientAuth: 'body',
    paramsIn: 'form',
    responseFormat: 'json',
    // Never rotates [M]: optional.
    rotation: 'optional',
    notes: 'Access tokens ~1 h [M]; refresh token long-lived.',
  },
  'github-app': {
    displayName: 'GitHub App (user tokens)',
    tokenUrl: 'https://github.com/login/oauth/access_token',
    clientAuth: 'body',
    paramsIn: 'form',
    // Without Accept: application/json the answer is form-encoded [2]: ask for JSON, read either.
    headers: { Accept: 'application/json' },
    responseFormat: 'auto',
    rotation: 'always',
    oldTokenGrace: 'none',
    refreshExpiresInField: 'refresh_token_expires_in',
    errors: {
      // Errors come back as HTTP 200 with an error field [2].
      bodyErrorWhen: [{ field: 'error', present: true }],
      terminal: ['bad_refresh_token', 'invalid_grant'],
      credential: ['incorrect_client_credentials', 'invalid_client', 'unauthorized_client'],
    },
    notes:
      'HTTP 200 with error=bad_refresh_token; form-encoded answers unless Accept: application/json; refresh tokens live 6 months.',
  },
  shopify: {
    displayName: 'Shopify (expiring offline tokens)',
    tokenUrl: 'https://{shop}.myshopify.com/admin/oauth/access_token',
    clientAuth: 'body',
    paramsIn: 'json',
    responseFormat: 'json',
    rotation: 'always',
    // Kept until the new one is used (since 2026-08) [V].
    oldTokenGrace: 'until_used',
    refreshExpiresInField: 'refresh_token_expires_in',
    notes: 'Metadata {shop} = the shop subdomain; JSON body; the old refresh token lives until the new one is used.',
  },
  zendesk: {
    displayName: 'Zendesk',
    tokenUrl: 'https://{subdomain}.zendesk.com/oauth/tokens',
    clientAuth: 'body',
    // Zendesk accepts form or JSON bodies [M].
    paramsIn: 'json',
    responseFormat: 'json',
    rotation: 'always',
    // The previous pair is deleted [V].
    oldTokenGrace: 'none',
    refreshExpiresInField: 'refresh_token_expires_in',
    notes: 'Metadata {subdomain}; the previous token pair is deleted on refresh.',
  },
  linear: {
    displayName: 'Linear',
    tokenUrl: 'https://api.linear.app/oauth/token',
    clientAuth: 'body',
    paramsIn: 'form',
    responseFormat: 'json',
    // Rotating [2]: optional (a new one always wins; an answer without one keeps ours).
    rotation: 'optional',
    notes: '24 h access tokens [2]; rotating refresh tokens [2].',
  },
  pipedrive: {
    displayName: 'Pipedrive',
    tokenUrl: 'https://oauth.pipedrive.com/oauth/token',
    clientAuth: 'basic',
    paramsIn: 'form',
    responseFormat: 'json',
    // Rotation unknown [M]: optional.
    rotation: 'optional',
    idleLifetimeSec: 60 * DAY,
    metadataFields: ['api_domain'],
    notes: 'Basic auth; api_domain (the API base) kept from each answer; 60-day idle limit.',
  },
};

// The authorization side of each built-in (hosted connect flow) lives in builtin-authorization.ts.
for (const [key, facts] of Object.entries(BUILTIN_AUTHORIZATION)) Object.assign(BUILTIN_PROVIDERS[key], facts);
