// `reconcile`: rebuild the queue from PostgreSQL now (one feeder pass) and report what was added.
import type { OpsCommand } from '../types.ts';
import { parseFlags, UsageError } from '../args.ts';
import { formatDuration, plural, table } from '../format.ts';

const HELP = `Usage:
  ops reconcile [--json]

PostgreSQL is the source of truth; Redis only holds the near future. This runs one feeder pass now:
every active connection due within the horizon (HORIZON_MS) that has no queue job gets one. Use it
after a Redis wipe or failover instead of waiting for the next feeder tick. Safe at any time (job
id = connection id, so nothing is ever queued twice).`;

export const reconcileCommand: OpsCommand = {
  name: 'reconcile',
  summary: 'rebuild the queue from PostgreSQL now and report what it added',
  help: HELP,
  async run(argv, ctx) {
    const { positionals } = parseFlags(argv, {});
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    await ctx.connect();
    const { db, queues, scheduler, config } = ctx.daemon;
    const until = new Date(Date.now() + config.horizonMs);
    // What is missing before the pass (per provider), to say what the pass added.
    const due = await db.connection.groupBy({
      by: ['provider'],
      where: { status: 'active', nextRefreshAt: { lte: until } },
      _count: { _all: true },
    });
    const missingBefore = new Map<string, number>();
    for (const g of due) {
      const ids = await db.connection.findMany({
        where: { provider: g.provider, status: 'active', nextRefreshAt: { lte: until } },
        select: { id: true },
      });
      const have = await queues.haveJobs(ids.map((r) => ({ provider: g.provider, id: r.id })));
      missingBefore.set(g.provider, have.filter((x) => !x).length);
    }
    const r = await scheduler.feed();
    const rows = due.map((g) => ({
      provider: g.provider,
      dueWithinHorizon: g._count._all,
      added: missingBefore.get(g.provider) ?? 0,
    }));
    if (ctx.json) {
      ctx.out(JSON.stringify({ horizonMs: config.horizonMs, scanned: r.scanned, added: r.enqueued, providers: rows }));
      return 0;
    }
    ctx.out(
      `Reconciled: scanned ${plural(r.scanned, 'connection')} due within ${formatDuration(config.horizonMs)}; added ${plural(r.enqueued, 'missing job')}.`,
    );
    if (rows.length)
      for (const line of table(
        ['PROVIDER', 'DUE IN HORIZON', 'ADDED'],
        rows.map((x) => [x.provider, x.dueWithinHorizon, x.added]),
      ))
        ctx.out(`  ${line}`);
    if (r.enqueued === 0) ctx.out('The queue already matched PostgreSQL.');
    return 0;
  },
};
