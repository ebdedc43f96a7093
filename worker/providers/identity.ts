// Who and which org a connection belongs to, read from its metadata by the provider's definition
// (userKeys, org.keys). Pure; `why` and `report` group connections by these keys.
import { DEFAULT_USER_KEYS } from './defaults.ts';
import type { MetadataRef, ProviderDefinition } from './types.ts';

const obj = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const str = (v: unknown): string | undefined =>
  typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined;

/** The value a reference names in this metadata, if present. */
function readRef(metadata: unknown, ref: MetadataRef): string | undefined {
  const parts = ref.path.split('.');
  const last = parts.pop()!;
  const value = str(obj(parts.reduce<unknown>((o, p) => obj(o)[p], metadata))[last]);
  if (value === undefined) return undefined;
  if (ref.pattern) return new RegExp(ref.pattern).exec(value)?.[1] || undefined;
  if (ref.host) {
    try {
      return new URL(value).host;
    } catch {
      return value;
    }
  }
  return value;
}

const firstOf = (metadata: unknown, refs: MetadataRef[]) =>
  refs.reduce<string | undefined>((found, r) => found ?? readRef(metadata, r), undefined);

/** The provider-side user a connection belongs to, when its metadata says (unknown providers: the common fields). */
export function userKeyOf(
  provider: Pick<ProviderDefinition, 'userKeys'> | undefined,
  metadata: unknown,
): string | undefined {
  return firstOf(metadata, provider?.userKeys ?? DEFAULT_USER_KEYS);
}

/** The org or team a connection belongs to (Salesforce org id, Slack team id), for providers that have one. */
export function orgKeyOf(provider: Pick<ProviderDefinition, 'org'> | undefined, metadata: unknown): string | undefined {
  return provider?.org ? firstOf(metadata, provider.org.keys) : undefined;
}

/** How reports label the org of a provider: "salesforce org". */
export function orgLabelOf(provider: Pick<ProviderDefinition, 'org'>): string | undefined {
  return provider.org ? (provider.org.label ?? provider.org.name.toLowerCase()) : undefined;
}
