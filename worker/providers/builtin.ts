// Built-in provider definitions. Facts and how sure they are: ../shared/docs/providers.md.
// Client credentials default to <KEY>_CLIENT_ID / <KEY>_CLIENT_SECRET from the environment.
// Where a fact is unconfirmed we choose the safe behaviour: rotation 'optional' (a new refresh
// token in an answer always wins) and unknown 4xx codes treated as transient, never terminal.
import type { ProviderInput } from './types.ts';

export const BUILTIN_PROVIDERS: Record<string, ProviderInput> = {
  gong: {
    displayName: 'Gong',
    tokenUrl: 'https://app.gong.io/oauth2/generate-customer-token',
    clientAuth: 'basic',
    paramsIn: 'query',
    rotation: 'always',
    oldTokenGrace: 'none',
    metadataFields: ['api_base_url_for_customer'],
    errors: { terminalDescriptions: ['Refresh token code is invalid', 'Token has been expired or revoked'] },
    notes: 'Single-use refresh tokens; grant_type and refresh_token go in the query string with Basic auth.',
  },
  salesforce: {
    displayName: 'Salesforce',
    tokenUrl: 'https://login.salesforce.com/services/oauth2/token',
    clientAuth: 'body',
    paramsIn: 'form',
    responseFormat: 'json',
    // No expires_in: the access token lives as long as the org's session timeout (2 h default, unconfirmed).
    expiry: { source: 'none', defaultLifetimeSec: 7200, cron: '0 3 * * *' },
    rotation: 'optional',
    metadataFields: ['instance_url', 'id', 'issued_at'],
    errors: { terminalDescriptions: ['expired access/refresh token', 'authentication failure'] },
    notes: 'No expires_in; refreshed on a daily cron. Rotation optional per app; instance_url kept.',
  },
  'salesforce-sandbox': {
    extends: 'salesforce',
    displayName: 'Salesforce (sandbox)',
    tokenUrl: 'https://test.salesforce.com/services/oauth2/token',
  },
  slack: {
    displayName: 'Slack',
    tokenUrl: 'https://slack.com/api/oauth.v2.access',
    clientAuth: 'basic',
    paramsIn: 'form',
    responseFormat: 'json',
    rotation: 'always',
    metadataFields: ['bot_user_id', 'app_id', 'team', 'enterprise', 'is_enterprise_install'],
    errors: {
      bodyErrorWhen: [{ field: 'ok', equals: false }],
      codeFields: ['error'],
      terminal: ['invalid_refresh_token', 'invalid_grant', 'token_revoked', 'token_expired', 'account_inactive', 'app_uninstalled'],
      credential: ['invalid_client_id', 'bad_client_secret', 'invalid_client', 'unauthorized_client'],
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
    notes: 'Errors arrive as HTTP 200 {"ok":false}; bot and user (authed_user) tokens refresh separately.',
  },
};
