// Builds the provider's authorization URL (RFC 6749 4.1.1 + RFC 7636). Pure.
import { fillTokenUrl } from '../providers/registry.ts';
import type { ProviderDefinition } from '../providers/types.ts';

// Scopes that decide whether a refresh token comes back at all (OIDC offline_access, ...): kept even
// when the app's session names its own scopes.
const OFFLINE_SCOPES = new Set(['offline_access', 'offline', 'refresh_token']);

type AuthorizeDef = Pick<
  ProviderDefinition,
  'authorizeUrl' | 'clientId' | 'scopes' | 'requiredScopes' | 'scopeSeparator' | 'authorizeParams' | 'pkce'
>;

/** The provider's required scopes, then the session's scopes (or the provider's defaults); no repeats. */
export function requestedScopes(def: AuthorizeDef, sessionScopes: readonly string[] | undefined): string[] {
  const defaults = def.scopes ?? [];
  const always = [...(def.requiredScopes ?? []), ...defaults.filter((s) => OFFLINE_SCOPES.has(s))];
  const chosen = sessionScopes && sessionScopes.length > 0 ? sessionScopes : defaults;
  return [...new Set([...always, ...chosen])];
}

export type AuthorizeUrl = { ok: true; url: string } | { ok: false; field: 'metadata' | 'provider'; message: string };

export function buildAuthorizeUrl(
  def: AuthorizeDef,
  a: {
    redirectUri: string;
    state: string;
    codeChallenge?: string;
    scopes: readonly string[] | undefined;
    metadata: Record<string, unknown>;
  },
): AuthorizeUrl {
  if (!def.authorizeUrl)
    return { ok: false, field: 'provider', message: 'has no authorizeUrl (the connect flow needs one)' };
  const filled = fillTokenUrl(def.authorizeUrl, a.metadata);
  if (!filled.ok)
    return {
      ok: false,
      field: 'metadata',
      message: `the authorize URL needs metadata "${filled.missing}" (a host-safe value)`,
    };
  const u = new URL(filled.url);
  for (const [k, v] of Object.entries(def.authorizeParams ?? {})) u.searchParams.set(k, v);
  u.searchParams.set('response_type', 'code');
  u.searchParams.set('client_id', def.clientId);
  u.searchParams.set('redirect_uri', a.redirectUri);
  u.searchParams.set('state', a.state);
  const scopes = requestedScopes(def, a.scopes);
  if (scopes.length > 0) u.searchParams.set('scope', scopes.join(def.scopeSeparator ?? ' '));
  if ((def.pkce ?? 'S256') === 'S256') {
    if (!a.codeChallenge) return { ok: false, field: 'provider', message: 'PKCE S256 needs a code challenge' };
    u.searchParams.set('code_challenge', a.codeChallenge);
    u.searchParams.set('code_challenge_method', 'S256');
  }
  return { ok: true, url: u.toString() };
}
