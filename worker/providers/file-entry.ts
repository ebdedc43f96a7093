// Shape checks on one PROVIDERS_FILE entry before it is merged: unknown or mistyped fields are named.
import { ProviderConfigError } from './config-error.ts';
import { isPlainObject } from './fields.ts';
import type { ProviderInput } from './types.ts';

const INPUT_FIELDS = new Set([
  'displayName',
  'tokenUrl',
  'clientAuth',
  'clientId',
  'clientSecret',
  'paramsIn',
  'extraParams',
  'headers',
  'responseFormat',
  'expiry',
  'refreshExpiresInField',
  'rotation',
  'oldTokenGrace',
  'errors',
  'metadataFields',
  'refreshLeadSec',
  'idleLifetimeSec',
  'tokenCapPerUser',
  'userKeys',
  'org',
  'fixedGrantLifetimes',
  'concurrency',
  'ratePerSecond',
  'notes',
  'hooks',
  'extends',
]);
const ERROR_FIELDS = new Set([
  'bodyErrorWhen',
  'codeFields',
  'descriptionFields',
  'numericCodesField',
  'terminal',
  'terminalDescriptions',
  'interactionRequired',
  'credential',
  'transient',
  'descriptionCodePattern',
  'descriptionReasons',
]);
const EXPIRY_FIELDS = new Set(['source', 'field', 'defaultLifetimeSec', 'cron']);

function knownFields(key: string, field: string, v: unknown, known: Set<string>): void {
  if (v === undefined) return;
  if (!isPlainObject(v)) throw new ProviderConfigError(key, field, 'must be an object');
  for (const f of Object.keys(v))
    if (!known.has(f))
      throw new ProviderConfigError(key, `${field}.${f}`, `unknown field (known: ${[...known].join(', ')})`);
}

export function checkFileEntry(key: string, raw: unknown): asserts raw is ProviderInput {
  if (!isPlainObject(raw)) throw new ProviderConfigError(key, '*', 'must be an object');
  for (const f of Object.keys(raw)) {
    if (!INPUT_FIELDS.has(f))
      throw new ProviderConfigError(
        key,
        f,
        `unknown field (known: ${[...INPUT_FIELDS].filter((x) => x !== 'hooks').join(', ')})`,
      );
  }
  if (raw.hooks !== undefined)
    throw new ProviderConfigError(
      key,
      'hooks',
      'hooks are code and can only be set by built-in definitions; use "extends" to reuse them',
    );
  if (raw.extends !== undefined && typeof raw.extends !== 'string')
    throw new ProviderConfigError(key, 'extends', 'must be the key of a built-in or earlier provider');
  knownFields(key, 'errors', raw.errors, ERROR_FIELDS);
  knownFields(key, 'expiry', raw.expiry, EXPIRY_FIELDS);
  for (const f of ['displayName', 'tokenUrl', 'clientId', 'clientSecret', 'notes', 'refreshExpiresInField'] as const) {
    if (raw[f] !== undefined && typeof raw[f] !== 'string') throw new ProviderConfigError(key, f, 'must be a string');
  }
}
