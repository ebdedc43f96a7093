// Builds every definition: built-ins, then PROVIDERS_FILE on top (adds providers or overrides any
// field of a built-in), then REFRESH_CRON_* overrides; each one resolved and validated.
import { readFileSync } from 'node:fs';
import { BUILTIN_PROVIDERS } from './builtin.ts';
import { ProviderConfigError } from './config-error.ts';
import { cronEnvName, cronOverrideFromEnv, type Env } from './env.ts';
import { checkFileEntry } from './file-entry.ts';
import { resolveProvider, type ProviderFieldDefaults, type ResolvedProvider } from './resolve.ts';
import type { ProviderInput } from './types.ts';

export interface LoadOptions {
  providersFile?: string;
  env?: Env;
  allowInsecure: boolean;
  cronOverride?: Record<string, string>;
  /** Operator defaults for fields a definition leaves out. */
  defaults?: ProviderFieldDefaults;
}

/** `over` on top of `base`; nested objects merge field by field, lists are replaced. */
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
    ...(base.org || over.org ? { org: { ...base.org, ...over.org } } : {}),
  };
}

function builtinInputs(): Map<string, ProviderInput> {
  const inputs = new Map<string, ProviderInput>();
  // Resolving `extends` between built-ins (salesforce-sandbox extends salesforce).
  for (const [key, raw] of Object.entries(BUILTIN_PROVIDERS)) {
    const base = raw.extends ? inputs.get(raw.extends) : undefined;
    if (raw.extends && !base)
      throw new ProviderConfigError(
        key,
        'extends',
        `unknown provider "${raw.extends}" (built-ins may only extend earlier built-ins)`,
      );
    inputs.set(key, base ? mergeInput(base, raw) : raw);
  }
  return inputs;
}

function readProvidersFile(path: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    const why =
      (e as NodeJS.ErrnoException).code ??
      (e instanceof SyntaxError ? `invalid JSON (${e.message.slice(0, 120)})` : 'unreadable');
    throw new ProviderConfigError('*', 'PROVIDERS_FILE', `${path}: ${why}`);
  }
  const providers = (parsed as { providers?: unknown })?.providers;
  if (typeof providers !== 'object' || providers === null || Array.isArray(providers)) {
    throw new ProviderConfigError('*', 'PROVIDERS_FILE', 'must be a JSON object with a "providers" object');
  }
  return providers as Record<string, unknown>;
}

// Env names lose the difference between - and _: keys match on the normalised form.
const norm = (s: string) => s.replace(/_/g, '-');

function cronMatches(override: Record<string, string>, key: string): string | undefined {
  for (const [k, v] of Object.entries(override)) if (norm(k) === norm(key)) return v;
  return undefined;
}

export function buildAll(opts: LoadOptions, env: Env): Map<string, ResolvedProvider> {
  const inputs = builtinInputs();
  if (opts.providersFile) {
    for (const [key, raw] of Object.entries(readProvidersFile(opts.providersFile))) {
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
    map.set(key, resolveProvider(key, withCron, env, { allowInsecure: opts.allowInsecure, defaults: opts.defaults }));
  }
  for (const k of Object.keys(cronOverride)) {
    if (![...map.keys()].some((key) => norm(key) === norm(k)))
      throw new ProviderConfigError(k, 'REFRESH_CRON', `${cronEnvName(k)} names no provider`);
  }
  return map;
}
