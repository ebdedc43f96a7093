// invalid_grant spike detection for `report`: the current period against the previous one of the
// same length, per group (a provider, a Salesforce org, a Slack team). Pure.

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
