// `connections list` / `connections show`: state, schedule, last attempts.
import { connectTrace } from '../connect-trace.ts';
import type { OpsCommand, OpsContext } from '../types.ts';
import { intFlag, parseFlags, stringFlag, UsageError, subcommands } from '../args.ts';
import { isoShort, plural, relative, table, truncate } from '../format.ts';
import { findConnection } from '../lookup.ts';
import { connectionView } from '../../api/views.ts';

const HELP = `Usage:
  ops connections list [--status active|needs_reauth] [--provider P] [--limit 100] [--json]
  ops connections show <id|externalId> [--provider P] [--attempts 10] [--json]

list  one line per connection: status, version, next refresh, last refresh, failures, last error or
      re-authorization reason. Newest first.
show  everything about one connection (never its tokens): state, schedule (PostgreSQL's
      nextRefreshAt and the queue job's state and run time), the last attempts.

Examples:
  ops connections list --status needs_reauth --provider salesforce
  ops connections show acct-42`;

async function list(argv: string[], ctx: OpsContext): Promise<number> {
  const { flags, positionals } = parseFlags(argv, {
    status: { type: 'string' },
    provider: { type: 'string' },
    limit: { type: 'string' },
  });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const status = stringFlag(flags.status);
  if (status !== undefined && status !== 'active' && status !== 'needs_reauth')
    throw new UsageError('--status must be active or needs_reauth');
  const limit = intFlag(flags.limit, 'limit', 1, 100_000) ?? 100;
  const provider = stringFlag(flags.provider);
  await ctx.connect();
  const where: { status?: 'active' | 'needs_reauth'; provider?: string } = {
    ...(status ? { status } : {}),
    ...(provider ? { provider } : {}),
  };
  const [rows, total] = await Promise.all([
    ctx.daemon.db.connection.findMany({ where, orderBy: [{ createdAt: 'desc' }, { id: 'asc' }], take: limit }),
    ctx.daemon.db.connection.count({ where }),
  ]);
  if (ctx.json) {
    ctx.out(JSON.stringify({ total, shown: rows.length, connections: rows.map(connectionView) }));
    return 0;
  }
  if (rows.length === 0) {
    ctx.out('No connections match.');
    return 0;
  }
  const now = Date.now();
  for (const line of table(
    ['ID', 'PROVIDER', 'EXTERNAL ID', 'STATUS', 'VER', 'NEXT REFRESH', 'LAST REFRESH', 'FAILS', 'PROBLEM'],
    rows.map((r) => [
      r.id,
      r.provider,
      truncate(r.externalId, 32),
      r.status,
      r.version,
      r.status === 'active' ? relative(r.nextRefreshAt, now) : '-',
      relative(r.lastRefreshedAt, now),
      r.consecutiveFailures,
      r.status === 'needs_reauth' ? `reauth: ${r.reauthReason ?? '?'}` : r.lastErrorCode ? `${r.lastErrorCode}` : '',
    ]),
  ))
    ctx.out(line);
  ctx.out('');
  ctx.out(
    `${plural(rows.length, 'connection')} shown of ${total}.${rows.length < total ? ' Use --limit to see more.' : ''}`,
  );
  return 0;
}

/** When a queue job will run: a delayed job's score in the delayed set (BullMQ: ms * 0x1000 + counter). */
async function runAtOf(
  ctx: OpsContext,
  provider: string,
  jobId: string,
  state: string,
  fallback: number,
): Promise<Date> {
  if (state !== 'delayed')
    return new Date(state === 'waiting' || state === 'active' || state === 'prioritized' ? Date.now() : fallback);
  const q = ctx.daemon.queues.refreshQueueFor(provider, jobId);
  const score = await ctx.daemon.queues.connection.zscore(q.keys.delayed, jobId);
  return new Date(score === null ? fallback : Math.floor(Number(score) / 0x1000));
}

async function show(argv: string[], ctx: OpsContext): Promise<number> {
  const { flags, positionals } = parseFlags(argv, { provider: { type: 'string' }, attempts: { type: 'string' } });
  if (positionals.length !== 1) throw new UsageError('give exactly one connection id or externalId');
  const n = intFlag(flags.attempts, 'attempts', 1, 1000) ?? 10;
  await ctx.connect();
  const { db, queues } = ctx.daemon;
  const c = await findConnection(db, positionals[0], stringFlag(flags.provider));
  const attempts = await db.refreshAttempt.findMany({
    where: { connectionId: c.id },
    orderBy: { startedAt: 'desc' },
    take: n,
  });
  const job = await queues.refreshQueueFor(c.provider, c.id).getJob(c.id);
  const jobState = job ? await job.getState() : 'none';
  const jobRunAt = job ? await runAtOf(ctx, c.provider, c.id, jobState, job.timestamp + (job.delay ?? 0)) : null;
  const view = connectionView(c);
  const trace = connectTrace(
    await ctx.daemon.connectSessions.history(c),
    c.provider,
    ctx.daemon.providers.get(c.provider)?.tokenCapPerUser,
    Date.now(),
  );
  const attemptViews = attempts.map((a) => ({
    startedAt: a.startedAt.toISOString(),
    finishedAt: a.finishedAt?.toISOString() ?? null,
    trigger: a.trigger,
    outcome: a.outcome ?? 'unfinished',
    httpStatus: a.httpStatus,
    errorCode: a.errorCode,
    errorDescription: a.errorDescription,
    uncertain: a.uncertain,
    providerRotated: a.providerRotated,
    versionBefore: a.versionBefore,
    versionAfter: a.versionAfter,
    durationMs: a.durationMs,
    commitWindowUs: a.commitWindowUs,
    workerId: a.workerId,
  }));
  if (ctx.json) {
    ctx.out(
      JSON.stringify({
        connection: view,
        queue: {
          job: job ? job.id : null,
          state: jobState,
          runAt: jobRunAt?.toISOString() ?? null,
          trigger: job?.data.trigger ?? null,
        },
        attempts: attemptViews,
        connectFlow: trace,
      }),
    );
    return 0;
  }
  const now = Date.now();
  const kv = (k: string, v: string) => ctx.out(`${(k + ':').padEnd(16)}${v}`);
  kv('Connection', `${c.id}`);
  kv('Provider', `${c.provider}   externalId: ${c.externalId}`);
  kv(
    'Status',
    c.status === 'active'
      ? 'active'
      : `needs_reauth (${c.reauthReason ?? '?'}) since ${isoShort(c.reauthAt)} (${relative(c.reauthAt, now)})`,
  );
  kv('Version', String(c.version));
  kv('Created', `${isoShort(c.createdAt)} (${relative(c.createdAt, now)})`);
  kv(
    'Access token',
    c.expiresAt ? `expires ${isoShort(c.expiresAt)} (${relative(c.expiresAt, now)})` : 'no expiry known',
  );
  kv('Last refresh', `${isoShort(c.lastRefreshedAt)} (${relative(c.lastRefreshedAt, now)})`);
  kv(
    'Next refresh',
    c.status === 'active' ? `${isoShort(c.nextRefreshAt)} (${relative(c.nextRefreshAt, now)})` : '- (not scheduled)',
  );
  kv(
    'Queue job',
    job
      ? `${jobState}, runs ${isoShort(jobRunAt)} (${relative(jobRunAt, now)}), trigger ${job.data.trigger}`
      : c.status === 'active'
        ? 'none yet (the feeder adds it when the refresh is within the horizon)'
        : 'none',
  );
  kv('Failures', c.consecutiveFailures ? `${c.consecutiveFailures} in a row since ${isoShort(c.failingSince)}` : '0');
  if (c.lastErrorCode)
    kv(
      'Last error',
      `${c.lastErrorCode}${c.lastErrorDescription ? `: ${truncate(c.lastErrorDescription, 100)}` : ''} at ${isoShort(c.lastErrorAt)}`,
    );
  const md = JSON.stringify(c.metadata);
  if (md && md !== '{}') kv('Metadata', truncate(md, 160));
  ctx.out('');
  if (attempts.length === 0) {
    ctx.out('No refresh attempts yet.');
  } else {
    ctx.out(`Last ${plural(attempts.length, 'attempt')} (newest first):`);
    for (const line of table(
      ['STARTED', 'TRIGGER', 'OUTCOME', 'HTTP', 'ERROR', 'VERSION', 'MS', 'WORKER'],
      attempts.map((a) => [
        isoShort(a.startedAt),
        a.trigger,
        a.outcome ?? 'UNFINISHED',
        a.httpStatus,
        a.errorCode,
        a.versionAfter !== null ? `${a.versionBefore}->${a.versionAfter}` : String(a.versionBefore),
        a.durationMs,
        truncate(a.workerId, 24),
      ]),
    ))
      ctx.out(`  ${line}`);
  }
  if (trace.lines.length) {
    ctx.out('');
    ctx.out('Connect flow:');
    for (const line of trace.lines) ctx.out(`  ${line}`);
  }
  if (c.status === 'needs_reauth' || c.lastErrorCode) ctx.out(`\nWhy: ops why ${c.id}`);
  return 0;
}

export const connectionsCommand: OpsCommand = {
  name: 'connections',
  summary: 'list connections; show one with its schedule and last attempts',
  help: HELP,
  run: subcommands('connections', { list, show }),
};
