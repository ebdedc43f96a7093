// Why a grant read dead (refresh/explain.ts), table-driven over attempt histories.
import { describe, expect, it } from 'vitest';
import type { ReauthReason } from '../../worker/oauth/answer.ts';
import { explainDeadGrant, type AttemptFacts, type DeadGrantEvidence } from '../../worker/refresh/explain.ts';

const fact = (o: Partial<AttemptFacts>): AttemptFacts => ({
  versionBefore: 4,
  versionAfter: null,
  outcome: null,
  finishedAt: new Date(0),
  errorCode: null,
  uncertain: false,
  providerRotated: false,
  ...o,
});
// On version 4 (the one before the dead version 5).
const lateRotation = fact({ outcome: 'rotated', versionAfter: 5, providerRotated: true });
const refusedOld = fact({ outcome: 'lost_race', errorCode: 'invalid_grant' });
const lostCommitRace = fact({ outcome: 'lost_race', providerRotated: true });
const ev = (o: Partial<DeadGrantEvidence>): DeadGrantEvidence => ({
  version: 5,
  unresolvedPrior: null,
  previousVersion: [],
  ...o,
});

describe('explainDeadGrant', () => {
  const cases: [string, ReauthReason, DeadGrantEvidence, ReauthReason][] = [
    ['no history: the provider is right', 'revoked', ev({}), 'revoked'],
    ['expired stays expired', 'expired', ev({ previousVersion: [lateRotation] }), 'expired'],
    [
      'a crash on this version',
      'revoked',
      ev({ unresolvedPrior: fact({ versionBefore: 5, finishedAt: null }) }),
      'rotation_lost_in_crash',
    ],
    [
      'an answer lost in flight',
      'revoked',
      ev({ unresolvedPrior: fact({ versionBefore: 5, uncertain: true, outcome: 'transient' }) }),
      'rotation_lost_in_flight',
    ],
    [
      'a rotation the database could not store',
      'revoked',
      ev({ unresolvedPrior: fact({ versionBefore: 5, providerRotated: true, outcome: 'lost_race' }) }),
      'rotation_lost_commit_failed',
    ],
    [
      'a pause: the old token was refused while its rotation waited to commit',
      'revoked',
      ev({ previousVersion: [lateRotation, refusedOld] }),
      'rotation_lost_in_pause',
    ],
    [
      'a pause, the provider said expired',
      'expired',
      ev({ previousVersion: [refusedOld, lateRotation] }),
      'rotation_lost_in_pause',
    ],
    [
      'refused old token, but the app stored this version (no rotation made it)',
      'revoked',
      ev({ previousVersion: [refusedOld] }),
      'revoked',
    ],
    [
      'a rotation and a lost commit race (no dead-grant answer)',
      'revoked',
      ev({ previousVersion: [lateRotation, lostCommitRace] }),
      'revoked',
    ],
    [
      'the rotation made another version',
      'revoked',
      ev({ previousVersion: [fact({ outcome: 'rotated', versionAfter: 6 }), refusedOld] }),
      'revoked',
    ],
    [
      'the user must act: never ours',
      'interaction_required',
      ev({ previousVersion: [lateRotation, refusedOld] }),
      'interaction_required',
    ],
    [
      'a crash explains it before a pause',
      'revoked',
      ev({
        unresolvedPrior: fact({ versionBefore: 5, finishedAt: null }),
        previousVersion: [lateRotation, refusedOld],
      }),
      'rotation_lost_in_crash',
    ],
  ];
  it.each(cases)('%s', (_name, reason, evidence, expected) => {
    expect(explainDeadGrant(reason, evidence)).toBe(expected);
  });
});
