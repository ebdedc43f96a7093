// `why <id|externalId>`: the diagnosis of a disconnection (or of a failing connection), in plain
// words, from the attempt history, the row, sibling connections and provider facts.
import type { OpsCommand } from '../types.ts';
import { parseFlags, stringFlag, UsageError } from '../args.ts';
import { isoShort, relative } from '../format.ts';
import { findConnection } from '../lookup.ts';
import { diagnose, type DiagnoseInput, type Peer } from '../diagnose.ts';
import { orgKeyOf, userKeyOf } from '../../providers/identity.ts';
import type { Db } from '../../store/db.ts';

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

/** Other connections of the same provider whose metadata matches by a key function (bounded scan). */
async function peersBy(
  db: Db,
  provider: string,
  selfId: string,
  keyOf: (md: unknown) => string | undefined,
  key: string,
  hint: string,
): Promise<Peer[]> {
  // Narrow in SQL by a metadata substring (the org id / user id), then match exactly in code.
  const like = `%${hint.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;
  const rows = await db.$queryRaw<(Peer & { metadata: unknown })[]>`
    SELECT "id"::text AS id, "externalId", "status"::text AS status, "createdAt", "reauthAt", "metadata"
    FROM "Connection"
    WHERE "provider" = ${provider} AND "id" <> ${selfId}::uuid AND "metadata"::text LIKE ${like}
    LIMIT 5000`;
  return rows.filter((r) => keyOf(r.metadata) === key).map(({ metadata: _m, ...p }) => p);
}

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
    const attempts = await db.refreshAttempt.findMany({
      where: { connectionId: c.id },
      orderBy: { startedAt: 'desc' },
      take: 50,
    });
    const def = providers.get(c.provider);
    const breaker = await db.providerState.findUnique({ where: { provider: c.provider } }).catch(() => null);
    const userKey = userKeyOf(def, c.metadata);
    const orgKey = orgKeyOf(def, c.metadata);
    // Keys are substrings of the metadata they were read from, so each narrows its own scan.
    const sameUser = userKey ? await peersBy(db, c.provider, c.id, (md) => userKeyOf(def, md), userKey, userKey) : [];
    const sameOrg = orgKey ? await peersBy(db, c.provider, c.id, (md) => orgKeyOf(def, md), orgKey, orgKey) : [];
    const providerMisconfigured = c.lastErrorCode
      ? await db.connection.count({ where: { provider: c.provider, status: 'active', lastErrorCode: c.lastErrorCode } })
      : 0;
    const input: DiagnoseInput = {
      now: Date.now(),
      connection: { ...c, metadata: c.metadata },
      attempts,
      provider: def
        ? {
            key: def.key,
            displayName: def.displayName,
            configured: def.configured,
            idleLifetimeSec: def.idleLifetimeSec,
            tokenCapPerUser: def.tokenCapPerUser,
            org: def.org,
            fixedGrantLifetimes: def.fixedGrantLifetimes,
          }
        : null,
      breaker: breaker
        ? { state: breaker.breakerState, lastErrorCode: breaker.lastErrorCode, openedAt: breaker.openedAt }
        : null,
      sameUser,
      sameOrg,
      providerMisconfigured,
    };
    const d = diagnose(input);
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
    return 0;
  },
};
