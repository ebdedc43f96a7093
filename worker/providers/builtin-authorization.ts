// Built-in providers' authorization side (hosted connect flow), merged into BUILTIN_PROVIDERS.
// Facts and how sure they are: /work/shared/docs/providers.md, "Authorization side"
// ([V] official docs, [2] second-hand, [M] unconfirmed). What decides whether a refresh token comes
// back at all is in requiredScopes / authorizeParams: always sent, whatever scopes a session names.
// PKCE stays S256 unless a provider is known to refuse or to turn public on it (then 'none').
// issuer is set only where the provider advertises iss on authorization responses (RFC 9207).
import type { ProviderInput } from './types.ts';

type AuthorizationFacts = Pick<
  ProviderInput,
  | 'authorizeUrl'
  | 'scopes'
  | 'requiredScopes'
  | 'scopeSeparator'
  | 'authorizeParams'
  | 'pkce'
  | 'revocationUrl'
  | 'issuer'
  | 'invalidCodeErrors'
  | 'offlineHint'
>;

export const BUILTIN_AUTHORIZATION: Record<string, AuthorizationFacts> = {
  gong: {
    authorizeUrl: 'https://app.gong.io/oauth2/authorize', // [V]
    // [2] Nango adds access_type=offline and turns PKCE off; harmless if ignored.
    authorizeParams: { access_type: 'offline' },
    pkce: 'none',
    // No revocation endpoint known [M]. The installer must be a Gong technical administrator [V].
    offlineHint:
      "Gong returned no refresh token: the app must be installed by a Gong technical administrator with the OAuth app's scopes granted.",
  },
  salesforce: {
    authorizeUrl: 'https://login.salesforce.com/services/oauth2/authorize', // [V]; My Domain orgs: override
    // The refresh_token scope (= offline_access) is what makes a refresh token come back [V].
    requiredScopes: ['refresh_token'],
    scopes: ['api'],
    revocationUrl: 'https://login.salesforce.com/services/oauth2/revoke', // [V] revoking the RT ends its ATs
    // PKCE S256 is optional; once a challenge is sent the verifier is required [V].
    offlineHint:
      'Salesforce returned no refresh token: add the "refresh_token, offline_access" scope to the connected app (and allow it in the app\'s OAuth policies).',
  },
  'salesforce-sandbox': {
    authorizeUrl: 'https://test.salesforce.com/services/oauth2/authorize', // [V]
    revocationUrl: 'https://test.salesforce.com/services/oauth2/revoke', // [V]
  },
  slack: {
    authorizeUrl: 'https://slack.com/oauth/v2/authorize', // [V]
    // Bot scopes go in scope, user scopes in user_scope [V] (set authorizeParams.user_scope in
    // PROVIDERS_FILE); both token sets are kept, the user one as a linked connection.
    scopeSeparator: ',', // [2]
    // PKCE is opt-in and makes the app public, one way, with 30-day refresh tokens [V]: not sent.
    pkce: 'none',
    revocationUrl: 'https://slack.com/api/auth.revoke', // [2] token=
    invalidCodeErrors: ['invalid_code', 'code_already_used', 'code_expired', 'invalid_grant'], // [M] beyond invalid_code
    offlineHint:
      'Slack returned no refresh token: turn on token rotation for the app (OAuth & Permissions > Advanced token security via token rotation); without it Slack tokens do not refresh.',
  },
  google: {
    authorizeUrl: 'https://accounts.google.com/o/oauth2/v2/auth', // [V]
    // A refresh token comes back only with access_type=offline, and again only with prompt=consent [V].
    authorizeParams: { access_type: 'offline', prompt: 'consent' },
    revocationUrl: 'https://oauth2.googleapis.com/revoke', // [2]
    // Google's discovery lists authorization_response_iss_parameter_supported [V].
    issuer: 'https://accounts.google.com',
    offlineHint:
      'Google returned no refresh token although access_type=offline and prompt=consent were sent: check the OAuth client is a "Web application" client and that the user was not limited by an admin policy.',
  },
  microsoft: {
    authorizeUrl: 'https://login.microsoftonline.com/{tenant|common}/oauth2/v2.0/authorize', // [V]
    requiredScopes: ['offline_access'], // [2]
    authorizeParams: { response_mode: 'query' }, // [2]
    // PKCE is recommended for web apps too [V]. No RFC 7009 endpoint (Graph revokeSignInSessions) [V].
    offlineHint:
      "Microsoft returned no refresh token: the offline_access scope must be granted (it was requested); check the app registration's API permissions.",
  },
  hubspot: {
    authorizeUrl: 'https://app.hubspot.com/oauth/authorize', // [V]
    // Refresh token always [V]. Revocation is DELETE /oauth/v1/refresh-tokens/{rt}: not RFC 7009, not wired.
  },
  xero: {
    authorizeUrl: 'https://login.xero.com/identity/connect/authorize', // [2]
    requiredScopes: ['offline_access'], // [2]
    revocationUrl: 'https://identity.xero.com/connect/revocation', // [2] Basic, token=RT
    offlineHint: 'Xero returned no refresh token: the offline_access scope must be granted.',
  },
  quickbooks: {
    authorizeUrl: 'https://appcenter.intuit.com/connect/oauth2', // [V]
    scopes: ['com.intuit.quickbooks.accounting'], // [2]
    // [V] URL; Intuit documents a JSON body [M]: we send RFC 7009's form body.
    revocationUrl: 'https://developer.api.intuit.com/v2/oauth2/tokens/revoke',
    pkce: 'none', // not advertised [M]
  },
  zoom: {
    authorizeUrl: 'https://zoom.us/oauth/authorize', // [V]
    scopeSeparator: ',', // [2]
    revocationUrl: 'https://zoom.us/oauth/revoke', // [2] Basic, token=
  },
  atlassian: {
    authorizeUrl: 'https://auth.atlassian.com/authorize', // [V]
    authorizeParams: { audience: 'api.atlassian.com', prompt: 'consent' }, // [V]
    requiredScopes: ['offline_access'], // [2]
    // PKCE undocumented [M] (Nango sends it [2]). No revocation endpoint documented [M].
    offlineHint:
      "Atlassian returned no refresh token: the offline_access scope must be granted (it was requested); check the app's permissions in the developer console.",
  },
  dropbox: {
    authorizeUrl: 'https://www.dropbox.com/oauth2/authorize', // [V]
    authorizeParams: { token_access_type: 'offline' }, // [V]
    // Revocation takes the access token as Bearer [M]: not RFC 7009, not wired.
    offlineHint: 'Dropbox returned no refresh token although token_access_type=offline was sent.',
  },
  notion: {
    authorizeUrl: 'https://api.notion.com/v1/oauth/authorize', // [V]
    authorizeParams: { owner: 'user' }, // [2]; Notion has no scopes
    // PKCE undocumented [M]; revocation only through the SDK [2] (endpoint unconfirmed): not wired.
  },
  box: {
    authorizeUrl: 'https://account.box.com/api/oauth2/authorize', // [V]
    revocationUrl: 'https://api.box.com/oauth2/revoke', // [V] client_id, client_secret, token
  },
  docusign: {
    authorizeUrl: 'https://account.docusign.com/oauth/auth', // [V] developer accounts: account-d
    // extended gives the refresh token its extended lifetime [V].
    scopes: ['signature', 'extended'],
    requiredScopes: ['extended'],
  },
  asana: {
    authorizeUrl: 'https://app.asana.com/-/oauth_authorize', // [V]
    scopes: ['default'], // [2]
    revocationUrl: 'https://app.asana.com/-/oauth_revoke', // [V]
  },
  'github-app': {
    authorizeUrl: 'https://github.com/login/oauth/authorize', // [V]; no scopes for GitHub Apps [2]
    invalidCodeErrors: ['bad_verification_code', 'invalid_grant'], // [2]
    // Revocation is DELETE /applications/{client_id}/token [V]: not RFC 7009, not wired.
    offlineHint:
      'GitHub returned a token without a refresh token: turn on "Expire user authorization tokens" in the GitHub App\'s settings.',
  },
  shopify: {
    authorizeUrl: 'https://{shop}.myshopify.com/admin/oauth/authorize', // [2]
    scopeSeparator: ',', // [2]
    pkce: 'none', // [M]
    // Expiring offline tokens need expiring=1 on the exchange [2]: set extraParams in PROVIDERS_FILE if
    // your app needs it (it is also sent on refreshes). Only uninstall revokes [M].
    offlineHint:
      'Shopify returned a non-expiring or non-refreshable token: request expiring offline tokens (expiring=1 on the exchange).',
  },
  zendesk: {
    authorizeUrl: 'https://{subdomain}.zendesk.com/oauth/authorizations/new', // [2]
  },
  linear: {
    authorizeUrl: 'https://linear.app/oauth/authorize', // [V]
    scopeSeparator: ',', // [V]
    scopes: ['read'],
    revocationUrl: 'https://api.linear.app/oauth/revoke', // [M]
  },
  pipedrive: {
    authorizeUrl: 'https://oauth.pipedrive.com/oauth/authorize', // [2]
    pkce: 'none', // [2] Nango turns it off
    revocationUrl: 'https://oauth.pipedrive.com/oauth/revoke', // [2] Basic, token=
  },
};
