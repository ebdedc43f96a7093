// Loads provider definitions: built-ins, then PROVIDERS_FILE on top (adds providers or overrides
// any field of a built-in). Validated at start; an error names the provider and the field.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { BUILTIN_PROVIDERS } from './builtin.ts';
import { DEFAULT_ERRORS, DEFAULTS } from './defaults.ts';
import type { OldTokenGrace, ProviderDefinition, ProviderInput } from './types.ts';

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
  if (typeof g === 'object' && g && 'kind' in g) return g;
  throw new ProviderConfigError(provider, 'oldTokenGrace', 'must be none, until_used, not_revoked or a number of seconds');
}

function mergeInput(base: ProviderInput | undefined, over: ProviderInput): ProviderInput {
  if (!base) return over;
  return {
    ...base,
    ...over,
    errors: { ...base.errors, ...over.errors },
    expiry: { ...base.expiry, ...over.expiry },
    extraParams: { ...base.extraParams, ...over.extraParams },
    headers: { ...base.headers, ...over.headers },
    hooks: { ...base.hooks, ...over.hooks },
  };
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

function num(provider: string, field: string, v: unknown, def: number | undefined, min = 0): number | undefined {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new ProviderConfigError(provider, field, `must be a number >= ${min}`);
  return v;
}

function strMap(provider: string, field: string, v: unknown): Record<string, string> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ProviderConfigError(provider, field, 'must be an object of strings');
  for (const [k, x] of Object.entries(v)) if (typeof x !== 'string') throw new ProviderConfigError(provider, `${field}.${k}`, 'must be a string');
  return v as Record<string, string>;
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
  const rawId = input.clientId ?? `\${${envName(key, 'CLIENT_ID')}}`;
  const rawSecret = input.clientSecret ?? `\${${envName(key, 'CLIENT_SECRET')}}`;
  // Built-ins default to <KEY>_CLIENT_ID / <KEY>_CLIENT_SECRET and may be unconfigured; an explicit
  // ${VAR} in PROVIDERS_FILE that is missing is a start-up error.
  const explicit = input.clientId !== undefined;
  const clientId = substituteEnv(rawId, env, key, 'clientId', !explicit);
  const clientSecret = substituteEnv(rawSecret, env, key, 'clientSecret', input.clientSecret === undefined);
  const e = input.errors ?? {};
  const expiry = input.expiry ?? {};
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
      source: oneOf(key, 'expiry.source', expiry.source, ['expires_in', 'expires_in_ms', 'expires_at', 'none'] as const, 'expires_in'),
      field: expiry.field,
      defaultLifetimeSec: num(key, 'expiry.defaultLifetimeSec', expiry.defaultLifetimeSec, DEFAULTS.defaultLifetimeSec, 1),
      cron: expiry.cron,
    },
    refreshExpiresInField: input.refreshExpiresInField,
    rotation: oneOf(key, 'rotation', input.rotation, ['always', 'optional', 'never'] as const, DEFAULTS.rotation),
    oldTokenGrace: normalizeGrace(input.oldTokenGrace, key),
    errors: {
      bodyErrorWhen: e.bodyErrorWhen,
      codeFields: strList(key, 'errors.codeFields', e.codeFields, DEFAULT_ERRORS.codeFields),
      descriptionFields: strList(key, 'errors.descriptionFields', e.descriptionFields, DEFAULT_ERRORS.descriptionFields),
      numericCodesField: e.numericCodesField,
      terminal: strList(key, 'errors.terminal', e.terminal, DEFAULT_ERRORS.terminal),
      terminalDescriptions: strList(key, 'errors.terminalDescriptions', e.terminalDescriptions, DEFAULT_ERRORS.terminalDescriptions),
      interactionRequired: strList(key, 'errors.interactionRequired', e.interactionRequired, DEFAULT_ERRORS.interactionRequired),
      credential: strList(key, 'errors.credential', e.credential, DEFAULT_ERRORS.credential),
      transient: strList(key, 'errors.transient', e.transient, DEFAULT_ERRORS.transient),
    },
    metadataFields: strList(key, 'metadataFields', input.metadataFields, []),
    refreshLeadSec: num(key, 'refreshLeadSec', input.refreshLeadSec, DEFAULTS.refreshLeadSec)!,
    idleLifetimeSec: num(key, 'idleLifetimeSec', input.idleLifetimeSec, undefined, 1),
    concurrency: num(key, 'concurrency', input.concurrency, DEFAULTS.concurrency, 1)!,
    ratePerSecond: num(key, 'ratePerSecond', input.ratePerSecond, DEFAULTS.ratePerSecond)!,
    notes: input.notes,
    hooks: input.hooks,
    configured: Boolean(clientId && clientSecret),
    credentialsFingerprint: createHash('sha256').update(`${key}\0${clientId ?? ''}\0${clientSecret ?? ''}`).digest('hex').slice(0, 16),
  };
  if (def.expiry.cron !== undefined && typeof def.expiry.cron !== 'string') throw new ProviderConfigError(key, 'expiry.cron', 'must be a cron string');
  if (def.errors.bodyErrorWhen !== undefined && !Array.isArray(def.errors.bodyErrorWhen)) throw new ProviderConfigError(key, 'errors.bodyErrorWhen', 'must be an array of {field, equals|present}');
  return def;
}

export class ProviderRegistry {
  private constructor(private readonly map: Map<string, ResolvedProvider>) {}

  static load(opts: { providersFile?: string; env?: Env; allowInsecure: boolean; cronOverride?: Record<string, string> }): ProviderRegistry {
    const env = opts.env ?? process.env;
    const inputs = new Map<string, ProviderInput>(Object.entries(BUILTIN_PROVIDERS));
    if (opts.providersFile) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(readFileSync(opts.providersFile, 'utf8'));
      } catch (e) {
        const why = (e as NodeJS.ErrnoException).code ?? (e instanceof SyntaxError ? 'invalid JSON' : 'unreadable');
        throw new ProviderConfigError('*', 'PROVIDERS_FILE', `${opts.providersFile}: ${why}`);
      }
      const providers = (parsed as { providers?: unknown })?.providers;
      if (typeof providers !== 'object' || providers === null || Array.isArray(providers)) {
        throw new ProviderConfigError('*', 'PROVIDERS_FILE', 'must be a JSON object with a "providers" object');
      }
      for (const [key, raw] of Object.entries(providers as Record<string, ProviderInput>)) {
        if (typeof raw !== 'object' || raw === null) throw new ProviderConfigError(key, '*', 'must be an object');
        const base = raw.extends ? inputs.get(raw.extends) : inputs.get(key);
        if (raw.extends && !base) throw new ProviderConfigError(key, 'extends', `unknown provider "${raw.extends}"`);
        inputs.set(key, mergeInput(base, raw));
      }
    }
    const map = new Map<string, ResolvedProvider>();
    for (const [key, input] of inputs) {
      const cron = opts.cronOverride?.[key];
      const withCron = cron ? mergeInput(input, { expiry: { cron } }) : input;
      map.set(key, resolveProvider(key, withCron, env, { allowInsecure: opts.allowInsecure }));
    }
    return new ProviderRegistry(map);
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
