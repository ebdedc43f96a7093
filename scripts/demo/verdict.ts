// The verdict: after the run, the invariants checked against the provider's own records: no
// refresh token spent twice, exactly the revoked connection needs re-authorization, every other
// one holds the provider's current tokens, every token served on demand was valid.
import type { Ledger, ProviderStats } from '../../test/fakes/fake-provider.ts';
import type { Load } from './load.ts';
import { reconnectWalk } from './reconnect.ts';
import { awaitRevocationSeen } from './revocation.ts';
import type { Stage } from './stage.ts';
import { PROVIDER_KEY, type ApiReply, type Check, type Conn } from './types.ts';
import { mapLimit } from './util.ts';
import type { Watch } from './watch.ts';

export interface Verdict {
  checks: Check[];
  /** Why each lost connection (by id) counts as lost, the first reason found. */
  lostWhy: Map<string, string>;
  reauth: Conn[];
  finalStats: ProviderStats;
}

type Lose = (c: Conn, why: string) => void;

export async function checkInvariants(s: Stage, watch: Watch, load: Load): Promise<Verdict> {
  const { say, st, ok, bad } = s.ui;
  say('');
  say(st.bold('Checking the invariants'));
  const others = s.conns.filter((c) => c !== watch.victim);
  await awaitRevocationSeen(s, watch);
  const lostWhy = new Map<string, string>();
  const lose: Lose = (c, why) => {
    if (!lostWhy.has(c.id)) lostWhy.set(c.id, why);
  };
  await forcedRefreshes(s, others, lose);
  await tokensAccepted(s, others, lose);
  const ledger = await versionsMatch(s, watch, others, lose);

  const finalStats = s.fake.stats();
  const reauth = s.conns.filter((c) => c.status === 'needs_reauth');
  const checks: Check[] = [
    reuseCheck(finalStats, ledger),
    await victimCheck(s, watch, reauth),
    othersCheck(s, others, lostWhy),
    onDemandCheck(load),
  ];
  const victimCheckResult = checks[1];
  if (watch.victim && victimCheckResult.ok) checks.push(await reconnectCheck(s, watch.victim));
  checks.push({
    name: 'the daemon kept running',
    ok: s.daemon.running,
    detail: s.daemon.running ? `pid ${s.daemon.pid}` : `exited with ${s.daemon.exitCode ?? s.daemon.exitSignal}`,
  });
  for (const c of checks) say(`  ${c.ok ? ok : bad} ${c.name}: ${st.dim(c.detail)}`);
  if (load.errorSamples.length)
    say(`  ${st.yellow('!')} on-demand errors (not counted as a failure): ${load.errorSamples.join('; ')}`);
  return { checks, lostWhy, reauth, finalStats };
}

// 1. A forced refresh of every other connection: it succeeds only if the refresh token the daemon
//    stored is the provider's current one (a stale one is a reuse and kills the grant).
async function forcedRefreshes(s: Stage, others: Conn[], lose: Lose): Promise<void> {
  await mapLimit(others, 6, async (c) => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const r = await s
        .api('POST', `/v1/connections/${c.id}/refresh`)
        .catch((e: Error) => ({ status: 0, body: { outcome: e.message } }));
      const outcome = r.body?.outcome;
      if (r.status === 200 && (outcome === 'rotated' || outcome === 'lost_race')) return;
      if (r.status === 200 && outcome === 'transient' && attempt < 2) {
        await s.run.sleep(500);
        continue;
      }
      lose(c, `forced refresh answered ${r.status} ${outcome ?? JSON.stringify(r.body)}`);
      return;
    }
  });
}

// 2. A token for every other connection, checked at the provider.
async function tokensAccepted(s: Stage, others: Conn[], lose: Lose): Promise<void> {
  await mapLimit(others, 6, async (c) => {
    const r = await s
      .api('GET', `/v1/connections/${c.id}/token?min_valid_seconds=1`)
      .catch((e: Error) => ({ status: 0, body: { error: e.message } }));
    if (r.status !== 200) return lose(c, `GET /token answered ${r.status} ${JSON.stringify(r.body)}`);
    const info = s.fake.checkAccessToken(String((r.body as { access_token?: unknown }).access_token));
    if (!info.active || info.grantId !== c.grantId)
      lose(c, `the provider rejects its access token (${info.reason ?? 'wrong grant'})`);
  });
}

// 3. Every token the provider issued was stored: version - 1 == rotations at the provider.
//    (A refresh may still be finishing, so give the two a moment to agree.)
async function versionsMatch(s: Stage, watch: Watch, others: Conn[], lose: Lose): Promise<Ledger> {
  let mismatched: Conn[] = [];
  for (let attempt = 0; attempt < 10; attempt++) {
    await watch.poll();
    const grants = new Map(s.fake.ledger().grants.map((g) => [g.grantId, g]));
    mismatched = others.filter((c) => {
      const g = grants.get(c.grantId);
      return !g || g.status !== 'active' || c.status !== 'active' || c.version - 1 !== g.issued.length - 1;
    });
    if (!mismatched.length) break;
    await s.run.sleep(500);
  }
  const ledger = s.fake.ledger();
  const grants = new Map(ledger.grants.map((g) => [g.grantId, g]));
  for (const c of mismatched) {
    const g = grants.get(c.grantId);
    if (c.status !== 'active') lose(c, `status ${c.status}${c.reauthReason ? ` (${c.reauthReason})` : ''}`);
    else if (!g || g.status !== 'active')
      lose(c, `its grant is ${g?.status ?? 'unknown'} at the provider${g?.revokedBy ? ` (by ${g.revokedBy})` : ''}`);
    else lose(c, `stored version ${c.version} but the provider rotated ${g.issued.length - 1} times`);
  }
  return ledger;
}

// 4. The revoked connection is brought back through the hosted connect flow, same id, active again.
async function reconnectCheck(s: Stage, victim: Conn): Promise<Check> {
  s.ui.say('');
  s.ui.say(s.ui.st.bold(`Reconnecting ${victim.label} through the hosted connect flow`));
  const r = await reconnectWalk({
    api: s.api,
    provider: PROVIDER_KEY,
    connectionId: victim.id,
    externalId: victim.label,
    user: victim.label,
    returnUrl: 'http://127.0.0.1:9/demo-app/connected',
    say: s.ui.say,
  });
  return {
    name: 'the revoked connection comes back active with the same id after a reconnect',
    ok: r.ok,
    detail: r.detail,
  };
}

function reuseCheck(finalStats: ProviderStats, ledger: Ledger): Check {
  const reusedGrants = ledger.grants.filter((g) => g.revokedBy === 'reuse').length;
  return {
    name: 'no refresh token spent twice',
    ok: finalStats.reuseEvents === 0 && ledger.reuses.length === 0 && reusedGrants === 0,
    detail: `${finalStats.reuseEvents} reuse events at the provider, ${reusedGrants} grants killed by reuse detection`,
  };
}

async function victimCheck(s: Stage, watch: Watch, reauth: Conn[]): Promise<Check> {
  const { victim } = watch;
  let victimToken: ApiReply | undefined;
  if (victim) victimToken = await s.api('GET', `/v1/connections/${victim.id}/token`).catch(() => undefined);
  const victimOk =
    Boolean(victim) &&
    reauth.length === 1 &&
    reauth[0] === victim &&
    victim.reauthReason === 'revoked' &&
    victimToken?.status === 409 &&
    victimToken.body?.reauthReason === 'revoked';
  return {
    name: 'exactly the revoked connection needs re-authorization',
    ok: victimOk,
    detail: victim
      ? `${reauth.length} needs_reauth: ${reauth.map((c) => `${c.label} ("${c.reauthReason}")`).join(', ') || 'none'}; GET /token on ${victim.label} answers ${victimToken?.status ?? '?'} ${JSON.stringify(victimToken?.body ?? null)}`
      : 'the run ended before the revocation',
  };
}

function othersCheck(s: Stage, others: Conn[], lostWhy: Map<string, string>): Check {
  return {
    name: 'every other connection is active and holds the current tokens',
    ok: lostWhy.size === 0,
    detail:
      lostWhy.size === 0
        ? `${others.length} of ${others.length}: a forced refresh with the stored refresh token succeeded, the access token is accepted by the provider, stored versions match the provider's rotations`
        : [...lostWhy]
            .slice(0, 5)
            .map(([id, why]) => `${s.byId.get(id)!.label}: ${why}`)
            .join('; '),
  };
}

function onDemandCheck(load: Load): Check {
  const { od, invalidSamples } = load;
  return {
    name: 'every token served on demand was accepted by the provider',
    ok: od.invalid === 0 && od.tokens > 0,
    detail: `${od.tokens} tokens served, ${od.invalid} rejected${invalidSamples.length ? ` (${invalidSamples.join('; ')})` : ''}`,
  };
}
