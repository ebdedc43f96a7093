// Input validation for the API and the connect flow. Pure: every rejection names the field; nothing
// is written on a rejection. The API's shapes (types, required fields, lengths, patterns) are its
// route schemas (api/schemas.ts, checked by Fastify first); what is here is what JSON Schema cannot
// say: text PostgreSQL cannot store, JSON depth and size, date ranges, known providers. Token sets
// are checked in full here too, because a provider's own answer (the connect flow, linked token
// sets) reaches the store without passing a route schema.
import type { TokenSetInput } from '../interfaces.ts';
import type { ConnectionPageQuery } from '../store/connection-queries.ts';

export type Valid<T> = { ok: true; value: T } | { ok: false; field: string; message: string };

export const LIMITS = {
  tokenChars: 8192,
  externalIdChars: 255,
  scopeChars: 4096,
  metadataBytes: 16 * 1024,
  tokenTypeChars: 64,
};

export interface CreateConnectionInput {
  provider: string;
  externalId: string;
  tokens: TokenSetInput;
  metadata: Record<string, unknown>;
}

function fail(field: string, message: string): { ok: false; field: string; message: string } {
  return { ok: false, field, message };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// PostgreSQL text and jsonb reject NUL, and jsonb rejects unpaired UTF-16 surrogates: refuse them
// here (a 400 naming the field) instead of failing on insert.
const UNSTORABLE_RE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const MAX_JSON_DEPTH = 20;

/** The path of the first value that PostgreSQL cannot store (NUL, lone surrogate) or that nests too deep; null if fine. */
export function unstorablePath(v: unknown, path: string, depth = 0): string | null {
  if (typeof v === 'string') return UNSTORABLE_RE.test(v) ? path : null;
  if (typeof v !== 'object' || v === null) return null;
  if (depth >= MAX_JSON_DEPTH) return path;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = unstorablePath(v[i], `${path}[${i}]`, depth + 1);
      if (p) return p;
    }
    return null;
  }
  for (const [k, x] of Object.entries(v)) {
    if (UNSTORABLE_RE.test(k)) return path;
    const p = unstorablePath(x, `${path}.${k.slice(0, 64)}`, depth + 1);
    if (p) return p;
  }
  return null;
}

/** Latest accepted expiry: far beyond any real token, well inside PostgreSQL's and JS's date range. */
const MAX_DATE_MS = Date.UTC(9999, 11, 31);

function tokenString(v: unknown, field: string, required: boolean): Valid<string | undefined> {
  if (v === undefined || v === null) return required ? fail(field, 'is required') : { ok: true, value: undefined };
  if (typeof v !== 'string' || v.length === 0) return fail(field, 'must be a non-empty string');
  if (v.length > LIMITS.tokenChars) return fail(field, `must be at most ${LIMITS.tokenChars} characters`);
  if (/[\u0000-\u001f\u007f]/.test(v)) return fail(field, 'must not contain control characters');
  return { ok: true, value: v };
}

export function validateTokens(v: unknown, prefix = 'tokens'): Valid<TokenSetInput> {
  if (!isObject(v)) return fail(prefix, 'must be an object with access_token and refresh_token');
  const unstorable = unstorablePath(v, prefix);
  if (unstorable)
    return fail(unstorable, 'must not contain NUL characters, unpaired surrogates or nest deeper than 20 levels');
  const at = tokenString(v.access_token, `${prefix}.access_token`, true);
  if (!at.ok) return at;
  const rt = tokenString(v.refresh_token, `${prefix}.refresh_token`, true);
  if (!rt.ok) return rt;
  let expiresInSec: number | undefined;
  if (v.expires_in !== undefined && v.expires_in !== null) {
    const n = typeof v.expires_in === 'string' && /^\d+$/.test(v.expires_in) ? Number(v.expires_in) : v.expires_in;
    if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0 || n > 10 * 365 * 86400)
      return fail(`${prefix}.expires_in`, 'must be a positive number of seconds (at most 10 years)');
    expiresInSec = n;
  }
  let expiresAt: Date | undefined;
  if (v.expires_at !== undefined && v.expires_at !== null) {
    const raw = v.expires_at;
    const ms =
      typeof raw === 'number' ? (raw > 1e12 ? raw : raw * 1000) : typeof raw === 'string' ? Date.parse(raw) : NaN;
    if (!Number.isFinite(ms) || ms <= 0 || ms > MAX_DATE_MS)
      return fail(`${prefix}.expires_at`, 'must be an ISO date or epoch seconds (after 1970, before year 10000)');
    expiresAt = new Date(ms);
  }
  for (const f of ['token_type', 'scope'] as const) {
    const x = v[f];
    if (x !== undefined && x !== null && typeof x !== 'string') return fail(`${prefix}.${f}`, 'must be a string');
    if (typeof x === 'string' && /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(x))
      return fail(`${prefix}.${f}`, 'must not contain control characters');
  }
  if (typeof v.token_type === 'string' && v.token_type.length > LIMITS.tokenTypeChars)
    return fail(`${prefix}.token_type`, `must be at most ${LIMITS.tokenTypeChars} characters`);
  if (typeof v.scope === 'string' && v.scope.length > LIMITS.scopeChars)
    return fail(`${prefix}.scope`, `must be at most ${LIMITS.scopeChars} characters`);
  return {
    ok: true,
    value: {
      accessToken: at.value!,
      refreshToken: rt.value!,
      expiresInSec,
      expiresAt,
      tokenType: typeof v.token_type === 'string' ? v.token_type : undefined,
      scope: typeof v.scope === 'string' ? v.scope : undefined,
      raw: v,
    },
  };
}

export function validateMetadata(v: unknown): Valid<Record<string, unknown>> {
  if (v === undefined || v === null) return { ok: true, value: {} };
  if (!isObject(v)) return fail('metadata', 'must be an object');
  const unstorable = unstorablePath(v, 'metadata');
  if (unstorable)
    return fail(unstorable, 'must not contain NUL characters, unpaired surrogates or nest deeper than 20 levels');
  if (Buffer.byteLength(JSON.stringify(v)) > LIMITS.metadataBytes)
    return fail('metadata', `must be at most ${LIMITS.metadataBytes} bytes as JSON`);
  return { ok: true, value: v };
}

/** The body of POST /v1/connections as its route schema lets it through. */
export interface CreateConnectionBody {
  provider: string;
  externalId: string;
  tokens: unknown;
  metadata?: unknown;
}

export function validateCreate(
  body: CreateConnectionBody,
  providerExists: (key: string) => boolean,
): Valid<CreateConnectionInput> {
  if (!providerExists(body.provider)) return fail('provider', `unknown provider "${body.provider.slice(0, 64)}"`);
  if (unstorablePath(body.externalId, 'externalId'))
    return fail('externalId', 'must be valid Unicode text (no unpaired surrogates)');
  const tokens = validateTokens(body.tokens);
  if (!tokens.ok) return tokens;
  const md = validateMetadata(body.metadata);
  if (!md.ok) return md;
  return {
    ok: true,
    value: { provider: body.provider, externalId: body.externalId, tokens: tokens.value, metadata: md.value },
  };
}

export function parseMinValidSeconds(raw: unknown): Valid<number> {
  if (raw === undefined) return { ok: true, value: 60 };
  if (typeof raw !== 'string' || !/^\d{1,7}$/.test(raw))
    return fail('min_valid_seconds', 'must be a whole number of seconds (0 to 9999999)');
  return { ok: true, value: Number(raw) };
}

/** The query of GET /v1/connections as its route schema lets it through (limit is 1 to 1000 in digits). */
export interface ConnectionPageParams {
  status?: 'active' | 'needs_reauth';
  provider?: string;
  externalId?: string;
  limit?: string;
  after?: string;
}

/** The page query, once the provider is known. */
export function parseConnectionPage(
  q: ConnectionPageParams,
  providerExists: (key: string) => boolean,
): Valid<ConnectionPageQuery> {
  const { externalId, status, provider, after } = q;
  if (provider !== undefined && !providerExists(provider)) return fail('provider', 'unknown provider');
  return { ok: true, value: { status, provider, externalId, after, limit: Number(q.limit ?? '100') } };
}

/** The body of PUT /v1/connections/:id/tokens: the token body itself, or { tokens, metadata }. */
export function validateReplaceTokens(
  body: unknown,
): Valid<{ tokens: TokenSetInput; metadata: Record<string, unknown> }> {
  const wrapped = isObject(body) && 'tokens' in body ? body : undefined;
  const t = validateTokens(wrapped ? wrapped.tokens : body, wrapped ? 'tokens' : 'body');
  if (!t.ok) return t;
  const md = validateMetadata(wrapped?.metadata);
  if (!md.ok) return md;
  return { ok: true, value: { tokens: t.value, metadata: md.value } };
}
