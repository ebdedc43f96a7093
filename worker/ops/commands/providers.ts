// `providers`: provider definitions in force (built-ins + PROVIDERS_FILE), breaker and outage hold state.
import type { OpsCommand } from '../types.ts';
import { parseFlags, UsageError } from '../args.ts';
import { isoShort, relative, table, truncate } from '../format.ts';
import { providerEnvName } from '../../providers/env.ts';
import { outageView } from '../../providers/outage-policy.ts';
import { holdOf } from '../../store/provider-hold.ts';

const HELP = `Usage:
  ops providers [--json]

Every provider definition in force (built-ins plus PROVIDERS_FILE): whether its client
credentials are set, token URL, rotation, expiry source, refresh lead, concurrency and rate; the
credential breaker state from PostgreSQL (ProviderState: closed, open, half_open) with the error
that opened it; the provider-wide outage hold (closed, holding, probing) with when it began, its
next probe and the probes sent; and the number of connections by status. Never prints client
secrets.`;

export const providersCommand: OpsCommand = {
  name: 'providers',
  summary: 'provider definitions in force, breaker and outage hold state',
  help: HELP,
  async run(argv, ctx) {
    const { positionals } = parseFlags(argv, {});
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    await ctx.connect();
    const { db, providers } = ctx.daemon;
    const states = await db.providerState.findMany();
    const counts = await db.connection.groupBy({ by: ['provider', 'status'], _count: { _all: true } });
    const now = Date.now();
    const rows = providers.all().map((p) => {
      const st = states.find((s) => s.provider === p.key);
      const n = (status: string) => counts.find((c) => c.provider === p.key && c.status === status)?._count._all ?? 0;
      return {
        key: p.key,
        displayName: p.displayName,
        configured: p.configured,
        tokenUrl: p.tokenUrl,
        clientAuth: p.clientAuth,
        paramsIn: p.paramsIn,
        rotation: p.rotation,
        expiry: p.expiry.source === 'none' ? `none${p.expiry.cron ? ` (cron ${p.expiry.cron})` : ''}` : p.expiry.source,
        refreshLeadSec: p.refreshLeadSec,
        idleLifetimeSec: p.idleLifetimeSec ?? null,
        concurrency: p.concurrency,
        ratePerSecond: p.ratePerSecond,
        breaker: {
          state: st?.breakerState ?? 'closed',
          openedAt: st?.openedAt?.toISOString() ?? null,
          lastProbeAt: st?.lastProbeAt?.toISOString() ?? null,
          lastErrorCode: st?.lastErrorCode ?? null,
          lastErrorDescription: st?.lastErrorDescription ?? null,
        },
        outage: outageView(holdOf(st)),
        connections: { active: n('active'), needs_reauth: n('needs_reauth') },
      };
    });
    // Connections of providers no longer defined.
    const orphans = [...new Set(counts.map((c) => c.provider))].filter((k) => !providers.get(k));
    if (ctx.json) {
      ctx.out(JSON.stringify({ providers: rows, undefinedProvidersWithConnections: orphans }));
      return 0;
    }
    for (const line of table(
      [
        'PROVIDER',
        'CONFIGURED',
        'ROTATION',
        'EXPIRY',
        'LEAD S',
        'CONC',
        'RATE/S',
        'BREAKER',
        'OUTAGE',
        'ACTIVE',
        'REAUTH',
        'TOKEN URL',
      ],
      rows.map((r) => [
        r.key,
        r.configured ? 'yes' : 'NO',
        r.rotation,
        r.expiry,
        r.refreshLeadSec,
        r.concurrency,
        r.ratePerSecond || '-',
        r.breaker.state,
        r.outage.state,
        r.connections.active,
        r.connections.needs_reauth,
        truncate(r.tokenUrl, 50),
      ]),
    ))
      ctx.out(line);
    const open = rows.filter((r) => r.breaker.state !== 'closed');
    for (const r of open) {
      ctx.out('');
      ctx.out(
        `Breaker ${r.breaker.state} for ${r.key} since ${isoShort(r.breaker.openedAt ? new Date(r.breaker.openedAt) : null)} (${relative(r.breaker.openedAt ? new Date(r.breaker.openedAt) : null, now)}): ${r.breaker.lastErrorCode ?? '?'}${r.breaker.lastErrorDescription ? ` (${truncate(r.breaker.lastErrorDescription, 80)})` : ''}`,
      );
      ctx.out(`  Fix the client credentials for ${r.key}; the breaker closes on the next successful probe.`);
    }
    for (const r of rows.filter((x) => x.outage.state !== 'closed')) {
      const since = r.outage.since ? new Date(r.outage.since) : null;
      ctx.out('');
      ctx.out(
        `Outage hold ${r.outage.state} for ${r.key} since ${isoShort(since)} (${relative(since, now)}): the provider answered transient errors to many connections; ${r.outage.probes} probe(s) sent, next at ${isoShort(r.outage.nextProbeAt ? new Date(r.outage.nextProbeAt) : null)}.`,
      );
      ctx.out(`  Refreshes of ${r.key} wait for one probe at a time; the first success releases them all.`);
    }
    const unconfigured = rows.filter((r) => !r.configured && r.connections.active + r.connections.needs_reauth > 0);
    for (const r of unconfigured)
      ctx.out(
        `\n${r.key} has connections but no client credentials: set ${providerEnvName(r.key, 'CLIENT_ID')} and _CLIENT_SECRET.`,
      );
    if (orphans.length)
      ctx.out(
        `\nConnections exist for providers that are not defined: ${orphans.join(', ')} (add them to PROVIDERS_FILE).`,
      );
    return 0;
  },
};
