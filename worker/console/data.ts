// Gathers the console's values: the store's reads, the provider gate's view, the same spike
// detection as `ops report` and the same diagnosis as `ops why`. No HTML here.
import type { Connection } from '../generated/prisma/client.ts';
import { connectTrace } from '../ops/connect-trace.ts';
import { diagnose } from '../ops/diagnose.ts';
import { gatherDiagnoseInput } from '../ops/diagnose-input.ts';
import { deadGrantSpikes, orgOfRegistry } from '../ops/spikes.ts';
import type { ProviderGateView } from '../providers/breaker-policy.ts';
import { outageView } from '../providers/outage-policy.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import { deadGrantCounts, hourlyAttempts, type HourlyRow } from '../store/attempt-stats.ts';
import type { ConnectSessions } from '../store/connect-sessions.ts';
import { countsByProviderStatus, filteredConnections, reauthReasons } from '../store/console-queries.ts';
import type { Db } from '../store/db.ts';
import { holdOf } from '../store/provider-hold.ts';
import { providerStates } from '../store/provider-state.ts';
import type { HourBucket } from './chart.ts';
import type { ConnectionDetail, ConnectionList, ListFilter, Overview, ProviderHealth } from './types.ts';

const HOURS = 24;
const PAGE_SIZE = 50;

export interface ConsoleData {
  db: Db;
  providers: ProviderRegistry;
  sessions: ConnectSessions;
  /** The provider gate's breaker and limiter view, when a gate runs in this process. */
  gateViews?: (keys: string[]) => Promise<Record<string, ProviderGateView>>;
}

/** Hourly rows to one bucket list per provider, oldest first. */
export function bucketsOf(rows: HourlyRow[], provider: string, hours = HOURS): HourBucket[] {
  const out = Array.from({ length: hours }, () => ({ refreshes: 0, failures: 0, needsReauth: 0, deadGrants: 0 }));
  for (const r of rows) {
    if (r.provider !== provider) continue;
    const b = out[Math.min(hours - 1, Math.max(0, r.bucket))];
    b.refreshes += r.refreshes;
    b.failures += r.failures;
    b.needsReauth += r.needsReauth;
    b.deadGrants += r.deadGrants;
  }
  return out;
}

async function gateViewsOf(
  d: ConsoleData,
  keys: string[],
): Promise<
  Record<string, Pick<ProviderGateView, 'state' | 'lastError'> & { inFlight: number | null; waiting: number | null }>
> {
  if (d.gateViews) return d.gateViews(keys);
  const rows = await providerStates(d.db, keys);
  return Object.fromEntries(
    rows.map((r) => [
      r.provider,
      {
        state: r.breakerState as ProviderGateView['state'],
        lastError: r.lastErrorCode ? { code: r.lastErrorCode, description: r.lastErrorDescription } : null,
        inFlight: null,
        waiting: null,
      },
    ]),
  );
}

export async function loadOverview(d: ConsoleData, now: number): Promise<Overview> {
  const from = new Date(now - HOURS * 3_600_000);
  const [counts, hourly, dead] = await Promise.all([
    countsByProviderStatus(d.db),
    hourlyAttempts(d.db, from),
    deadGrantCounts(d.db, from, new Date(now - 2 * HOURS * 3_600_000)),
  ]);
  const keys = [...new Set([...d.providers.all().map((p) => p.key), ...counts.map((c) => c.provider)])].sort();
  const [views, states] = await Promise.all([gateViewsOf(d, keys), providerStates(d.db, keys)]);
  const { spikes, providerOf } = deadGrantSpikes(dead, orgOfRegistry(d.providers));
  const count = (p: string, s: string) => counts.find((c) => c.provider === p && c.status === s)?.count ?? 0;
  const providers: ProviderHealth[] = keys.map((key) => {
    const def = d.providers.get(key);
    const v = views[key];
    return {
      key,
      displayName: def?.displayName ?? key,
      configured: def?.configured,
      breaker: v?.state ?? 'closed',
      lastError: v?.lastError ?? null,
      outage: outageView(holdOf(states.find((s) => s.provider === key))),
      inFlight: v?.inFlight ?? null,
      waiting: v?.waiting ?? null,
      active: count(key, 'active'),
      needsReauth: count(key, 'needs_reauth'),
      hours: bucketsOf(hourly, key),
      spikes: spikes.filter((s) => providerOf.get(s.group) === key),
    };
  });
  return { providers };
}

function problemOf(r: Connection): string {
  if (r.status === 'needs_reauth') return `reauth: ${r.reauthReason ?? '?'}`;
  return r.lastErrorCode ?? '';
}

export async function loadList(d: ConsoleData, f: ListFilter): Promise<ConnectionList> {
  const [{ rows, total }, reasons] = await Promise.all([
    filteredConnections(
      d.db,
      { status: f.status, provider: f.provider, search: f.search, reauthReason: f.reason },
      { offset: (f.page - 1) * PAGE_SIZE, limit: PAGE_SIZE },
    ),
    reauthReasons(d.db),
  ]);
  return {
    filter: f,
    total,
    pageSize: PAGE_SIZE,
    reasons,
    providers: d.providers
      .all()
      .map((p) => p.key)
      .sort(),
    rows: rows.map((r) => ({
      id: r.id,
      provider: r.provider,
      externalId: r.externalId,
      status: r.status,
      version: r.version,
      nextRefreshAt: r.nextRefreshAt,
      lastRefreshedAt: r.lastRefreshedAt,
      consecutiveFailures: r.consecutiveFailures,
      problem: problemOf(r),
    })),
  };
}

/** The connection page: the row's state (never its tokens), `why`'s diagnosis, the attempts. */
export async function loadDetail(d: ConsoleData, c: Connection, now: number): Promise<ConnectionDetail> {
  const { input, attempts } = await gatherDiagnoseInput(d.db, d.providers, c, now);
  const def = d.providers.get(c.provider);
  const trace = connectTrace(await d.sessions.history(c), c.provider, def?.tokenCapPerUser, now);
  return {
    id: c.id,
    provider: c.provider,
    providerName: def?.displayName ?? c.provider,
    externalId: c.externalId,
    status: c.status,
    version: c.version,
    createdAt: c.createdAt,
    lastRefreshedAt: c.lastRefreshedAt,
    nextRefreshAt: c.nextRefreshAt,
    expiresAt: c.expiresAt,
    refreshExpiresAt: c.refreshExpiresAt,
    consecutiveFailures: c.consecutiveFailures,
    failingSince: c.failingSince,
    lastError: c.lastErrorCode
      ? `${c.lastErrorCode}${c.lastErrorDescription ? ` - ${c.lastErrorDescription}` : ''}`
      : null,
    reauthReason: c.reauthReason,
    reauthAt: c.reauthAt,
    diagnosis: diagnose(input),
    connectFlow: trace.lines,
    attempts: attempts.slice(0, 20).map((a) => ({
      startedAt: a.startedAt,
      trigger: a.trigger,
      outcome: a.outcome,
      httpStatus: a.httpStatus,
      errorCode: a.errorCode,
      errorDescription: a.errorDescription,
      durationMs: a.durationMs,
      versionBefore: a.versionBefore,
      versionAfter: a.versionAfter,
      uncertain: a.uncertain,
    })),
  };
}
