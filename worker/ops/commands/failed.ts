// `failed list` / `failed replay`: connections whose latest refresh failed, grouped by provider and
// error; replay requeues them through the normal queue (same job id, same lock, same fence).
import type { OpsCommand, OpsContext } from '../types.ts';
import { durationFlag, intFlag, parseFlags, stringFlag, UsageError, subcommands } from '../args.ts';
import {
  formatDuration,
  isoShort,
  plural,
  progressBar,
  relative,
  shouldReportProgress,
  table,
  truncate,
} from '../format.ts';
import { failedWhere, refreshedSince, type FailedFilter } from '../lookup.ts';

const HELP = `Usage:
  ops failed list   [--provider P] [--error CODE] [--since 24h] [--json]
  ops failed replay [--provider P] [--error CODE] [--since 24h] [--limit N] [--dry-run] [--json]

A failed refresh is an active connection whose latest attempt failed (provider outage, rate limit,
timeout, wrong client credentials) within --since. Expected failures are not BullMQ "failed" jobs:
the job waits in "delayed" for its retry. Connections marked needs_reauth are not failures you can
replay (see: ops why <id>).

list    groups them by provider and error code, with counts.
replay  moves each one's retry to now through the normal path: a fenced update of nextRefreshAt,
        then the connection's own queue job (job id = connection id) is moved to now or added.
        The worker then refreshes under the per-connection lock and version fence, so a replay can
        never race a running refresh. Skips connections that are needs_reauth now or that were
        refreshed since they failed. Safe to run twice.

Flags:
  --provider P   only this provider
  --error CODE   only this error code (e.g. http_503, invalid_client)
  --since D      failures newer than D (30m, 2h, 24h, 7d); default 24h
  --limit N      replay at most N connections (oldest failure first)
  --dry-run      show what would be replayed, change nothing
  --json         machine-readable output

Examples:
  ops failed list --since 2h
  ops failed replay --provider salesforce --dry-run
  ops failed replay --error http_503 --limit 500`;

const SPEC = {
  provider: { type: 'string' as const },
  error: { type: 'string' as const },
  since: { type: 'string' as const },
  limit: { type: 'string' as const },
  'dry-run': { type: 'boolean' as const },
};

function filterFrom(flags: Record<string, string | boolean | undefined>): FailedFilter {
  return {
    provider: stringFlag(flags.provider),
    errorCode: stringFlag(flags.error),
    sinceMs: durationFlag(flags.since, 'since', 24 * 3_600_000),
    now: Date.now(),
  };
}

async function list(argv: string[], ctx: OpsContext): Promise<number> {
  const { flags, positionals } = parseFlags(argv, SPEC);
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (flags.limit !== undefined || flags['dry-run'])
    throw new UsageError('--limit and --dry-run belong to "failed replay"');
  const f = filterFrom(flags);
  await ctx.connect();
  const db = ctx.daemon.db;
  const groups = await db.connection.groupBy({
    by: ['provider', 'lastErrorCode'],
    where: failedWhere(f),
    _count: { _all: true },
    _min: { failingSince: true, lastErrorAt: true },
    _max: { lastErrorAt: true, consecutiveFailures: true },
    orderBy: [{ provider: 'asc' }, { lastErrorCode: 'asc' }],
  });
  // One sample description per group (descriptions are scrubbed provider text, never tokens).
  const rows = await Promise.all(
    groups.map(async (g) => {
      const sample = await db.connection.findFirst({
        where: { ...failedWhere(f), provider: g.provider, lastErrorCode: g.lastErrorCode },
        orderBy: { lastErrorAt: 'desc' },
        select: { lastErrorDescription: true },
      });
      return {
        provider: g.provider,
        errorCode: g.lastErrorCode ?? '',
        count: g._count._all,
        failingSince: g._min.failingSince ?? g._min.lastErrorAt,
        lastErrorAt: g._max.lastErrorAt,
        maxConsecutiveFailures: g._max.consecutiveFailures ?? 0,
        description: sample?.lastErrorDescription ?? '',
      };
    }),
  );
  const total = rows.reduce((s, r) => s + r.count, 0);
  if (ctx.json) {
    ctx.out(
      JSON.stringify({
        since: new Date(f.now - f.sinceMs).toISOString(),
        total,
        groups: rows.map((r) => ({
          ...r,
          failingSince: r.failingSince?.toISOString() ?? null,
          lastErrorAt: r.lastErrorAt?.toISOString() ?? null,
        })),
      }),
    );
    return 0;
  }
  if (total === 0) {
    ctx.out(
      `No failed refreshes in the last ${formatDuration(f.sinceMs)}${f.provider ? ` for ${f.provider}` : ''}${f.errorCode ? ` with ${f.errorCode}` : ''}.`,
    );
    return 0;
  }
  for (const line of table(
    ['PROVIDER', 'ERROR', 'COUNT', 'FAILING SINCE', 'LAST FAILURE', 'DESCRIPTION'],
    rows.map((r) => [
      r.provider,
      r.errorCode,
      r.count,
      relative(r.failingSince, f.now),
      relative(r.lastErrorAt, f.now),
      truncate(r.description, 60),
    ]),
  ))
    ctx.out(line);
  ctx.out('');
  ctx.out(
    `${plural(total, 'failed refresh', 'failed refreshes')} in ${plural(rows.length, 'group')} (last ${formatDuration(f.sinceMs)}). Replay with: ops failed replay${f.provider ? ` --provider ${f.provider}` : ''}${f.errorCode ? ` --error ${f.errorCode}` : ''} --dry-run`,
  );
  return 0;
}

export type ReplayResult = 'added' | 'moved' | 'kept' | 'beyond_horizon';
export type SkipWhy = 'needs_reauth' | 'refreshed_since' | 'changed' | 'gone';

async function replay(argv: string[], ctx: OpsContext): Promise<number> {
  const { flags, positionals } = parseFlags(argv, SPEC);
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const f = filterFrom(flags);
  const limit = intFlag(flags.limit, 'limit');
  const dryRun = Boolean(flags['dry-run']);
  await ctx.connect();
  const { db, scheduler } = ctx.daemon;
  const selected = await db.connection.findMany({
    where: failedWhere(f),
    orderBy: [{ lastErrorAt: 'asc' }, { id: 'asc' }],
    take: limit,
    select: { id: true, provider: true, externalId: true, lastErrorCode: true, version: true },
  });
  const done: { id: string; provider: string; externalId: string; errorCode: string | null; queue: ReplayResult }[] =
    [];
  const skipped: { id: string; provider: string; externalId: string; why: SkipWhy }[] = [];

  if (dryRun) {
    if (ctx.json) {
      ctx.out(
        JSON.stringify({
          dryRun: true,
          selected: selected.length,
          wouldReplay: selected.map((s) => ({
            id: s.id,
            provider: s.provider,
            externalId: s.externalId,
            errorCode: s.lastErrorCode,
          })),
        }),
      );
      return 0;
    }
    if (selected.length === 0) {
      ctx.out('Nothing to replay: no failed refreshes match.');
      return 0;
    }
    for (const line of table(
      ['ID', 'PROVIDER', 'EXTERNAL ID', 'ERROR'],
      selected.map((s) => [s.id, s.provider, truncate(s.externalId, 40), s.lastErrorCode]),
    ))
      ctx.out(line);
    ctx.out('');
    ctx.out(`Dry run: would replay ${plural(selected.length, 'connection')}. Nothing was changed.`);
    return 0;
  }

  const total = selected.length;
  let n = 0;
  const progress = () => {
    n++;
    if (ctx.tty) {
      process.stderr.write(`\rreplaying ${progressBar(n, total)}${n === total ? '\n' : ''}`);
    } else if (shouldReportProgress(n, total)) {
      ctx.err(`replay progress: ${n}/${total}`);
    }
  };
  for (const s of selected) {
    // Re-read now: the connection may have been refreshed or marked needs_reauth since the query.
    const cur = await db.connection.findUnique({
      where: { id: s.id },
      select: {
        id: true,
        provider: true,
        status: true,
        version: true,
        lastRefreshedAt: true,
        lastErrorAt: true,
        lastErrorCode: true,
      },
    });
    if (!cur) {
      skipped.push({ ...s, why: 'gone' });
    } else if (cur.status !== 'active') {
      skipped.push({ ...s, why: 'needs_reauth' });
    } else if (refreshedSince(cur) || cur.lastErrorCode === null) {
      skipped.push({ ...s, why: 'refreshed_since' });
    } else {
      const now = new Date();
      // Fenced: only the version we looked at, only while active. A refresh that committed in
      // between bumps the version and this matches nothing.
      const upd = await db.connection.updateMany({
        where: { id: cur.id, version: cur.version, status: 'active' },
        data: { nextRefreshAt: now },
      });
      if (upd.count !== 1) {
        skipped.push({ ...s, why: 'changed' });
      } else {
        const queue = await scheduler.ensure(cur.id, cur.provider, now, 'replay');
        done.push({ ...s, errorCode: cur.lastErrorCode, queue });
      }
    }
    progress();
  }
  // Needs_reauth connections that failed in the window are never replayed: say how many, and why.
  const notReplayable = await db.connection.count({ where: { ...failedWhere(f), status: 'needs_reauth' } });
  const byQueue = (k: ReplayResult) => done.filter((d) => d.queue === k).length;
  const bySkip = (k: SkipWhy) => skipped.filter((d) => d.why === k).length;
  if (ctx.json) {
    ctx.out(
      JSON.stringify({
        dryRun: false,
        selected: total,
        replayed: done.length,
        skipped: skipped.length,
        queue: { added: byQueue('added'), moved: byQueue('moved'), kept: byQueue('kept') },
        skippedBecause: {
          needs_reauth: bySkip('needs_reauth'),
          refreshed_since: bySkip('refreshed_since'),
          changed: bySkip('changed'),
          gone: bySkip('gone'),
        },
        needsReauthNotReplayed: notReplayable,
        connections: done,
        skippedConnections: skipped,
      }),
    );
    return 0;
  }
  const reauthNote = () => {
    if (notReplayable)
      ctx.out(
        `${plural(notReplayable, 'connection')} in this window need re-authorization and were not replayed (a replay cannot revive a dead grant): ops connections list --status needs_reauth, then ops why <id>.`,
      );
  };
  if (total === 0) {
    ctx.out('Nothing to replay: no failed refreshes match.');
    reauthNote();
    return 0;
  }
  const perProvider = new Map<string, number>();
  for (const d of done) perProvider.set(d.provider, (perProvider.get(d.provider) ?? 0) + 1);
  ctx.out(
    `Replayed ${plural(done.length, 'connection')} at ${isoShort(new Date())}: ${byQueue('moved')} queued job(s) moved to now, ${byQueue('added')} added, ${byQueue('kept')} already running or waiting.`,
  );
  if (perProvider.size) ctx.out(`  by provider: ${[...perProvider].map(([p, c]) => `${p} ${c}`).join(', ')}`);
  if (skipped.length) {
    ctx.out(
      `Skipped ${skipped.length}: ${bySkip('needs_reauth')} now needs_reauth, ${bySkip('refreshed_since')} refreshed since, ${bySkip('changed')} changed meanwhile, ${bySkip('gone')} deleted.`,
    );
  }
  reauthNote();
  ctx.out('The workers refresh them now under the usual lock and fence; check with: ops failed list');
  return 0;
}

export const failedCommand: OpsCommand = {
  name: 'failed',
  summary: 'list failed refreshes grouped by provider and error; replay them',
  help: HELP,
  run: subcommands('failed', { list, replay }),
};
