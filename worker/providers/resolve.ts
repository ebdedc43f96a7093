// Turns one merged provider input into a validated definition: defaults applied, ${VAR} filled from
// the environment, every field checked. An error names the provider and the field.
import { createHash } from 'node:crypto';
import { resolveAuthorization } from './authorization.ts';
import { ProviderConfigError } from './config-error.ts';
import { DEFAULT_ERRORS, DEFAULT_USER_KEYS, DEFAULTS } from './defaults.ts';
import { cronEnvName, providerEnvName, type Env } from './env.ts';
import { substituteEnv } from './substitute-env.ts';
import {
  bodyPredicates,
  cronOf,
  descriptionReasons,
  fieldName,
  grantLifetimes,
  isPlainObject,
  metadataRefs,
  normalizeGrace,
  num,
  oneOf,
  orgSpec,
  patternWithGroup,
  strList,
  headerMap,
  strMap,
} from './fields.ts';
import type { ErrorSpec, ExpirySpec, ProviderDefinition, ProviderInput } from './types.ts';

export interface ResolvedProvider extends ProviderDefinition {
  /** False when client id or secret is missing: refreshes report misconfigured until it is set. */
  configured: boolean;
  /** Keyed hash of client id + secret: a change closes the credential breaker. */
  credentialsFingerprint: string;
}

const KEY_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** The token URL with ${VAR} filled; its {placeholder} template must parse as an https URL. */
function tokenUrlOf(key: string, input: ProviderInput, env: Env, allowInsecure: boolean): string {
  if (typeof input.tokenUrl !== 'string' || input.tokenUrl === '')
    throw new ProviderConfigError(key, 'tokenUrl', 'is required');
  const tokenUrl = substituteEnv(input.tokenUrl, env, key, 'tokenUrl', false)!;
  // Validate the template with placeholders filled by a harmless value.
  const probe = tokenUrl.replace(/\{([a-z_]+)(\|[^}]*)?\}/g, (_m, _n, d?: string) => (d ? d.slice(1) : 'x'));
  let probeUrl: URL;
  try {
    probeUrl = new URL(probe.startsWith('x') ? `https://${probe}` : probe);
  } catch {
    throw new ProviderConfigError(key, 'tokenUrl', 'is not a valid URL template');
  }
  if (probeUrl.protocol !== 'https:' && !(allowInsecure && probeUrl.protocol === 'http:')) {
    throw new ProviderConfigError(
      key,
      'tokenUrl',
      'must be https (set ALLOW_INSECURE_TOKEN_URLS=true only for loopback tests)',
    );
  }
  if (/\{[^}]*$|^[^{]*\}/.test(tokenUrl.replace(/\{[a-z_]+(\|[^}]*)?\}/g, '')))
    throw new ProviderConfigError(
      key,
      'tokenUrl',
      'has an unbalanced {placeholder}; placeholders are lower-case names like {subdomain} or {tenant|common}',
    );
  return tokenUrl;
}

/** Client id and secret: built-ins default to <KEY>_CLIENT_ID / <KEY>_CLIENT_SECRET and may be unset. */
function credentialsOf(key: string, input: ProviderInput, env: Env): { clientId?: string; clientSecret?: string } {
  const rawId = input.clientId ?? `\${${providerEnvName(key, 'CLIENT_ID')}}`;
  const rawSecret = input.clientSecret ?? `\${${providerEnvName(key, 'CLIENT_SECRET')}}`;
  // An explicit ${VAR} in PROVIDERS_FILE that is missing is a start-up error.
  return {
    clientId: substituteEnv(rawId, env, key, 'clientId', input.clientId === undefined),
    clientSecret: substituteEnv(rawSecret, env, key, 'clientSecret', input.clientSecret === undefined),
  };
}

function expiryOf(key: string, raw: unknown): ExpirySpec {
  const expiry = (raw ?? {}) as Partial<ExpirySpec>;
  if (!isPlainObject(expiry)) throw new ProviderConfigError(key, 'expiry', 'must be an object');
  const source = oneOf(
    key,
    'expiry.source',
    expiry.source,
    ['expires_in', 'expires_in_ms', 'expires_at', 'none'] as const,
    'expires_in',
  );
  const cron = cronOf(key, expiry.cron);
  if (cron && source !== 'none')
    throw new ProviderConfigError(
      key,
      'expiry.cron',
      `a cron schedule needs expiry.source "none" (this provider's answers carry ${source}); check ${cronEnvName(key)}`,
    );
  return {
    source,
    field: fieldName(key, 'expiry.field', expiry.field),
    defaultLifetimeSec: num(
      key,
      'expiry.defaultLifetimeSec',
      expiry.defaultLifetimeSec,
      DEFAULTS.defaultLifetimeSec,
      1,
    ),
    cron,
  };
}

function errorsOf(key: string, raw: unknown): ErrorSpec {
  const e = (raw ?? {}) as Partial<ErrorSpec>;
  if (!isPlainObject(e)) throw new ProviderConfigError(key, 'errors', 'must be an object');
  const errors: ErrorSpec = {
    bodyErrorWhen: bodyPredicates(key, e.bodyErrorWhen),
    codeFields: strList(key, 'errors.codeFields', e.codeFields, DEFAULT_ERRORS.codeFields),
    descriptionFields: strList(key, 'errors.descriptionFields', e.descriptionFields, DEFAULT_ERRORS.descriptionFields),
    numericCodesField: fieldName(key, 'errors.numericCodesField', e.numericCodesField),
    terminal: strList(key, 'errors.terminal', e.terminal, DEFAULT_ERRORS.terminal),
    terminalDescriptions: strList(
      key,
      'errors.terminalDescriptions',
      e.terminalDescriptions,
      DEFAULT_ERRORS.terminalDescriptions,
    ),
    interactionRequired: strList(
      key,
      'errors.interactionRequired',
      e.interactionRequired,
      DEFAULT_ERRORS.interactionRequired,
    ),
    credential: strList(key, 'errors.credential', e.credential, DEFAULT_ERRORS.credential),
    transient: strList(key, 'errors.transient', e.transient, DEFAULT_ERRORS.transient),
    descriptionCodePattern: patternWithGroup(key, 'errors.descriptionCodePattern', e.descriptionCodePattern),
    descriptionReasons: descriptionReasons(key, e.descriptionReasons),
  };
  if (errors.codeFields.length === 0)
    throw new ProviderConfigError(key, 'errors.codeFields', 'needs at least one field name');
  // A code listed as both terminal and credential/transient would be ambiguous: say which wins.
  for (const c of errors.terminal) {
    if (errors.credential.includes(c))
      throw new ProviderConfigError(key, 'errors.terminal', `"${c}" is also listed in errors.credential`);
    if (errors.transient.includes(c))
      throw new ProviderConfigError(key, 'errors.terminal', `"${c}" is also listed in errors.transient`);
  }
  return errors;
}

/** Operator defaults for fields a definition leaves out (REFRESH_LEAD_MS, WORKER_CONCURRENCY). */
export interface ProviderFieldDefaults {
  refreshLeadSec?: number;
  concurrency?: number;
}

export function resolveProvider(
  key: string,
  input: ProviderInput,
  env: Env,
  opts: { allowInsecure: boolean; defaults?: ProviderFieldDefaults },
): ResolvedProvider {
  if (!KEY_RE.test(key))
    throw new ProviderConfigError(key, 'key', 'provider keys are lower-case letters, digits, - and _ (max 64)');
  const tokenUrl = tokenUrlOf(key, input, env, opts.allowInsecure);
  const { clientId, clientSecret } = credentialsOf(key, input, env);
  const expiry = expiryOf(key, input.expiry);
  const errors = errorsOf(key, input.errors);
  return {
    key,
    displayName: input.displayName ?? key,
    tokenUrl,
    clientAuth: oneOf(key, 'clientAuth', input.clientAuth, ['basic', 'body', 'both'] as const, DEFAULTS.clientAuth),
    clientId: clientId ?? '',
    clientSecret: clientSecret ?? '',
    paramsIn: oneOf(key, 'paramsIn', input.paramsIn, ['form', 'json', 'query'] as const, DEFAULTS.paramsIn),
    extraParams: strMap(key, 'extraParams', input.extraParams),
    headers: headerMap(key, input.headers),
    responseFormat: oneOf(
      key,
      'responseFormat',
      input.responseFormat,
      ['json', 'form', 'auto'] as const,
      DEFAULTS.responseFormat,
    ),
    expiry,
    refreshExpiresInField: fieldName(key, 'refreshExpiresInField', input.refreshExpiresInField),
    rotation: oneOf(key, 'rotation', input.rotation, ['always', 'optional', 'never'] as const, DEFAULTS.rotation),
    oldTokenGrace: normalizeGrace(input.oldTokenGrace, key),
    errors,
    metadataFields: strList(key, 'metadataFields', input.metadataFields, []),
    refreshLeadSec: num(
      key,
      'refreshLeadSec',
      input.refreshLeadSec,
      opts.defaults?.refreshLeadSec ?? DEFAULTS.refreshLeadSec,
    )!,
    idleLifetimeSec: num(key, 'idleLifetimeSec', input.idleLifetimeSec, undefined, 1),
    tokenCapPerUser: num(key, 'tokenCapPerUser', input.tokenCapPerUser, undefined, 1),
    userKeys: metadataRefs(key, 'userKeys', input.userKeys, DEFAULT_USER_KEYS),
    org: orgSpec(key, input.org),
    fixedGrantLifetimes: grantLifetimes(key, input.fixedGrantLifetimes),
    concurrency: Math.floor(
      num(key, 'concurrency', input.concurrency, opts.defaults?.concurrency ?? DEFAULTS.concurrency, 1)!,
    ),
    ratePerSecond: num(key, 'ratePerSecond', input.ratePerSecond, DEFAULTS.ratePerSecond)!,
    notes: input.notes,
    hooks: input.hooks,
    ...resolveAuthorization(key, input, { allowInsecure: opts.allowInsecure }),
    configured: Boolean(clientId && clientSecret),
    credentialsFingerprint: createHash('sha256')
      .update(`${key}\0${clientId ?? ''}\0${clientSecret ?? ''}`)
      .digest('hex')
      .slice(0, 16),
  };
}
