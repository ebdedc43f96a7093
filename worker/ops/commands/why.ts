// `why <id|externalId>`: the diagnosis of a disconnection (or of a failing connection), in plain
// words, from the attempt history, the row, sibling connections and provider facts.
import type { OpsCommand } from '../types.ts';
import { parseFlags, stringFlag, UsageError } from '../args.ts';
import { isoShort, relative } from '../format.ts';
import { findConnection } from '../lookup.ts';
import { diagnose } from '../diagnose.ts';
import { gatherDiagnoseInput } from '../diagnose-input.ts';
import { connectTrace } from '../connect-trace.ts';

const HELP = `Usage:
  ops why <id|externalId> [--provider P] [--json]

Explains why a connection was disconnected (needs_reauth) or why it is failing, in plain words,
with the next step. Draws on the connection's attempt history, its sibling connections (same
provider user, same Salesforce org or Slack team) and what is known about the provider:
  revoked by the user or an admin; refresh token expired or idle too long; a lost race (handled);
  rotation lost in a crash / in flight / at commit; client credentials wrong for the whole
  provider; too many tokens for one user (Salesforce keeps 5, Google 100) after a reconnect; an
  org-wide Salesforce policy ("Immediately expire refresh token") when a whole org fails together.

Examples:
  ops why 3f1c9a7e-5b2d-4c1e-9f00-2a7b8c9d0e1f
  ops why acct-42 --provider salesforce`;

export const whyCommand: OpsCommand = {
  name: 'why',
  summary: 'explain a disconnection (or failure) in plain words, with the next step',
  help: HELP,
  async run(argv, ctx) {
    const { flags, positionals } = parseFlags(argv, { provider: { type: 'string' } });
    if (positionals.length !== 1) throw new UsageError('give exactly one connection id or externalId');
    await ctx.connect();
    const { db, providers } = ctx.daemon;
    const c = await findConnection(db, positionals[0], stringFlag(flags.provider));
    const { input, attempts, orgKey } = await gatherDiagnoseInput(db, providers, c, Date.now());
    const { sameUser, sameOrg } = input;
    const def = providers.get(c.provider);
    const d = diagnose(input);
    const trace = connectTrace(
      await ctx.daemon.connectSessions.history(c),
      c.provider,
      ctx.daemon.providers.get(c.provider)?.tokenCapPerUser,
      Date.now(),
    );
    if (ctx.json) {
      ctx.out(
        JSON.stringify({
          connection: {
            id: c.id,
            provider: c.provider,
            externalId: c.externalId,
            status: c.status,
            reauthReason: c.reauthReason,
            reauthAt: c.reauthAt?.toISOString() ?? null,
            version: c.version,
          },
          diagnosis: d,
          connectFlow: trace,
          context: {
            attempts: attempts.length,
            sameUser: sameUser.length,
            sameOrg: sameOrg.length,
            org: orgKey ?? null,
            orgName: def?.org?.name ?? null,
          },
        }),
      );
      return 0;
    }
    const now = Date.now();
    const state =
      c.status === 'active' ? 'active' : `needs_reauth since ${isoShort(c.reauthAt)} (${relative(c.reauthAt, now)})`;
    ctx.out(`Connection ${c.id} (${c.provider} / ${c.externalId}): ${state}`);
    ctx.out('');
    ctx.out(`Diagnosis: ${d.headline}.`);
    for (const line of d.details) ctx.out(`  - ${line}`);
    if (d.handled) ctx.out('Handled: yes, the daemon dealt with it; no data was lost.');
    ctx.out('');
    ctx.out(`Next step: ${d.nextStep}`);
    if (trace.lines.length) {
      ctx.out('');
      ctx.out('Connect flow:');
      for (const line of trace.lines) ctx.out(`  - ${line}`);
    }
    return 0;
  },
};
