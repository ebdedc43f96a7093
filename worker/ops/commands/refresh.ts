// `refresh <id|externalId>`: one forced refresh now, through the same single-flight path as the
// API (per-connection Redis lock, version fence), then the queue job is set to the next plan.
import type { OpsCommand } from '../types.ts';
import { parseFlags, stringFlag, UsageError } from '../args.ts';
import { findConnection } from '../lookup.ts';
import { outcomeView } from '../../api/views.ts';
import { isoShort } from '../format.ts';

const HELP = `Usage:
  ops refresh <id|externalId> [--provider P] [--json]

Refreshes one connection now (trigger "forced"), whatever its schedule, through the normal
single-flight path: if a worker is refreshing it at this moment, waits for that result instead of
calling the provider twice. Prints the outcome. A needs_reauth connection is not refreshed.

Example:
  ops refresh acct-42`;

export const refreshCommand: OpsCommand = {
  name: 'refresh',
  summary: 'refresh one connection now (single-flight, fenced)',
  help: HELP,
  async run(argv, ctx) {
    const { flags, positionals } = parseFlags(argv, { provider: { type: 'string' } });
    if (positionals.length !== 1) throw new UsageError('give exactly one connection id or externalId');
    await ctx.connect();
    const { db, onDemand, scheduler } = ctx.daemon;
    const c = await findConnection(db, positionals[0], stringFlag(flags.provider));
    if (c.status !== 'active') {
      if (ctx.json)
        ctx.out(JSON.stringify({ id: c.id, refreshed: false, status: c.status, reauthReason: c.reauthReason }));
      else
        ctx.out(
          `Not refreshed: ${c.id} is ${c.status} (${c.reauthReason ?? '?'}); the user must reconnect. See: ops why ${c.id}`,
        );
      return 1;
    }
    const out = await onDemand.refresh(c.id, 'forced');
    const after = await db.connection.findUnique({ where: { id: c.id } });
    if (after?.status === 'active') await scheduler.ensure(after.id, after.provider, after.nextRefreshAt);
    const view = outcomeView(out);
    if (ctx.json) {
      ctx.out(JSON.stringify({ id: c.id, ...view, versionBefore: c.version, version: after?.version ?? null }));
    } else {
      const detail = 'code' in out ? ` ${out.code}${out.description ? `: ${out.description}` : ''}` : '';
      ctx.out(`${c.id} (${c.provider} / ${c.externalId}): ${out.outcome}${detail}`);
      ctx.out(
        `  version ${c.version} -> ${after?.version ?? '?'}; next refresh ${isoShort(after?.nextRefreshAt ?? null)}${after?.status === 'needs_reauth' ? `; now needs_reauth (${after.reauthReason}), see: ops why ${c.id}` : ''}`,
      );
    }
    return out.outcome === 'rotated' || out.outcome === 'lost_race' ? 0 : 1;
  },
};
