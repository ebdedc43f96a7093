// `refresh <id|externalId>`: one forced refresh now, through the same single-flight path as the
// API (per-connection Redis lock, version fence) and the same provider gate as every refresh (the
// credential breaker, the provider's concurrency and pacing; ops/context.ts), then the queue job is
// set to the next plan. `--force` bypasses the breaker, deliberately and saying so.
import type { OpsCommand } from '../types.ts';
import { parseFlags, stringFlag, UsageError } from '../args.ts';
import { findConnection } from '../lookup.ts';
import { outcomeView } from '../../api/views.ts';
import { isoShort } from '../format.ts';
import { readProviderState } from '../../store/provider-state.ts';

const HELP = `Usage:
  ops refresh <id|externalId> [--provider P] [--force] [--json]

Refreshes one connection now (trigger "forced"), whatever its schedule, through the normal
single-flight path: if a worker is refreshing it at this moment, waits for that result instead of
calling the provider twice. Prints the outcome. A needs_reauth connection is not refreshed.

Like every refresh it passes the provider's gate: while the provider's credential breaker is open
(the provider rejected our client credentials) it is not sent, and the provider's concurrency and
pace apply. --force sends it even with the breaker open, e.g. to test fixed credentials at once;
a success closes the breaker.

Example:
  ops refresh acct-42
  ops refresh acct-42 --force`;

export const refreshCommand: OpsCommand = {
  name: 'refresh',
  summary: 'refresh one connection now (single-flight, fenced)',
  help: HELP,
  async run(argv, ctx) {
    const { flags, positionals } = parseFlags(argv, { provider: { type: 'string' }, force: { type: 'boolean' } });
    const force = flags.force === true;
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
    const breaker = (await readProviderState(db, c.provider))?.breakerState ?? 'closed';
    if (force && !ctx.json)
      ctx.err(
        `--force: bypassing the credential breaker of ${c.provider} (${breaker})${breaker === 'closed' ? '' : '; this request goes to the provider with the client credentials it rejected last'}`,
      );
    const out = await onDemand.refresh(c.id, 'forced', undefined, { bypassBreaker: force });
    const after = await db.connection.findUnique({ where: { id: c.id } });
    if (after?.status === 'active') await scheduler.ensure(after.id, after.provider, after.nextRefreshAt);
    const view = outcomeView(out);
    if (ctx.json) {
      ctx.out(
        JSON.stringify({
          id: c.id,
          ...view,
          versionBefore: c.version,
          version: after?.version ?? null,
          ...(force ? { forced: true, breakerBypassed: breaker } : {}),
        }),
      );
    } else {
      const detail = 'code' in out ? ` ${out.code}${out.description ? `: ${out.description}` : ''}` : '';
      ctx.out(`${c.id} (${c.provider} / ${c.externalId}): ${out.outcome}${detail}`);
      if (out.outcome === 'skipped' && out.why === 'breaker_open') {
        ctx.out(
          `  not sent: the credential breaker of ${c.provider} is open (see: ops providers); fix the client credentials, or send it anyway with --force`,
        );
      }
      ctx.out(
        `  version ${c.version} -> ${after?.version ?? '?'}; next refresh ${isoShort(after?.nextRefreshAt ?? null)}${after?.status === 'needs_reauth' ? `; now needs_reauth (${after.reauthReason}), see: ops why ${c.id}` : ''}`,
      );
    }
    return out.outcome === 'rotated' || out.outcome === 'lost_race' ? 0 : 1;
  },
};
