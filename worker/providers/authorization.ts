// The authorization side of a provider definition (hosted connect flow): validated at start like the
// rest; an error names the provider and the field. Called from resolveProvider with one line.
import type { ProviderDefinition, ProviderInput } from './types.ts';
import { ProviderConfigError as AuthorizationConfigError } from './config-error.ts';

export const AUTHORIZATION_FIELDS = [
  'authorizeUrl',
  'scopes',
  'requiredScopes',
  'scopeSeparator',
  'authorizeParams',
  'pkce',
  'revocationUrl',
  'issuer',
  'invalidCodeErrors',
  'offlineHint',
] as const;

type AuthorizationSide = Pick<ProviderDefinition, (typeof AUTHORIZATION_FIELDS)[number]>;

const SCOPE_RE = /^[\x21\x23-\x5b\x5d-\x7e]{1,256}$/; // RFC 6749 3.3 scope-token

/** A URL template ({name} / {name|default}): https unless insecure URLs are allowed (loopback tests). */
function checkUrlTemplate(provider: string, field: string, v: unknown, allowInsecure: boolean): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new AuthorizationConfigError(provider, field, 'must be a URL');
  if (/[\s\0]/.test(v))
    throw new AuthorizationConfigError(provider, field, 'must not contain spaces or control characters');
  const probe = v.replace(/\{([a-z_]+)(\|[^}]*)?\}/g, (_m, _n, d?: string) => (d ? d.slice(1) : 'x'));
  if (/[{}]/.test(probe))
    throw new AuthorizationConfigError(
      provider,
      field,
      'has an unbalanced {placeholder}; placeholders are lower-case names like {subdomain}',
    );
  let u: URL;
  try {
    u = new URL(probe.startsWith('x') ? `https://${probe}` : probe);
  } catch {
    throw new AuthorizationConfigError(provider, field, 'is not a valid URL template');
  }
  if (u.protocol !== 'https:' && !(allowInsecure && u.protocol === 'http:')) {
    throw new AuthorizationConfigError(
      provider,
      field,
      'must be https (set ALLOW_INSECURE_TOKEN_URLS=true only for loopback tests)',
    );
  }
  if (u.username || u.password) throw new AuthorizationConfigError(provider, field, 'must not carry user info');
  return v;
}

function scopeList(provider: string, field: string, v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new AuthorizationConfigError(provider, field, 'must be an array of scope strings');
  v.forEach((s, i) => {
    if (typeof s !== 'string' || !SCOPE_RE.test(s))
      throw new AuthorizationConfigError(
        provider,
        `${field}[${i}]`,
        'must be a scope token (no spaces, quotes or backslashes)',
      );
  });
  return v as string[];
}

function plainStrings(provider: string, field: string, v: unknown): Record<string, string> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new AuthorizationConfigError(provider, field, 'must be an object of strings');
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string' || /[\r\n\0]/.test(x))
      throw new AuthorizationConfigError(provider, `${field}.${k}`, 'must be a string without line breaks');
  }
  return v as Record<string, string>;
}

// Parameters the flow itself sets: a definition must not override them.
const RESERVED = ['response_type', 'client_id', 'redirect_uri', 'state', 'code_challenge', 'code_challenge_method'];

export function resolveAuthorization(
  key: string,
  input: ProviderInput,
  opts: { allowInsecure: boolean },
): AuthorizationSide {
  const authorizeParams = plainStrings(key, 'authorizeParams', input.authorizeParams);
  for (const r of RESERVED)
    if (r in authorizeParams)
      throw new AuthorizationConfigError(key, `authorizeParams.${r}`, 'is set by the connect flow itself');
  const sep = input.scopeSeparator ?? ' ';
  if (typeof sep !== 'string' || sep.length !== 1 || !/[ ,+]/.test(sep))
    throw new AuthorizationConfigError(key, 'scopeSeparator', 'must be " ", "," or "+"');
  const pkce = input.pkce ?? 'S256';
  if (pkce !== 'S256' && pkce !== 'none') throw new AuthorizationConfigError(key, 'pkce', 'must be S256 or none');
  const issuer = input.issuer;
  if (issuer !== undefined && (typeof issuer !== 'string' || issuer === '' || /[\s\0]/.test(issuer)))
    throw new AuthorizationConfigError(key, 'issuer', 'must be the issuer identifier (a URL)');
  if (input.offlineHint !== undefined && typeof input.offlineHint !== 'string')
    throw new AuthorizationConfigError(key, 'offlineHint', 'must be a string');
  const invalidCodeErrors = input.invalidCodeErrors ?? ['invalid_grant'];
  if (!Array.isArray(invalidCodeErrors) || invalidCodeErrors.some((c) => typeof c !== 'string'))
    throw new AuthorizationConfigError(key, 'invalidCodeErrors', 'must be an array of error codes');
  return {
    authorizeUrl: checkUrlTemplate(key, 'authorizeUrl', input.authorizeUrl, opts.allowInsecure),
    scopes: scopeList(key, 'scopes', input.scopes),
    requiredScopes: scopeList(key, 'requiredScopes', input.requiredScopes),
    scopeSeparator: sep,
    authorizeParams,
    pkce,
    revocationUrl: checkUrlTemplate(key, 'revocationUrl', input.revocationUrl, opts.allowInsecure),
    issuer,
    invalidCodeErrors,
    offlineHint: input.offlineHint,
  };
}
