// Gathers what diagnose() needs for one connection, for `ops why` and the console alike: one code
// path, so the browser and the terminal say the same words.
import type { Connection } from '../generated/prisma/client.ts';
import { orgKeyOf, userKeyOf } from '../providers/identity.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { Db } from '../store/db.ts';
import { activeWithError, lastAttempts, peersContaining } from '../store/diagnosis-inputs.ts';
import { readProviderState } from '../store/provider-state.ts';
import type { DiagnoseInput, Peer } from './diagnose-types.ts';

export interface GatheredInput {
  input: DiagnoseInput;
  /** Newest first, as stored (the console's timeline reads more of each row than the diagnosis). */
  attempts: Awaited<ReturnType<typeof lastAttempts>>;
  orgKey: string | undefined;
}

/** Other connections of the same provider whose metadata matches by a key function. */
async function peersBy(
  db: Db,
  provider: string,
  selfId: string,
  keyOf: (md: unknown) => string | undefined,
  key: string,
): Promise<Peer[]> {
  // Keys are substrings of the metadata they were read from, so each narrows its own scan.
  const rows = await peersContaining(db, provider, selfId, key);
  return rows.filter((r) => keyOf(r.metadata) === key).map(({ metadata: _m, ...p }) => p);
}

export async function gatherDiagnoseInput(
  db: Db,
  providers: Pick<ProviderRegistry, 'get'>,
  c: Connection,
  now: number,
): Promise<GatheredInput> {
  const attempts = await lastAttempts(db, c.id, 50);
  const def = providers.get(c.provider);
  const breaker = await readProviderState(db, c.provider).catch(() => null);
  const userKey = userKeyOf(def, c.metadata);
  const orgKey = orgKeyOf(def, c.metadata);
  const sameUser = userKey ? await peersBy(db, c.provider, c.id, (md) => userKeyOf(def, md), userKey) : [];
  const sameOrg = orgKey ? await peersBy(db, c.provider, c.id, (md) => orgKeyOf(def, md), orgKey) : [];
  const providerMisconfigured = c.lastErrorCode ? await activeWithError(db, c.provider, c.lastErrorCode) : 0;
  const input: DiagnoseInput = {
    now,
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
  return { input, attempts, orgKey };
}
