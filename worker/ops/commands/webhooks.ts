// `webhooks list` / `replay` / `resume` / `secret`: the outbox of webhook events (OutboxEvent
// rows), the URLs that answered 410 Gone, and new signing secrets.
import type { Prisma } from '../../generated/prisma/client.ts';
import { isUuid } from '../../util/ids.ts';
import { listGoneEndpoints, resumeEndpoints, type GoneEndpoint } from '../../store/webhook-endpoints.ts';
import { newWebhookSecret } from '../../webhooks/signing.ts';
import type { OpsCommand, OpsContext } from '../types.ts';
import { durationFlag, intFlag, parseFlags, stringFlag, UsageError, subcommands } from '../args.ts';
import { isoShort, plural, relative, table, truncate } from '../format.ts';

const HELP = `Usage:
  ops webhooks list   [--failed | --dead | --pending | --delivered | --all] [--type T] [--since 7d] [--limit N] [--json]
  ops webhooks replay (--id ID[,ID...] | --dead | --failed) [--since 7d] [--dry-run] [--json]
  ops webhooks resume [--dry-run] [--json]
  ops webhooks secret [--json]

Events (connection.needs_reauth, connection.recovered, connection.refresh_failing,
provider.credentials_invalid, provider.credentials_restored) are written to the outbox in the
same transaction as the state change, then delivered to WEBHOOK_URL with retries and exponential
backoff. An event that still fails after WEBHOOK_MAX_AGE_MS (default 48 h) is marked dead.
Deliveries follow the Standard Webhooks spec (docs/webhooks.md). A URL that answers
410 Gone gets no more deliveries (events wait in the outbox) until "webhooks resume".

list    events created within --since; by default every undelivered one (pending, failing, dead).
          --failed     undelivered with at least one failed attempt (includes dead)
          --dead       given up after WEBHOOK_MAX_AGE_MS
          --pending    undelivered, not dead
          --delivered  delivered
          --all        everything
replay  makes events due now again, with a fresh retry period (attempts reset, dead cleared).
          --id         these events (also already delivered ones: they are sent again, same id)
          --dead       every dead event within --since
          --failed     every undelivered event with failed attempts within --since
        A running daemon (worker or scheduler role) delivers them within WEBHOOK_DISPATCH_INTERVAL_MS.
        Receivers dedup by the webhook-id header, so a replay is always safe.
resume  lets deliveries start again to every URL that answered 410 Gone ("webhooks list" shows
        them); the events that waited go out in order.
secret  prints a new signing secret in the Standard Webhooks form (whsec_ + base64 of 32 random
        bytes) for WEBHOOK_SECRET. Needs no configuration. To rotate without a gap, set
        WEBHOOK_SECRETS="<new> <old>" (both sign), give the receiver the new one, then drop the old.

Examples:
  ops webhooks list --failed
  ops webhooks replay --dead --dry-run
  ops webhooks replay --id 3f0c...
  ops webhooks secret`;

const SPEC = {
  failed: { type: 'boolean' as const },
  dead: { type: 'boolean' as const },
  pending: { type: 'boolean' as const },
  delivered: { type: 'boolean' as const },
  all: { type: 'boolean' as const },
  type: { type: 'string' as const },
  since: { type: 'string' as const },
  limit: { type: 'string' as const },
  id: { type: 'string' as const },
  'dry-run': { type: 'boolean' as const },
};

type Flags = Record<string, string | boolean | undefined>;

function stateOf(e: { deliveredAt: Date | null; deadAt: Date | null; attempts: number }): string {
  if (e.deliveredAt) return 'delivered';
  if (e.deadAt) return 'dead';
  return e.attempts > 0 ? 'failing' : 'pending';
}

function listWhere(flags: Flags, now: number): Prisma.OutboxEventWhereInput {
  const chosen = (['failed', 'dead', 'pending', 'delivered', 'all'] as const).filter((k) => flags[k] === true);
  if (chosen.length > 1) throw new UsageError(`choose one of --${chosen.join(', --')}`);
  const since = new Date(now - durationFlag(flags.since, 'since', 7 * 86_400_000));
  const type = stringFlag(flags.type);
  const base: Prisma.OutboxEventWhereInput = { createdAt: { gte: since }, ...(type ? { type } : {}) };
  switch (chosen[0]) {
    case 'failed':
      return { ...base, deliveredAt: null, attempts: { gt: 0 } };
    case 'dead':
      return { ...base, deadAt: { not: null } };
    case 'pending':
      return { ...base, deliveredAt: null, deadAt: null };
    case 'delivered':
      return { ...base, deliveredAt: { not: null } };
    case 'all':
      return base;
    default:
      return { ...base, deliveredAt: null };
  }
}

async function list(argv: string[], ctx: OpsContext): Promise<number> {
  const { flags, positionals } = parseFlags(argv, SPEC);
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (flags.id !== undefined || flags['dry-run'])
    throw new UsageError('--id and --dry-run belong to "webhooks replay"');
  const limit = intFlag(flags.limit, 'limit', 1, 10_000) ?? 50;
  const now = Date.now();
  const where = listWhere(flags, now);
  await ctx.connect();
  const db = ctx.daemon.db;
  const [events, matched, counts, gone] = await Promise.all([
    db.outboxEvent.findMany({ where, orderBy: { createdAt: 'desc' }, take: limit }),
    db.outboxEvent.count({ where }),
    db.$queryRaw<{ pending: bigint; failing: bigint; dead: bigint }[]>`
      SELECT count(*) FILTER (WHERE "deliveredAt" IS NULL AND "deadAt" IS NULL AND "attempts" = 0) AS pending,
             count(*) FILTER (WHERE "deliveredAt" IS NULL AND "deadAt" IS NULL AND "attempts" > 0) AS failing,
             count(*) FILTER (WHERE "deadAt" IS NOT NULL AND "deliveredAt" IS NULL) AS dead
      FROM "OutboxEvent"`,
    listGoneEndpoints(db),
  ]);
  const totals = {
    pending: Number(counts[0]?.pending ?? 0),
    failing: Number(counts[0]?.failing ?? 0),
    dead: Number(counts[0]?.dead ?? 0),
  };
  if (ctx.json) {
    ctx.out(
      JSON.stringify({
        totals,
        matched,
        gone: gone.map((g) => ({ url: g.url, urlHash: g.urlHash, goneAt: g.goneAt.toISOString(), eventId: g.eventId })),
        events: events.map((e) => ({
          id: e.id,
          type: e.type,
          state: stateOf(e),
          connectionId: e.connectionId,
          provider: e.provider,
          createdAt: e.createdAt.toISOString(),
          attempts: e.attempts,
          lastStatus: e.lastStatus,
          lastError: e.lastError,
          nextAttemptAt: e.nextAttemptAt.toISOString(),
          deliveredAt: e.deliveredAt?.toISOString() ?? null,
          deadAt: e.deadAt?.toISOString() ?? null,
        })),
      }),
    );
    return 0;
  }
  ctx.out(`outbox: ${totals.pending} pending, ${totals.failing} failing, ${totals.dead} dead (all time)`);
  for (const l of goneLines(gone)) ctx.out(l);
  if (events.length === 0) {
    ctx.out('no matching events');
    return 0;
  }
  const rows = events.map((e) => [
    e.id,
    e.type,
    stateOf(e),
    e.connectionId ?? e.provider ?? '-',
    isoShort(e.createdAt),
    e.attempts,
    e.lastStatus ?? '-',
    truncate(e.lastError ?? '', 40) || '-',
    e.deliveredAt || e.deadAt ? '-' : relative(e.nextAttemptAt, now),
  ]);
  for (const l of table(
    ['EVENT', 'TYPE', 'STATE', 'CONNECTION/PROVIDER', 'CREATED', 'ATTEMPTS', 'STATUS', 'LAST ERROR', 'NEXT TRY'],
    rows,
  ))
    ctx.out(l);
  if (matched > events.length) ctx.out(`... ${matched - events.length} more (use --limit or --json)`);
  return 0;
}

function goneLines(gone: GoneEndpoint[]): string[] {
  if (gone.length === 0) return [];
  return [
    `deliveries stopped: ${plural(gone.length, 'URL')} answered 410 Gone (start again with "ops webhooks resume"):`,
    ...gone.map((g) => `  ${g.url}  since ${isoShort(g.goneAt)}  (event ${g.eventId})`),
  ];
}

async function resume(argv: string[], ctx: OpsContext): Promise<number> {
  const { flags, positionals } = parseFlags(argv, { 'dry-run': { type: 'boolean' as const } });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  await ctx.connect();
  const gone = await listGoneEndpoints(ctx.daemon.db);
  const n = flags['dry-run']
    ? gone.length
    : await resumeEndpoints(
        ctx.daemon.db,
        gone.map((g) => g.urlHash),
        new Date(),
      );
  if (ctx.json)
    ctx.out(JSON.stringify({ dryRun: flags['dry-run'] === true, resumed: gone.map((g) => g.url), count: n }));
  else if (gone.length === 0) ctx.out('no URL answered 410 Gone: nothing to resume');
  else
    ctx.out(
      `${flags['dry-run'] ? 'would resume' : 'resumed'} deliveries to ${plural(n, 'URL')}: ${gone.map((g) => g.url).join(', ')}`,
    );
  return 0;
}

async function secret(argv: string[], ctx: OpsContext): Promise<number> {
  const { positionals } = parseFlags(argv, {});
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const s = newWebhookSecret();
  if (ctx.json) ctx.out(JSON.stringify({ secret: s }));
  else {
    ctx.out(s);
    ctx.err('Set it as WEBHOOK_SECRET and give the same value to the receiver (see docs/webhooks.md).');
  }
  return 0;
}

async function replay(argv: string[], ctx: OpsContext): Promise<number> {
  const { flags, positionals } = parseFlags(argv, SPEC);
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const ids = stringFlag(flags.id)
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const modes = [ids ? 'id' : null, flags.dead ? 'dead' : null, flags.failed ? 'failed' : null].filter(Boolean);
  if (modes.length !== 1) throw new UsageError('choose exactly one of --id, --dead, --failed');
  if (flags.pending || flags.delivered || flags.all || flags.limit !== undefined)
    throw new UsageError('--pending, --delivered, --all and --limit belong to "webhooks list"');
  for (const id of ids ?? []) if (!isUuid(id)) throw new UsageError(`--id: "${id}" is not an event id (uuid)`);
  const since = new Date(Date.now() - durationFlag(flags.since, 'since', 7 * 86_400_000));
  const where: Prisma.OutboxEventWhereInput = ids
    ? { id: { in: ids } }
    : flags.dead
      ? { deadAt: { not: null }, deliveredAt: null, createdAt: { gte: since } }
      : { deliveredAt: null, attempts: { gt: 0 }, createdAt: { gte: since } };
  await ctx.connect();
  const db = ctx.daemon.db;
  const selected = await db.outboxEvent.findMany({
    where,
    select: { id: true, type: true, deliveredAt: true, deadAt: true, attempts: true },
    orderBy: { createdAt: 'asc' },
  });
  const missing = ids ? ids.filter((id) => !selected.some((s) => s.id === id)) : [];
  if (flags['dry-run']) {
    if (ctx.json)
      ctx.out(
        JSON.stringify({
          dryRun: true,
          wouldReplay: selected.map((s) => ({ id: s.id, type: s.type, state: stateOf(s) })),
          notFound: missing,
        }),
      );
    else {
      ctx.out(`would replay ${plural(selected.length, 'event')}`);
      for (const s of selected) ctx.out(`  ${s.id}  ${s.type}  ${stateOf(s)}`);
      if (missing.length) ctx.out(`not found: ${missing.join(', ')}`);
    }
    return missing.length ? 1 : 0;
  }
  const res = await db.outboxEvent.updateMany({
    where: { id: { in: selected.map((s) => s.id) } },
    data: { deliveredAt: null, deadAt: null, attempts: 0, nextAttemptAt: new Date() },
  });
  if (ctx.json) ctx.out(JSON.stringify({ replayed: res.count, ids: selected.map((s) => s.id), notFound: missing }));
  else {
    ctx.out(`replayed ${plural(res.count, 'event')}: due now, delivered by the running dispatcher`);
    if (missing.length) ctx.out(`not found: ${missing.join(', ')}`);
  }
  return missing.length ? 1 : 0;
}

export const webhooksCommand: OpsCommand = {
  name: 'webhooks',
  summary: 'webhook outbox: list failed/dead deliveries, replay them, resume a URL that answered 410, new secret',
  help: HELP,
  needsConfig: (argv) => argv[0] !== 'secret',
  run: subcommands('webhooks', { list, replay, resume, secret }),
};
