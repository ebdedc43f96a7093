// The invariant checker: compares each fake provider's ledger (every refresh token it issued, the
// current one per grant, every reuse) with what PostgreSQL holds, and explains every loss.
import type { Keyring } from '../../worker/crypto/keyring.ts';
import type { Db } from '../../worker/store/db.ts';
import type { DeathRecord, PauseRecord } from './procs.ts';

export interface LedgerGrant {
  grantId: string;
  status: 'active' | 'revoked';
  revokedBy?: 'user' | 'reuse';
  current: string;
  issued: string[];
}
export interface Ledger {
  grants: LedgerGrant[];
  reuses: Array<{ grantId: string; token: string; at: number }>;
}

export interface TrackedConnection {
  id: string;
  grantId: string;
  provider: string;
}

export type Verdict =
  | { kind: 'healthy' }
  | { kind: 'revoked_ok' }
  | { kind: 'pending'; why: string }
  | { kind: 'lost_explained'; reason: string; why: string }
  | { kind: 'violation'; why: string; falseReauth: boolean };

export interface CheckInput {
  db: Db;
  keyring: Keyring;
  ledgers: Map<string, Ledger>;
  connections: TrackedConnection[];
  revokedByUs: Set<string>;
  deaths: DeathRecord[];
  pauses: PauseRecord[];
  /** Loss reasons that this scenario may produce (explained losses), e.g. rotation_lost_in_crash. */
  allowedLossReasons: Set<string>;
  nowMs: number;
}

const key = (provider: string, grantId: string) => `${provider}/${grantId}`;

export async function judge(inp: CheckInput): Promise<Map<string, Verdict>> {
  const ids = inp.connections.map((c) => c.id);
  const rows = await inp.db.connection.findMany({ where: { id: { in: ids } } });
  const byId = new Map(rows.map((r) => [r.id, r]));
  const grants = new Map<string, LedgerGrant>();
  for (const [provider, l] of inp.ledgers) for (const g of l.grants) grants.set(key(provider, g.grantId), g);
  const out = new Map<string, Verdict>();
  const suspects: string[] = [];
  for (const c of inp.connections) {
    const row = byId.get(c.id);
    const g = grants.get(key(c.provider, c.grantId));
    if (!row || !g) {
      out.set(c.id, {
        kind: 'violation',
        why: `missing ${row ? 'grant in ledger' : 'row in database'}`,
        falseReauth: false,
      });
      continue;
    }
    let stored: string;
    try {
      stored = inp.keyring.decrypt(row.refreshTokenEnc);
    } catch {
      out.set(c.id, { kind: 'violation', why: 'stored refresh token cannot be decrypted', falseReauth: false });
      continue;
    }
    if (inp.revokedByUs.has(c.grantId)) {
      if (row.status === 'needs_reauth' && row.reauthReason === 'revoked') out.set(c.id, { kind: 'revoked_ok' });
      else if (
        row.status === 'needs_reauth' &&
        stored === g.current &&
        ((row.reauthReason === 'rotation_lost_in_flight' &&
          (await inp.db.refreshAttempt.count({
            where: { connectionId: c.id, versionBefore: row.version, uncertain: true },
          })) > 0) ||
          (row.reauthReason === 'rotation_lost_in_crash' &&
            (await inp.db.refreshAttempt.count({
              where: { connectionId: c.id, versionBefore: row.version, finishedAt: null },
            })) > 0))
      ) {
        // Revoked right after an attempt whose result the daemon never learned (a timeout after
        // sending, an unreadable 200, a process killed mid-request): it cannot tell a revocation from
        // a rotation lost in flight or in the crash, and names the latter.
        out.set(c.id, { kind: 'revoked_ok' });
      } else if (row.status === 'active')
        out.set(c.id, { kind: 'pending', why: 'deliberately revoked, not yet marked' });
      else suspects.push(c.id);
      continue;
    }
    if (row.status === 'active' && g.status === 'active' && stored === g.current) {
      if (row.expiresAt && row.expiresAt.getTime() > inp.nowMs) out.set(c.id, { kind: 'healthy' });
      else
        out.set(c.id, {
          kind: 'pending',
          why: `active and current, but access token expired ${row.expiresAt ? inp.nowMs - row.expiresAt.getTime() : '?'} ms ago (not refreshed)`,
        });
      continue;
    }
    if (row.status === 'active') {
      out.set(c.id, {
        kind: 'pending',
        why: `active but stored token is ${g.issued.length - 1 - g.issued.indexOf(stored)} behind the provider's (grant ${g.status}${g.revokedBy ? ` by ${g.revokedBy}` : ''})`,
      });
      continue;
    }
    suspects.push(c.id);
  }
  if (suspects.length === 0) return out;
  // Explain each needs_reauth: the provider rotated past what we stored at most once per attempt on
  // the stored version that was left unfinished (or finished as a lost commit) by a process that was
  // SIGKILLed or frozen after it started, and there is at least one such attempt.
  const attempts = await inp.db.refreshAttempt.findMany({
    where: { connectionId: { in: suspects } },
    orderBy: { startedAt: 'asc' },
  });
  for (const id of suspects) {
    const c = inp.connections.find((x) => x.id === id)!;
    const row = byId.get(id)!;
    const g = grants.get(key(c.provider, c.grantId))!;
    const stored = inp.keyring.decrypt(row.refreshTokenEnc);
    const idx = g.issued.indexOf(stored);
    const behind = idx < 0 ? -1 : g.issued.length - 1 - idx;
    const reason = row.reauthReason ?? '?';
    const onVersion = attempts.filter((a) => a.connectionId === id && a.versionBefore === row.version);
    // A SIGKILL takes down every refresh the process had in flight, not only the one named by the
    // fault line; for that one, the named point must be after_answer (before_call never rotates,
    // after_commit / before_ack come after the commit).
    // Attempt times come from the daemon's clock, which the skew scenarios shift by up to 2.5 s.
    const SKEW = 5000;
    const deathOf = (workerId: string, startedAt: number) =>
      inp.deaths.find(
        (d) =>
          d.workerId === workerId &&
          d.signal === 'SIGKILL' &&
          d.at >= startedAt - SKEW &&
          (d.pointConnection !== id || d.point === 'after_answer'),
      );
    // Every attempt on the stored version whose process died (or froze) before it could commit may
    // have rotated the token once: with an old-token grace window a retry after a first crash is
    // accepted by the provider, and if that process dies too the token ends two rotations ahead.
    const culprits = onVersion.filter((a) => {
      if (!(a.finishedAt === null || (a.providerRotated && a.outcome !== 'rotated') || a.uncertain)) return false;
      const froze = inp.pauses.find((p) => p.workerId === a.workerId && p.at >= a.startedAt.getTime() - SKEW);
      return Boolean(deathOf(a.workerId, a.startedAt.getTime()) || froze);
    });
    const culprit = culprits[0];
    const death = culprit ? deathOf(culprit.workerId, culprit.startedAt.getTime()) : undefined;
    const how = culprit
      ? `${culprit.workerId} ${death ? (death.point && death.pointConnection === id ? `killed at ${death.point}` : `killed while it was in flight${death.point ? ` (the process died at ${death.point} of another refresh)` : ' (random moment)'}`) : 'frozen'}`
      : '';
    // When the same token version also saw an uncertain answer (a timeout after sending, an
    // unreadable 200) the daemon may name that instead: both are real, it cannot tell which one the
    // provider processed.
    const reasonOk =
      inp.allowedLossReasons.has(reason) ||
      (reason === 'rotation_lost_in_flight' &&
        inp.allowedLossReasons.has('rotation_lost_in_crash') &&
        onVersion.some((a) => a.uncertain));
    if (culprit && behind >= 1 && behind <= culprits.length && reason.startsWith('rotation_lost') && reasonOk) {
      const others =
        culprits.length > 1
          ? ` (and ${culprits
              .slice(1)
              .map((a) => a.workerId)
              .join(', ')}, also killed or frozen)`
          : '';
      out.set(id, {
        kind: 'lost_explained',
        reason,
        why: `provider rotated ${behind === 1 ? 'once' : `${behind} times`} past the stored token; attempt ${culprit.id.slice(0, 8)} by ${how}${others} never committed`,
      });
    } else {
      const why =
        `needs_reauth reason=${reason}, stored token ${behind} behind provider (grant ${g.status}${g.revokedBy ? ` by ${g.revokedBy}` : ''}), ` +
        (culprit
          ? `culprit ${how}${reasonOk ? '' : ' (loss not allowed in this scenario)'}`
          : `no killed/frozen attempt on version ${row.version} (${onVersion.map((a) => `${a.workerId}:${a.outcome ?? 'unfinished'}`).join(', ') || 'none'})`);
      out.set(id, { kind: 'violation', why, falseReauth: true });
    }
  }
  return out;
}
