// `report [--since 24h]`: refreshes, failures and needs_reauth by provider and reason, and
// invalid_grant spikes per provider / Salesforce org / Slack team against the previous period.
import type { OpsCommand } from '../types.ts';
import { durationFlag, parseFlags, UsageError } from '../args.ts';
import { formatDuration, isoShort, table } from '../format.ts';
import { deadGrantSpikes, DEFAULT_SPIKE, orgOfRegistry } from '../spikes.ts';
import { deadGrantCounts } from '../../store/attempt-stats.ts';

const HELP = `Usage:
  ops report [--since 24h] [--json]

For the period (default the last 24 h):
  - refresh attempts per provider by outcome (rotated, transient, misconfigured, lost_race,
    needs_reauth) and the failure rate;
  - connections that needed re-authorization, by provider and reason;
  - invalid_grant spikes: dead-grant answers per provider, per Salesforce org and per Slack team,
    flagged when at least ${DEFAULT_SPIKE.minCount} and ${DEFAULT_SPIKE.ratio}x the previous period of the same length.

Examples:
  ops report
  ops report --since 7d --json`;

export const reportCommand: OpsCommand = {
  name: 'report',
  summary: 'refreshes, failures and needs_reauth by provider and reason; invalid_grant spikes',
  help: HELP,
  async run(argv, ctx) {
    const { flags, positionals } = parseFlags(argv, { since: { type: 'string' } });
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const sinceMs = durationFlag(flags.since, 'since', 24 * 3_600_000);
    await ctx.connect();
    const { db, providers: registry } = ctx.daemon;
    const now = Date.now();
    const from = new Date(now - sinceMs);
    const prevFrom = new Date(now - 2 * sinceMs);

    const byOutcome = await db.refreshAttempt.groupBy({
      by: ['provider', 'outcome'],
      where: { startedAt: { gte: from } },
      _count: { _all: true },
    });
    const reauth = await db.connection.groupBy({
      by: ['provider', 'reauthReason'],
      where: { status: 'needs_reauth', reauthAt: { gte: from } },
      _count: { _all: true },
      orderBy: [{ provider: 'asc' }, { reauthReason: 'asc' }],
    });
    const dead = await deadGrantCounts(db, from, prevFrom);

    const providers = [...new Set([...byOutcome.map((r) => r.provider), ...reauth.map((r) => r.provider)])].sort();
    const rows = providers.map((p) => {
      const count = (o: string) =>
        byOutcome.filter((r) => r.provider === p && r.outcome === o).reduce((s, r) => s + r._count._all, 0);
      const total = byOutcome.filter((r) => r.provider === p).reduce((s, r) => s + r._count._all, 0);
      const unfinished = byOutcome
        .filter((r) => r.provider === p && r.outcome === null)
        .reduce((s, r) => s + r._count._all, 0);
      const failures = count('transient') + count('misconfigured') + count('needs_reauth');
      return {
        provider: p,
        attempts: total,
        rotated: count('rotated'),
        transient: count('transient'),
        misconfigured: count('misconfigured'),
        lostRace: count('lost_race'),
        needsReauth: count('needs_reauth'),
        unfinished,
        failures,
        failureRate: total ? Math.round((failures / total) * 1000) / 10 : 0,
      };
    });

    // Dead-grant answers per group, current vs previous period.
    const { cur, prev, spikes } = deadGrantSpikes(dead, orgOfRegistry(registry));

    if (ctx.json) {
      ctx.out(
        JSON.stringify({
          from: from.toISOString(),
          to: new Date(now).toISOString(),
          previousFrom: prevFrom.toISOString(),
          providers: rows,
          needsReauth: reauth.map((r) => ({ provider: r.provider, reason: r.reauthReason, count: r._count._all })),
          deadGrants: { current: Object.fromEntries(cur), previous: Object.fromEntries(prev) },
          spikes,
        }),
      );
      return 0;
    }
    ctx.out(`Report for the last ${formatDuration(sinceMs)} (${isoShort(from)} to ${isoShort(new Date(now))})`);
    ctx.out('');
    if (rows.length === 0) {
      ctx.out('No refresh attempts in this period.');
    } else {
      for (const line of table(
        ['PROVIDER', 'ATTEMPTS', 'ROTATED', 'TRANSIENT', 'MISCONFIG', 'LOST RACE', 'NEEDS REAUTH', 'FAIL %'],
        rows.map((r) => [
          r.provider,
          r.attempts,
          r.rotated,
          r.transient,
          r.misconfigured,
          r.lostRace,
          r.needsReauth,
          `${r.failureRate}%`,
        ]),
      ))
        ctx.out(line);
    }
    ctx.out('');
    if (reauth.length === 0) {
      ctx.out('No connection needed re-authorization in this period.');
    } else {
      ctx.out('Needed re-authorization, by reason:');
      for (const line of table(
        ['PROVIDER', 'REASON', 'CONNECTIONS'],
        reauth.map((r) => [r.provider, r.reauthReason ?? '?', r._count._all]),
      ))
        ctx.out(`  ${line}`);
    }
    ctx.out('');
    if (spikes.length === 0) {
      ctx.out(`invalid_grant spikes: none (vs the previous ${formatDuration(sinceMs)}).`);
    } else {
      ctx.out(`invalid_grant spikes (vs the previous ${formatDuration(sinceMs)}):`);
      for (const s of spikes)
        ctx.out(
          `  ! ${s.group}: ${s.current} dead-grant answers, previous period ${s.previous}${s.previous ? ` (x${s.factor})` : ''}`,
        );
      ctx.out('  A whole Salesforce org at once points to an org policy; try: ops why <id of one of them>');
    }
    return 0;
  },
};
