// Reads a token endpoint's answer: parse, then classify. Pure: the clock is passed in.
// Safety rule: only a known dead-grant answer is terminal; anything we cannot read is transient.
import type { ProviderDefinition } from '../providers/types.ts';
import { scrubSecrets } from '../log/scrub.ts';

/** What the HTTP adapter saw. */
export type HttpAnswer =
  | { kind: 'response'; status: number; headers: Record<string, string>; bodyText: string }
  /** sent: whether the request may have reached the provider (a timeout after sending is uncertain). */
  | { kind: 'network'; code: string; message: string; sent: boolean };

export interface ParsedTokens {
  accessToken: string;
  refreshToken?: string;
  tokenType?: string;
  scope?: string;
  expiresAt: Date | null;
  refreshExpiresAt?: Date;
  metadata: Record<string, unknown>;
}

export type ReauthReason =
  | 'revoked'
  | 'expired'
  | 'authentication_failure'
  | 'interaction_required'
  | 'rotation_lost_in_crash'
  | 'rotation_lost_in_flight'
  | 'rotation_lost_commit_failed'
  /** A whole-fleet pause: another refresh presented the previous token while a rotated one waited to commit. */
  | 'rotation_lost_in_pause';

export type Classified =
  | { kind: 'tokens'; tokens: ParsedTokens; httpStatus: number }
  | { kind: 'terminal'; code: string; description: string; reason: ReauthReason; httpStatus?: number }
  | { kind: 'credentials'; code: string; description: string; httpStatus?: number }
  | {
      kind: 'transient';
      code: string;
      description: string;
      httpStatus?: number;
      retryAfterMs?: number;
      /** The provider may have rotated the token even though we did not get it (timeout after send). */
      uncertain: boolean;
    };

const MAX_DESC = 300;

export function parseBody(
  text: string,
  contentType: string | undefined,
  format: ProviderDefinition['responseFormat'],
): Record<string, unknown> | null {
  const t = text.trim();
  const looksJson = t.startsWith('{');
  const isForm = format === 'form' || (format === 'auto' && !looksJson && /(^|&)[a-z_]+=/.test(t) && !/[<>\s]/.test(t));
  if (format === 'json' || (format === 'auto' && (looksJson || /json/i.test(contentType ?? '')))) {
    try {
      const v = JSON.parse(t) as unknown;
      return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  }
  if (isForm) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of new URLSearchParams(t)) out[k] = v;
    return Object.keys(out).length > 0 ? out : null;
  }
  return null;
}

export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Math.min(Number(value.trim()) * 1000, 24 * 3600_000);
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, at - nowMs) : undefined;
}

function pick(body: Record<string, unknown>, fields: string[]): string | undefined {
  for (const f of fields) {
    const v = body[f];
    if (typeof v === 'string' && v !== '') return v;
    if (typeof v === 'number') return String(v);
  }
  return undefined;
}

function bodySaysError(def: ProviderDefinition, body: Record<string, unknown>): boolean {
  return (def.errors.bodyErrorWhen ?? []).some((p) => {
    if (p.present !== undefined)
      return (body[p.field] !== undefined && body[p.field] !== null && body[p.field] !== '') === p.present;
    return body[p.field] === p.equals;
  });
}

function toNumber(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^\d+(\.\d+)?$/.test(v.trim())) return Number(v);
  return undefined;
}

function parseTokens(
  def: ProviderDefinition,
  rawBody: Record<string, unknown>,
  nowMs: number,
): ParsedTokens | { missing: string } {
  const body = def.hooks?.normalizeAnswer ? def.hooks.normalizeAnswer(rawBody) : rawBody;
  const accessToken = body.access_token;
  if (typeof accessToken !== 'string' || accessToken === '') return { missing: 'access_token' };
  const refreshToken =
    typeof body.refresh_token === 'string' && body.refresh_token !== '' ? body.refresh_token : undefined;
  let expiresAt: Date | null = null;
  const e = def.expiry;
  if (e.source === 'expires_in' || e.source === 'expires_in_ms') {
    const n = toNumber(body[e.field ?? 'expires_in']);
    if (n !== undefined && n > 0) expiresAt = new Date(nowMs + (e.source === 'expires_in_ms' ? n : n * 1000));
  } else if (e.source === 'expires_at') {
    const raw = body[e.field ?? 'expires_at'];
    const n = toNumber(raw);
    if (n !== undefined) expiresAt = new Date(n > 1e12 ? n : n * 1000);
    else if (typeof raw === 'string' && Number.isFinite(Date.parse(raw))) expiresAt = new Date(Date.parse(raw));
  }
  if (!expiresAt && e.defaultLifetimeSec) expiresAt = new Date(nowMs + e.defaultLifetimeSec * 1000);
  let refreshExpiresAt: Date | undefined;
  if (def.refreshExpiresInField) {
    const n = toNumber(body[def.refreshExpiresInField]);
    if (n !== undefined && n > 0) refreshExpiresAt = new Date(nowMs + n * 1000);
  }
  const metadata: Record<string, unknown> = {};
  for (const f of def.metadataFields) if (body[f] !== undefined) metadata[f] = body[f];
  return {
    accessToken,
    refreshToken,
    tokenType: typeof body.token_type === 'string' ? body.token_type : undefined,
    scope: typeof body.scope === 'string' ? body.scope : Array.isArray(body.scope) ? body.scope.join(' ') : undefined,
    expiresAt,
    refreshExpiresAt,
    metadata,
  };
}

/** Sub-codes from a list field of the answer (Microsoft error_codes: [700082]). */
function numericCodes(def: ProviderDefinition, body: Record<string, unknown>): string[] {
  const list = def.errors.numericCodesField ? body[def.errors.numericCodesField] : undefined;
  return Array.isArray(list) ? list.map(String) : [];
}

/** Codes that only appear inside the description, by the provider's pattern (Microsoft's AADSTS text). */
function codesInDescription(def: ProviderDefinition, description: string): string[] {
  const pattern = def.errors.descriptionCodePattern;
  if (!pattern) return [];
  return [...description.matchAll(new RegExp(pattern, 'g'))].map((m) => m[1]).filter((c): c is string => Boolean(c));
}

/** Why a grant is dead: the provider's own wording first, else what the description says. */
function deadGrantReason(def: ProviderDefinition, descLower: string): ReauthReason {
  const named = def.errors.descriptionReasons.find((r) => descLower.includes(r.contains.toLowerCase()));
  if (named) return named.reason;
  // "expired or revoked" is ambiguous: only a description that speaks of expiry alone says expired.
  return /expired|inactiv/.test(descLower) && !/revoked/.test(descLower) ? 'expired' : 'revoked';
}

function classifyError(
  def: ProviderDefinition,
  body: Record<string, unknown>,
  status: number,
  retryAfterMs: number | undefined,
): Classified {
  const code = pick(body, def.errors.codeFields) ?? (status >= 400 ? `http_${status}` : 'unknown_error');
  const description = scrubSecrets(pick(body, def.errors.descriptionFields) ?? '').slice(0, MAX_DESC);
  const codes = [code, ...numericCodes(def, body), ...codesInDescription(def, description)];
  const has = (list: string[]) => codes.some((c) => list.includes(c));
  const httpStatus = status;
  if (has(def.errors.credential)) return { kind: 'credentials', code, description, httpStatus };
  if (has(def.errors.transient) || status === 429 || status >= 500)
    return { kind: 'transient', code, description, httpStatus, retryAfterMs, uncertain: false };
  if (has(def.errors.interactionRequired))
    return { kind: 'terminal', code, description, reason: 'interaction_required', httpStatus };
  const descLower = description.toLowerCase();
  const descHit = def.errors.terminalDescriptions.some((d) => descLower.includes(d.toLowerCase()));
  if (has(def.errors.terminal) || descHit) {
    return { kind: 'terminal', code, description, reason: deadGrantReason(def, descLower), httpStatus };
  }
  // 401 with no recognised code: the client was not authenticated, an operator problem.
  if (status === 401 && !pick(body, def.errors.codeFields))
    return { kind: 'credentials', code, description, httpStatus };
  // Unknown error: never terminal. Retried with backoff and visible in the attempt history.
  return { kind: 'transient', code, description, httpStatus, retryAfterMs, uncertain: false };
}

export function classifyAnswer(def: ProviderDefinition, answer: HttpAnswer, nowMs: number): Classified {
  if (answer.kind === 'network') {
    return {
      kind: 'transient',
      code: answer.code,
      description: scrubSecrets(answer.message).slice(0, MAX_DESC),
      uncertain: answer.sent,
    };
  }
  const { status, headers } = answer;
  const retryAfterMs = parseRetryAfter(headers['retry-after'], nowMs);
  const body = parseBody(answer.bodyText, headers['content-type'], def.responseFormat);
  if (status === 429)
    return {
      kind: 'transient',
      code: body ? (pick(body, def.errors.codeFields) ?? 'rate_limited') : 'rate_limited',
      description: 'rate limited by provider',
      httpStatus: status,
      retryAfterMs,
      uncertain: false,
    };
  if (status >= 500) {
    const code = body ? (pick(body, def.errors.codeFields) ?? `http_${status}`) : `http_${status}`;
    return {
      kind: 'transient',
      code,
      description: `provider answered ${status}`,
      httpStatus: status,
      retryAfterMs,
      uncertain: false,
    };
  }
  if (!body) {
    const html = /<\s*(html|!doctype)/i.test(answer.bodyText);
    return {
      kind: 'transient',
      code: html ? 'html_answer' : 'unparseable_answer',
      description: `provider answered ${status} with ${html ? 'an HTML page' : 'a body we cannot parse'}`,
      httpStatus: status,
      retryAfterMs,
      uncertain: status >= 200 && status < 300,
    };
  }
  if (status >= 300 || bodySaysError(def, body)) return classifyError(def, body, status, retryAfterMs);
  const tokens = parseTokens(def, body, nowMs);
  if ('missing' in tokens) {
    // A 200 without a usable token set: the provider may or may not have rotated.
    return {
      kind: 'transient',
      code: `missing_${tokens.missing}`,
      description: `answer has no ${tokens.missing}`,
      httpStatus: status,
      uncertain: true,
    };
  }
  if (def.rotation === 'always' && !tokens.refreshToken) {
    return {
      kind: 'transient',
      code: 'missing_refresh_token',
      description: 'rotating provider answered without a refresh_token',
      httpStatus: status,
      uncertain: true,
    };
  }
  return { kind: 'tokens', tokens, httpStatus: status };
}
