// Field validators for provider definitions: each returns the normalised value or throws a
// ProviderConfigError naming the provider and the field.
import { CronExpressionParser } from 'cron-parser';
import { ProviderConfigError } from './config-error.ts';
import type {
  DescriptionReason,
  ErrorSpec,
  GrantLifetime,
  MetadataRef,
  OldTokenGrace,
  OrgSpec,
  ProviderInput,
} from './types.ts';

const FIELD_NAME_RE = /^[A-Za-z0-9_.$-]{1,64}$/;
const METADATA_PATH_RE = /^[A-Za-z0-9_$-]{1,64}(\.[A-Za-z0-9_$-]{1,64}){0,7}$/;

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function oneOf<T extends string>(provider: string, field: string, v: unknown, allowed: readonly T[], def: T): T {
  if (v === undefined) return def;
  if (typeof v !== 'string' || !allowed.includes(v as T))
    throw new ProviderConfigError(provider, field, `must be one of ${allowed.join(', ')}; got ${JSON.stringify(v)}`);
  return v as T;
}

export function strList(provider: string, field: string, v: unknown, def: string[]): string[] {
  if (v === undefined) return def;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' && typeof x !== 'number'))
    throw new ProviderConfigError(provider, field, 'must be an array of strings');
  return v.map(String);
}

function optString(provider: string, field: string, v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new ProviderConfigError(provider, field, 'must be a non-empty string');
  return v;
}

export function fieldName(provider: string, field: string, v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !FIELD_NAME_RE.test(v))
    throw new ProviderConfigError(provider, field, 'must be an answer field name (letters, digits, _ . $ -)');
  return v;
}

export function num(provider: string, field: string, v: unknown, def: number | undefined, min = 0): number | undefined {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min)
    throw new ProviderConfigError(provider, field, `must be a number >= ${min}`);
  return v;
}

export function strMap(provider: string, field: string, v: unknown): Record<string, string> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new ProviderConfigError(provider, field, 'must be an object of strings');
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') throw new ProviderConfigError(provider, `${field}.${k}`, 'must be a string');
    if (/[\r\n\0]/.test(x)) throw new ProviderConfigError(provider, `${field}.${k}`, 'must not contain line breaks');
  }
  return v as Record<string, string>;
}

// RFC 9110 token characters: a header name outside them (a space, a colon, a line break) would be
// refused by the HTTP client at the first refresh, or split the request; refuse it at load instead.
const HEADER_NAME_RE = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/** `headers`: an object of strings whose names are HTTP header names. */
export function headerMap(provider: string, v: unknown): Record<string, string> {
  const headers = strMap(provider, 'headers', v);
  for (const name of Object.keys(headers))
    if (!HEADER_NAME_RE.test(name))
      throw new ProviderConfigError(provider, `headers.${name}`, 'is not a valid HTTP header name');
  return headers;
}

export function normalizeGrace(g: ProviderInput['oldTokenGrace'], provider: string): OldTokenGrace {
  if (g === undefined || g === 'none') return { kind: 'none' };
  if (g === 'until_used') return { kind: 'until_used' };
  if (g === 'not_revoked') return { kind: 'not_revoked' };
  if (typeof g === 'number') {
    if (!Number.isFinite(g) || g < 0)
      throw new ProviderConfigError(
        provider,
        'oldTokenGrace',
        'must be none, until_used, not_revoked or a number of seconds >= 0',
      );
    return { kind: 'seconds', seconds: g };
  }
  if (typeof g === 'object' && g && 'kind' in g) {
    if (g.kind === 'seconds') {
      if (typeof g.seconds !== 'number' || !Number.isFinite(g.seconds) || g.seconds < 0)
        throw new ProviderConfigError(provider, 'oldTokenGrace.seconds', 'must be a number of seconds >= 0');
      return { kind: 'seconds', seconds: g.seconds };
    }
    if (g.kind === 'none' || g.kind === 'until_used' || g.kind === 'not_revoked') return { kind: g.kind };
    throw new ProviderConfigError(provider, 'oldTokenGrace.kind', 'must be none, seconds, until_used or not_revoked');
  }
  throw new ProviderConfigError(
    provider,
    'oldTokenGrace',
    'must be none, until_used, not_revoked or a number of seconds',
  );
}

export function bodyPredicates(provider: string, v: unknown): ErrorSpec['bodyErrorWhen'] {
  if (v === undefined) return undefined;
  const field = 'errors.bodyErrorWhen';
  if (!Array.isArray(v))
    throw new ProviderConfigError(provider, field, 'must be an array of {field, equals} or {field, present}');
  return v.map((p, i) => {
    if (!isPlainObject(p) || typeof p.field !== 'string' || p.field === '')
      throw new ProviderConfigError(provider, `${field}[${i}].field`, 'is required (the answer field to test)');
    const hasEquals = 'equals' in p;
    const hasPresent = 'present' in p;
    if (hasEquals === hasPresent)
      throw new ProviderConfigError(provider, `${field}[${i}]`, 'needs exactly one of equals or present');
    if (hasPresent && typeof p.present !== 'boolean')
      throw new ProviderConfigError(provider, `${field}[${i}].present`, 'must be true or false');
    if (hasEquals && p.equals !== null && !['string', 'number', 'boolean'].includes(typeof p.equals))
      throw new ProviderConfigError(provider, `${field}[${i}].equals`, 'must be a string, number, boolean or null');
    return hasPresent
      ? { field: p.field, present: p.present as boolean }
      : { field: p.field, equals: p.equals as string | number | boolean | null };
  });
}

export function cronOf(provider: string, v: unknown): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string')
    throw new ProviderConfigError(provider, 'expiry.cron', 'must be a cron string such as "0 3 * * *"');
  const fields = v.trim().split(/\s+/).length;
  if (fields < 5 || fields > 6)
    throw new ProviderConfigError(provider, 'expiry.cron', `must have 5 or 6 fields; got ${JSON.stringify(v)}`);
  try {
    CronExpressionParser.parse(v, { tz: 'UTC' }).next();
  } catch (e) {
    throw new ProviderConfigError(
      provider,
      'expiry.cron',
      `is not a valid cron pattern (${JSON.stringify(v)}): ${(e as Error).message}`,
    );
  }
  return v;
}

/** A regex source with at least one capture group (its first group is the value taken). */
export function patternWithGroup(provider: string, field: string, v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '')
    throw new ProviderConfigError(provider, field, 'must be a regular expression (a string)');
  let re: RegExp;
  try {
    re = new RegExp(v);
  } catch (e) {
    throw new ProviderConfigError(provider, field, `is not a valid regular expression: ${(e as Error).message}`);
  }
  // An alternation with the empty string always matches, so the match reports every group.
  const groups = new RegExp(`${re.source}|`).exec('')!.length - 1;
  if (groups < 1) throw new ProviderConfigError(provider, field, 'needs a capture group (the part taken as the value)');
  return v;
}

export function metadataRefs(provider: string, field: string, v: unknown, def: MetadataRef[]): MetadataRef[] {
  if (v === undefined) return def;
  if (!Array.isArray(v))
    throw new ProviderConfigError(
      provider,
      field,
      'must be an array of metadata paths ("team.id") or {path, pattern, host}',
    );
  return v.map((r: unknown, i) => {
    const at = `${field}[${i}]`;
    const ref = typeof r === 'string' ? { path: r } : r;
    if (!isPlainObject(ref) || typeof ref.path !== 'string' || !METADATA_PATH_RE.test(ref.path))
      throw new ProviderConfigError(provider, `${at}.path`, 'must be a dotted metadata path such as "team.id"');
    for (const k of Object.keys(ref))
      if (!['path', 'pattern', 'host'].includes(k))
        throw new ProviderConfigError(provider, `${at}.${k}`, 'unknown field (known: path, pattern, host)');
    if (ref.host !== undefined && typeof ref.host !== 'boolean')
      throw new ProviderConfigError(provider, `${at}.host`, 'must be true or false');
    const pattern = patternWithGroup(provider, `${at}.pattern`, ref.pattern);
    return { path: ref.path, ...(pattern ? { pattern } : {}), ...(ref.host ? { host: true } : {}) };
  });
}

const ORG_FIELDS = ['keys', 'name', 'label', 'together', 'hint', 'advice'];

export function orgSpec(provider: string, v: unknown): OrgSpec | undefined {
  if (v === undefined) return undefined;
  if (!isPlainObject(v)) throw new ProviderConfigError(provider, 'org', 'must be an object');
  for (const k of Object.keys(v))
    if (!ORG_FIELDS.includes(k))
      throw new ProviderConfigError(provider, `org.${k}`, `unknown field (known: ${ORG_FIELDS.join(', ')})`);
  const keys = metadataRefs(provider, 'org.keys', v.keys, []);
  if (keys.length === 0)
    throw new ProviderConfigError(provider, 'org.keys', 'needs at least one metadata path naming the org');
  const name = optString(provider, 'org.name', v.name);
  if (!name)
    throw new ProviderConfigError(
      provider,
      'org.name',
      'is required (how messages name the group, e.g. "Salesforce org")',
    );
  return {
    keys,
    name,
    label: optString(provider, 'org.label', v.label),
    together: oneOf(provider, 'org.together', v.together, ['admin_policy', 'app_removed'] as const, 'app_removed'),
    hint: optString(provider, 'org.hint', v.hint),
    advice: optString(provider, 'org.advice', v.advice),
  };
}

export function grantLifetimes(provider: string, v: unknown): GrantLifetime[] {
  if (v === undefined) return [];
  const field = 'fixedGrantLifetimes';
  if (!Array.isArray(v)) throw new ProviderConfigError(provider, field, 'must be an array of {afterSec, cause}');
  return v.map((g, i) => {
    if (!isPlainObject(g)) throw new ProviderConfigError(provider, `${field}[${i}]`, 'must be {afterSec, cause}');
    const cause = optString(provider, `${field}[${i}].cause`, g.cause);
    if (!cause) throw new ProviderConfigError(provider, `${field}[${i}].cause`, 'is required');
    return { afterSec: num(provider, `${field}[${i}].afterSec`, g.afterSec ?? null, undefined, 1)!, cause };
  });
}

export function descriptionReasons(provider: string, v: unknown): DescriptionReason[] {
  if (v === undefined) return [];
  const field = 'errors.descriptionReasons';
  if (!Array.isArray(v)) throw new ProviderConfigError(provider, field, 'must be an array of {contains, reason}');
  return v.map((r, i) => {
    if (!isPlainObject(r)) throw new ProviderConfigError(provider, `${field}[${i}]`, 'must be {contains, reason}');
    const contains = optString(provider, `${field}[${i}].contains`, r.contains);
    if (!contains) throw new ProviderConfigError(provider, `${field}[${i}].contains`, 'is required');
    const reason = oneOf(
      provider,
      `${field}[${i}].reason`,
      r.reason ?? null,
      ['revoked', 'expired', 'authentication_failure'] as const,
      'revoked',
    );
    return { contains, reason };
  });
}
