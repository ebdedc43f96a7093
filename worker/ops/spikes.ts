// invalid_grant spike detection for `report`: the current period against the previous one of the
// same length, per group (a provider, a Salesforce org, a Slack team). Pure.
import { orgKeyOf, orgLabelOf } from '../providers/identity.ts';
import type { ProviderRegistry } from '../providers/registry.ts';

export interface SpikeOptions {
  /** Fewer dead-grant answers than this in the period is never a spike (noise). */
  minCount: number;
  /** Current must be at least this many times the previous period (previous 0 counts as 1). */
  ratio: number;
}

export const DEFAULT_SPIKE: SpikeOptions = { minCount: 3, ratio: 3 };

export interface Spike {
  group: string;
  current: number;
  previous: number;
  /** current / max(previous, 1), rounded to one decimal. */
  factor: number;
}

export function detectSpikes(
  current: Map<string, number>,
  previous: Map<string, number>,
  opts: SpikeOptions = DEFAULT_SPIKE,
): Spike[] {
  const out: Spike[] = [];
  for (const [group, n] of current) {
    const prev = previous.get(group) ?? 0;
    if (n < opts.minCount) continue;
    if (n < opts.ratio * Math.max(prev, 1)) continue;
    out.push({ group, current: n, previous: prev, factor: Math.round((n / Math.max(prev, 1)) * 10) / 10 });
  }
  return out.sort((a, b) => b.current - a.current || a.group.localeCompare(b.group));
}

/** What spike grouping reads of a provider definition (its org key and label). */
type OrgOf = (provider: string, metadata: unknown) => { label: string; org: string } | undefined;

export function orgOfRegistry(registry: Pick<ProviderRegistry, 'get'>): OrgOf {
  return (provider, metadata) => {
    const def = registry.get(provider);
    const org = orgKeyOf(def, metadata);
    // An org key exists only when the definition has an org, so its label does too.
    return def && org ? { label: orgLabelOf(def)!, org } : undefined;
  };
}

/**
 * Dead-grant answers per group (the provider, and its org or team when it has one), current vs
 * previous period, and the spikes among them. `providerOf` names each group's provider.
 */
export function deadGrantSpikes(
  rows: { provider: string; metadata: unknown; cur: boolean; n: number }[],
  orgOf: OrgOf,
  opts: SpikeOptions = DEFAULT_SPIKE,
) {
  const cur = new Map<string, number>();
  const prev = new Map<string, number>();
  const providerOf = new Map<string, string>();
  const add = (m: Map<string, number>, k: string, provider: string, n: number) => {
    m.set(k, (m.get(k) ?? 0) + n);
    providerOf.set(k, provider);
  };
  for (const r of rows) {
    const m = r.cur ? cur : prev;
    add(m, `provider ${r.provider}`, r.provider, r.n);
    const o = orgOf(r.provider, r.metadata);
    if (o) add(m, `${o.label} ${o.org} (${r.provider})`, r.provider, r.n);
  }
  return { cur, prev, spikes: detectSpikes(cur, prev, opts), providerOf };
}
