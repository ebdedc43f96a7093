// Why a grant read dead: the provider's reason, or a loss of ours the attempt history explains.
// Pure: the refresher loads the history (store/connections.ts), `why` reuses lostInPause.
import type { ReauthReason } from '../oauth/answer.ts';

/** What the explanation reads of one attempt. */
export interface AttemptFacts {
  versionBefore: number;
  versionAfter: number | null;
  outcome: string | null;
  finishedAt: Date | null;
  errorCode: string | null;
  uncertain: boolean;
  providerRotated: boolean;
}

export interface DeadGrantEvidence {
  /** The connection's token version the dead-grant answer was for. */
  version: number;
  /** The earliest earlier attempt on that version whose result we never learned or could not store. */
  unresolvedPrior: AttemptFacts | null;
  /** Attempts on the version before it (empty for version 1). */
  previousVersion: readonly AttemptFacts[];
}

/**
 * A whole-fleet pause past a grace window: a process held a rotated token (its commit landed late,
 * making `version`), and meanwhile another refresh presented the previous token and read a dead
 * grant (its mark lost the race to the late commit). The provider's reuse detection then revoked
 * the grant, so a dead grant on `version` is ours. Requiring the rotation that made `version` keeps
 * out a version the app stored after a real revocation.
 */
export function lostInPause(previousVersion: readonly AttemptFacts[], version: number): boolean {
  const rotatedHere = previousVersion.some(
    (a) => a.versionBefore === version - 1 && a.outcome === 'rotated' && a.versionAfter === version,
  );
  const refusedOld = previousVersion.some(
    (a) => a.versionBefore === version - 1 && a.outcome === 'lost_race' && a.errorCode !== null && !a.providerRotated,
  );
  return rotatedHere && refusedOld;
}

/** The reason a connection is marked needs_reauth after a dead-grant answer. */
export function explainDeadGrant(answerReason: ReauthReason, e: DeadGrantEvidence): ReauthReason {
  // The user must act (MFA, password): no loss of ours explains that.
  if (answerReason === 'interaction_required' || answerReason === 'authentication_failure') return answerReason;
  const prior = e.unresolvedPrior;
  if (prior) {
    if (prior.finishedAt === null) return 'rotation_lost_in_crash';
    if (prior.providerRotated) return 'rotation_lost_commit_failed';
    return 'rotation_lost_in_flight';
  }
  if (lostInPause(e.previousVersion, e.version)) return 'rotation_lost_in_pause';
  return answerReason;
}
