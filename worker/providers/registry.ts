// Loads provider definitions: built-ins, then PROVIDERS_FILE on top (adds providers or overrides
// any field of a built-in). Validated at start; an error names the provider and the field.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { BUILTIN_PROVIDERS } from './builtin.ts';
import { AUTHORIZATION_FIELDS, resolveAuthorization } from './authorization.ts';
import { DEFAULT_ERRORS, DEFAULTS } from './defaults.ts';
import { CronExpressionParser } from 'cron-parser';
import type { ErrorSpec, ExpirySpec, OldTokenGrace, ProviderDefinition, ProviderInput } from './types.ts';

export class ProviderConfigError extends Error {
  constructor(public readonly provider: string, public readonly field: string, message: string) {
    super(`provider "${provider}", field "${field}": ${message}`);
    this.name = 'ProviderConfigError';
  }
}

export interface ResolvedProvider extends ProviderDefinition {
  /** False when client id or secret is missing: refreshes report misconfigured until it is set. */
  configured: boolean;
  /** Keyed hash of client id + secret: a change closes the credential breaker. */
  credentialsFingerprint: string;
}

type Env = Record<string, string | undefined>;

const KEY_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

function envName(key: string, suffix: string): string {
  return `${key.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_${suffix}`;
}

/** Fills ${VAR} from the environment; a missing variable is a config error naming it. */
function substituteEnv(value: string, env: Env, provider: string, field: string, optional: boolean): string | undefined {
  let missing: string | undefined;
  const out = value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
    const fileVar = env[`${name}_FILE`];
    if (fileVar) {
      try {
        return readFileSync(fileVar, 'utf8').trim();
      } catch {
        throw new ProviderConfigError(provider, field, `cannot read file named by ${name}_FILE`);
      }
    }
    const v = env[name];
    if (v === undefined || v === '') {
      missing = name;
      return '';
    }
    return v;
  });
  if (missing) {
    if (optional) return undefined;
    throw new ProviderConfigError(provider, field, `environment variable ${missing} is not set`);
  }
  return out;
}

function normalizeGrace(g: ProviderInput['oldTokenGrace'], provider: string): OldTokenGrace {
  if (g === undefined || g === 'none') return { kind: 'none' };
  if (g === 'until_used') return { kind: 'until_used' };
  if (g === 'not_revoked') return { kind: 'not_revoked' };
  if (typeof g === 'number') {
    if (!Number.isFinite(g) || g < 0) throw new ProviderConfigError(provider, 'oldTokenGrace', 'must be none, until_used, not_revoked or a number of seconds >= 0');
    return { kind: 'seconds', seconds: g };
  }
  if (typeof g === 'object' && g && 'kind' in g) {
    if (g.kind === 'seconds') {
      if (typeof g.seconds !== 'number' || !Number.isFinite(g.seconds) || g.seconds < 0) throw new ProviderConfigError(provider, 'oldTokenGrace.seconds', 'must be a number of seconds >= 0');
      return { kind: 'seconds', seconds: g.seconds };
    }
    if (g.kind === 'none' || g.kind === 'until_used' || g.kind === 'not_revoked') return { kind: g.kind };
    throw new ProviderConfigError(provider, 'oldTokenGrace.kind', 'must be none, seconds, until_used or not_revoked');
  }
  throw new ProviderConfigError(provider, 'oldTokenGrace', 'must be none, until_used, not_revoked or a number of seconds');
}

function mergeInput(base: ProviderInput | undefined, over: ProviderInput): ProviderInput {
  if (!base) return over;
  const { extends: _ignored, ...baseRest } = base;
  return {
    ...baseRest,
    ...over,
    errors: { ...base.errors, ...over.errors },
    expiry: { ...base.expiry, ...over.expiry },
    extraParams: { ...base.extraParams, ...over.extraParams },
    headers: { ...base.headers, ...over.headers },
    hooks: { ...base.hooks, ...over.hooks },
  };
}

const INPUT_FIELDS = new Set([
  'displayName', 'tokenUrl', 'clientAuth', 'clientId', 'clientSecret', 'paramsIn', 'extraParams', 'headers', 'responseFormat',
  'expiry', 'refreshExpiresInField', 'rotation', 'oldTokenGrace', 'errors', 'metadataFields', 'refreshLeadSec', 'idleLifetimeSec',
  'concurrency', 'ratePerSecond', 'notes', 'hooks', 'extends', ...AUTHORIZATION_FIELDS,
]);
const ERROR_FIELDS = new Set(['bodyErrorWhen', 'codeFields', 'descriptionFields', 'numericCodesField', 'terminal', 'terminalDescriptions', 'interactionRequired', 'credential', 'transient']);
const EXPIRY_FIELDS = new Set(['source', 'field', 'defaultLifetimeSec', 'cron']);
const HEADER_NAME_RE = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const FIELD_NAME_RE = /^[A-Za-z0-9_.$-]{1,64}$/;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Shape checks on one PROVIDERS_FILE entry (before merging): unknown or mistyped fields are named. */
export function checkFileEntry(key: string, raw: unknown): asserts raw is ProviderInput {
  if (!isPlainObject(raw)) throw new ProviderConfigError(key, '*', 'must be an object');
  for (const f of Object.keys(raw)) {
    if (!INPUT_FIELDS.has(f)) throw new ProviderConfigError(key, f, `unknown field (known: ${[...INPUT_FIELDS].filter((x) => x !== 'hooks').join(', ')})`);
  }
  if (raw.hooks !== undefined) throw new ProviderConfigError(key, 'hooks', 'hooks are code and can only be set by built-in definitions; use "extends" to reuse them');
  if (raw.extends !== undefined && typeof raw.extends !== 'string') throw new ProviderConfigError(key, 'extends', 'must be the key of a built-in or earlier provider');
  if (raw.errors !== undefined) {
    if (!isPlainObject(raw.errors)) throw new ProviderConfigError(key, 'errors', 'must be an object');
    for (const f of Object.keys(raw.errors)) if (!ERROR_FIELDS.has(f)) throw new ProviderConfigError(key, `errors.${f}`, `unknown field (known: ${[...ERROR_FIELDS].join(', ')})`);
  }
  if (raw.expiry !== undefined) {
    if (!isPlainObject(raw.expiry)) throw new ProviderConfigError(key, 'expiry', 'must be an object');
    for (const f of Object.keys(raw.expiry)) if (!EXPIRY_FIELDS.has(f)) throw new ProviderConfigError(key, `expiry.${f}`, `unknown field (known: ${[...EXPIRY_FIELDS].join(', ')})`);
  }
  for (const f of ['displayName', 'tokenUrl', 'clientId', 'clientSecret', 'notes', 'refreshExpiresInField'] as const) {
    if (raw[f] !== undefined && typeof raw[f] !== 'string') throw new ProviderConfigError(key, f, 'must be a string');
  }
}

function oneOf<T extends string>(provider: string, field: string, v: unknown, allowed: readonly T[], def: T): T {
  if (v === undefined) return def;
  if (typeof v !== 'string' || !allowed.includes(v as T)) throw new ProviderConfigError(provider, field, `must be one of ${allowed.join(', ')}; got ${JSON.stringify(v)}`);
  return v as T;
}

function strList(provider: string, field: string, v: unknown, def: string[]): string[] {
  if (v === undefined) return def;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' && typeof x !== 'number')) throw new ProviderConfigError(provider, field, 'must be an array of strings');
  return v.map(String);
}

function fieldName(provider: string, field: string, v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !FIELD_NAME_RE.test(v)) throw new ProviderConfigError(provider, field, 'must be an answer field name (letters, digits, _ . $ -)');
  return v;
}

function num(provider: string, field: string, v: unknown, def: number | undefined, min = 0): number | undefined {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new ProviderConfigError(provider, field, `must be a number >= ${min}`);
  return v;
}

function strMap(provider: string, field: string, v: unknown): Record<string, string> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ProviderConfigError(provider, field, 'must be an object of strings');
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') throw new ProviderConfigError(provider, `${field}.${k}`, 'must be a string');
    if (/[\r\n\0]/.test(x)) throw new ProviderConfigError(provider, `${field}.${k}`, 'must not contain line breaks');
  }
  return v as Record<string, string>;
}

function bodyPredicates(provider: string, v: unknown): ErrorSpec['bodyErrorWhen'] {
  if (v === undefined) return undefined;
  const field = 'errors.bodyErrorWhen';
  if (!Array.isArray(v)) throw new ProviderConfigError(provider, field, 'must be an array of {field, equals} or {field, present}');
  return v.map((p, i) => {
    if (!isPlainObject(p) || typeof p.field !== 'string' || p.field === '') throw new ProviderConfigError(provider, `${field}[${i}].field`, 'is required (the answer field to test)');
    const hasEquals = 'equals' in p;
    const hasPresent = 'present' in p;
    if (hasEquals === hasPresent) throw new ProviderConfigError(provider, `${field}[${i}]`, 'needs exactly one of equals or present');
    if (hasPresent && typeof p.present !== 'boolean') throw new ProviderConfigError(provider, `${field}[${i}].present`, 'must be true or false');
    if (hasEquals && p.equals !== null && !['string', 'number', 'boolean'].includes(typeof p.equals)) throw new ProviderConfigError(provider, `${field}[${i}].equals`, 'must be a string, number, boolean or null');
    return hasPresent ? { field: p.field, present: p.present as boolean } : { field: p.field, equals: p.equals as string | number | boolean | null };
  });
}

function cronOf(provider: string, v: unknown): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new ProviderConfigError(provider, 'expiry.cron', 'must be a cron string such as "0 3 * * *"');
  const fields = v.trim().split(/\s+/).length;
  if (fields < 5 || fields > 6) throw new ProviderConfigError(provider, 'expiry.cron', `must have 5 or 6 fields; got ${JSON.stringify(v)}`);
  try {
    CronExpressionParser.parse(v, { tz: 'UTC' }).next();
  } catch (e) {
    throw new ProviderConfigError(provider, 'expiry.cron', `is not a valid cron pattern (${JSON.stringify(v)}): ${(e as Error).message}`);
  }
  return v;
}

export function resolveProvider(key: string, input: ProviderInput, env: Env, opts: { allowInsecure: boolean }): ResolvedProvider {
  if (!KEY_RE.test(key)) throw new ProviderConfigError(key, 'key', 'provider keys are lower-case letters, digits, - and _ (max 64)');
  if (typeof input.tokenUrl !== 'string' || input.tokenUrl === '') throw new ProviderConfigError(key, 'tokenUrl', 'is required');
  const tokenUrl = substituteEnv(input.tokenUrl, env, key, 'tokenUrl', false)!;
  // Validate the template with placeholders filled by a harmless value.
  const probe = tokenUrl.replace(/\{([a-z_]+)(\|[^}]*)?\}/g, (_m, _n, d?: string) => (d ? d.slice(1) : 'x'));
  let probeUrl: URL;
  try {
    probeUrl = new URL(probe.startsWith('x') ? `https://${probe}` : probe);
  } catch {
    throw new ProviderConfigError(key, 'tokenUrl', 'is not a valid URL template');
  }
  if (probeUrl.protocol !== 'https:' && !(opts.allowInsecure && probeUrl.protocol === 'http:')) {
    throw new ProviderConfigError(key, 'tokenUrl', 'must be https (set ALLOW_INSECURE_TOKEN_URLS=true only for loopback tests)');
  }
  if (/\{[^}]*$|^[^{]*\}/.test(tokenUrl.replace(/\{[a-z_]+(\|[^}]*)?\}/g, ''))) throw new ProviderConfigError(key, 'tokenUrl', 'has an unbalanced {placeholder}; placeholders are lower-case names like {subdomain} or {tenant|common}');
  const rawId = input.clientId ?? `\${${envName(key, 'CLIENT_ID')}}`;
  const rawSecret = input.clientSecret ?? `\${${envName(key, 'CLIENT_SECRET')}}`;
  // Built-ins default to <KEY>_CLIENT_ID / <KEY>_CLIENT_SECRET and may be unconfigured; an explicit
  // ${VAR} in PROVIDERS_FILE that is missing is a start-up error.
  const explicit = input.clientId !== undefined;
  const clientId = substituteEnv(rawId, env, key, 'clientId', !explicit);
  const clientSecret = substituteEnv(rawSecret, env, key, 'clientSecret', input.clientSecret === undefined);
  const e = (input.errors ?? {}) as Partial<ErrorSpec>;
  const expiry = (input.expiry ?? {}) as Partial<ExpirySpec>;
  if (!isPlainObject(e)) throw new ProviderConfigError(key, 'errors', 'must be an object');
  if (!isPlainObject(expiry)) throw new ProviderConfigError(key, 'expiry', 'must be an object');
  const source = oneOf(key, 'expiry.source', expiry.source, ['expires_in', 'expires_in_ms', 'expires_at', 'none'] as const, 'expires_in');
  const cron = cronOf(key, expiry.cron);
  if (cron && source !== 'none') throw new ProviderConfigError(key, 'expiry.cron', `a cron schedule needs expiry.source "none" (this provider's answers carry ${source}); check REFRESH_CRON_${key.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`);
  const def: ResolvedProvider = {
    key,
    displayName: input.displayName ?? key,
    tokenUrl,
    clientAuth: oneOf(key, 'clientAuth', input.clientAuth, ['basic', 'body', 'both'] as const, DEFAULTS.clientAuth),
    clientId: clientId ?? '',
    clientSecret: clientSecret ?? '',
    paramsIn: oneOf(key, 'paramsIn', input.paramsIn, ['form', 'json', 'query'] as const, DEFAULTS.paramsIn),
    extraParams: strMap(key, 'extraParams', input.extraParams),
    headers: strMap(key, 'headers', input.headers),
    responseFormat: oneOf(key, 'responseFormat', input.responseFormat, ['json', 'form', 'auto'] as const, DEFAULTS.responseFormat),
    expiry: {
      source,
      field: fieldName(key, 'expiry.field', expiry.field),
      defaultLifetimeSec: num(key, 'expiry.defaultLifetimeSec', expiry.defaultLifetimeSec, DEFAULTS.defaultLifetimeSec, 1),
      cron,
    },
    refreshExpiresInField: fieldName(key, 'refreshExpiresInField', input.refreshExpiresInField),
    rotation: oneOf(key, 'rotation', input.rotation, ['always', 'optional', 'never'] as const, DEFAULTS.rotation),
    oldTokenGrace: normalizeGrace(input.oldTokenGrace, key),
    errors: {
      bodyErrorWhen: bodyPredicates(key, e.bodyErrorWhen),
      codeFields: strList(key, 'errors.codeFields', e.codeFields, DEFAULT_ERRORS.codeFields),
      descriptionFields: strList(key, 'errors.descriptionFields', e.descriptionFields, DEFAULT_ERRORS.descriptionFields),
      numericCodesField: fieldName(key, 'errors.numericCodesField', e.numericCodesField),
      terminal: strList(key, 'errors.terminal', e.terminal, DEFAULT_ERRORS.terminal),
      terminalDescriptions: strList(key, 'errors.terminalDescriptions', e.terminalDescriptions, DEFAULT_ERRORS.terminalDescriptions),
      interactionRequired: strList(key, 'errors.interactionRequired', e.interactionRequired, DEFAULT_ERRORS.interactionRequired),
      credential: strList(key, 'errors.credential', e.credential, DEFAULT_ERRORS.credential),
      transient: strList(key, 'errors.transient', e.transient, DEFAULT_ERRORS.transient),
    },
    metadataFields: strList(key, 'metadataFields', input.metadataFields, []),
    refreshLeadSec: num(key, 'refreshLeadSec', input.refreshLeadSec, DEFAULTS.refreshLeadSec)!,
    idleLifetimeSec: num(key, 'idleLifetimeSec', input.idleLifetimeSec, undefined, 1),
    concurrency: Math.floor(num(key, 'concurrency', input.concurrency, DEFAULTS.concurrency, 1)!),
    ratePerSecond: num(key, 'ratePerSecond', input.ratePerSecond, DEFAULTS.ratePerSecond)!,
    notes: input.notes,
    hooks: input.hooks,
    ...resolveAuthorization(key, input, { allowInsecure: opts.allowInsecure }),
    configured: Boolean(clientId && clientSecret),
    credentialsFingerprint: createHash('sha256').update(`${key}\0${clientId ?? ''}\0${clientSecret ?? ''}`).digest('hex').slice(0, 16),
  };
  if (def.errors.codeFields.length === 0) throw new ProviderConfigError(key, 'errors.codeFields', 'needs at least one field name');
  // A code listed as both terminal and credential/transient would be ambiguous: say which wins.
  for (const c of def.errors.terminal) {
    if (def.errors.credential.includes(c)) throw new ProviderConfigError(key, 'errors.terminal', `"${c}" is also listed in errors.credential`);
    if (def.errors.transient.includes(c)) throw new ProviderConfigError(key, 'errors.terminal', `"${c}" is also listed in errors.transient`);
  }
  return def;
}

/** REFRESH_CRON_<PROVIDER>=<cron> overrides a provider's cron schedule (key upper-cased, - as _). */
export function cronOverrideFromEnv(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (k.startsWith('REFRESH_CRON_') && v) out[k.slice('REFRESH_CRON_'.length).toLowerCase().replace(/_/g, '-')] = v;
  }
  return out;
}

export interface LoadOptions {
  providersFile?: string;
  env?: Env;
  allowInsecure: boolean;
  cronOverride?: Record<string, string>;
}

export interface ReloadResult {
  /** Providers whose definition changed in any field. */
  changed: string[];
  /** Providers whose client id or secret changed (their credential breaker may close). */
  credentialsChanged: string[];
  /** New in PROVIDERS_FILE: usable by the API at once; their refresh worker starts on the next restart. */
  added: string[];
  /** Gone from PROVIDERS_FILE: kept until the next restart (connections may still reference them). */
  removed: string[];
}

function cronMatches(override: Record<string, string>, key: string): string | undefined {
  // Env names lose the difference between - and _: match on the normalised form.
  const norm = (s: string) => s.replace(/_/g, '-');
  for (const [k, v] of Object.entries(override)) if (norm(k) === norm(key)) return v;
  return undefined;
}

function buildAll(opts: LoadOptions, env: Env): Map<string, ResolvedProvider> {
  const inputs = new Map<string, ProviderInput>();
  // Built-ins first, resolving `extends` between built-ins (salesforce-sandbox extends salesforce).
  for (const [key, raw] of Object.entries(BUILTIN_PROVIDERS)) {
    const base = raw.extends ? inputs.get(raw.extends) : undefined;
    if (raw.extends && !base) throw new ProviderConfigError(key, 'extends', `unknown provider "${raw.extends}" (built-ins may only extend earlier built-ins)`);
    inputs.set(key, base ? mergeInput(base, raw) : raw);
  }
  if (opts.providersFile) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(opts.providersFile, 'utf8'));
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code ?? (e instanceof SyntaxError ? `invalid JSON (${e.message.slice(0, 120)})` : 'unreadable');
      throw new ProviderConfigError('*', 'PROVIDERS_FILE', `${opts.providersFile}: ${why}`);
    }
    const providers = (parsed as { providers?: unknown })?.providers;
    if (typeof providers !== 'object' || providers === null || Array.isArray(providers)) {
      throw new ProviderConfigError('*', 'PROVIDERS_FILE', 'must be a JSON object with a "providers" object');
    }
    for (const [key, raw] of Object.entries(providers as Record<string, unknown>)) {
      checkFileEntry(key, raw);
      const base = raw.extends ? inputs.get(raw.extends) : inputs.get(key);
      if (raw.extends && !base) throw new ProviderConfigError(key, 'extends', `unknown provider "${raw.extends}"`);
      inputs.set(key, mergeInput(base, raw));
    }
  }
  const cronOverride = opts.cronOverride ?? cronOverrideFromEnv(env);
  const map = new Map<string, ResolvedProvider>();
  for (const [key, input] of inputs) {
    const cron = cronMatches(cronOverride, key);
    const withCron = cron ? mergeInput(input, { expiry: { cron } }) : input;
    map.set(key, resolveProvider(key, withCron, env, { allowInsecure: opts.allowInsecure }));
  }
  for (const k of Object.keys(cronOverride)) {
    if (![...map.keys()].some((key) => key.replace(/_/g, '-') === k.replace(/_/g, '-'))) {
      throw new ProviderConfigError(k, 'REFRESH_CRON', `REFRESH_CRON_${k.toUpperCase().replace(/-/g, '_')} names no provider`);
    }
  }
  return map;
}

/** Comparable form of a definition (hooks are code and never change on reload). */
function comparable(p: ResolvedProvider): string {
  const { hooks: _h, ...rest } = p;
  return JSON.stringify(rest);
}

export class ProviderRegistry {
  private readonly listeners: ((r: ReloadResult) => void)[] = [];

  private constructor(private readonly map: Map<string, ResolvedProvider>, private readonly opts: LoadOptions) {}

  static load(opts: LoadOptions): ProviderRegistry {
    const env = opts.env ?? process.env;
    return new ProviderRegistry(buildAll(opts, env), opts);
  }

  /**
   * Re-reads PROVIDERS_FILE and the environment (SIGHUP). Definitions are swapped in place, so
   * every holder of a ResolvedProvider sees the new values. On any error nothing changes and the
   * error (naming provider and field) is thrown.
   */
  reload(env?: Env): ReloadResult {
    // cronOverride came from the environment at start; re-derive it so REFRESH_CRON_* edits apply.
    const e = env ?? (this.opts.env === undefined ? process.env : this.opts.env);
    const fresh = buildAll({ ...this.opts, cronOverride: { ...this.opts.cronOverride, ...cronOverrideFromEnv(e) } }, e);
    const result: ReloadResult = { changed: [], credentialsChanged: [], added: [], removed: [] };
    for (const [key, next] of fresh) {
      const cur = this.map.get(key);
      if (!cur) {
        this.map.set(key, next);
        result.added.push(key);
        continue;
      }
      if (comparable(cur) === comparable(next)) continue;
      result.changed.push(key);
      if (cur.credentialsFingerprint !== next.credentialsFingerprint) result.credentialsChanged.push(key);
      const target = cur as unknown as Record<string, unknown>;
      for (const k of Object.keys(target)) if (!(k in next)) delete target[k];
      Object.assign(target, next);
    }
    for (const key of this.map.keys()) if (!fresh.has(key)) result.removed.push(key);
    for (const l of this.listeners) {
      try {
        l(result);
      } catch {
        /* a listener's failure never undoes a reload */
      }
    }
    return result;
  }

  /** Called after each successful reload (breaker: close on new credentials; cron: new schedules). */
  onReload(listener: (r: ReloadResult) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  get(key: string): ResolvedProvider | undefined {
    return this.map.get(key);
  }

  all(): ResolvedProvider[] {
    return [...this.map.values()];
  }
}

const TEMPLATE_VALUE_RE = /^[A-Za-z0-9.-]{1,253}$/;

/** Fills {name} / {name|default} from metadata. Values are host-safe only (no SSRF via metadata). */
export function fillTokenUrl(template: string, metadata: Record<string, unknown>): { ok: true; url: string } | { ok: false; missing: string } {
  let missing: string | undefined;
  const url = template.replace(/\{([a-z_]+)(?:\|([^}]*))?\}/g, (_m, name: string, def?: string) => {
    const v = metadata[name];
    if (typeof v === 'string' && v !== '') {
      // instance_url-like values are full https URLs: keep scheme and host only.
      if (/^https?:\/\//.test(v)) {
        try {
          const u = new URL(v);
          return `${u.protocol}//${u.host}`;
        } catch {
          missing = name;
          return '';
        }
      }
      if (TEMPLATE_VALUE_RE.test(v)) return v;
      missing = name;
      return '';
    }
    if (def !== undefined) return def;
    missing = name;
    return '';
  });
  return missing ? { ok: false, missing } : { ok: true, url };
}
