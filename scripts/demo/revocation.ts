// The revocation: midway one user "disconnects the app" at the provider; the daemon must turn that
// connection needs_reauth ("revoked") on its next refresh or the next GET /token that needs one.
import { randomInt } from 'node:crypto';
import type { Stage } from './stage.ts';
import { ACCESS_TTL_S } from './types.ts';
import type { Watch } from './watch.ts';

export async function revokeOne(s: Stage, watch: Watch): Promise<void> {
  const victim = s.conns[randomInt(s.conns.length)];
  watch.victim = victim;
  // The provider's admin API, as a user revoking access in the provider's settings would.
  const r = await fetch(`${s.fake.url}/_admin/grants/${encodeURIComponent(victim.grantId)}/revoke`, {
    method: 'POST',
    body: '{}',
    headers: { 'content-type': 'application/json' },
  });
  await r.text();
  watch.revokedAt = Date.now();
  watch.event(`${s.ui.st.yellow(`${victim.label} disconnected the app: grant revoked at the provider`)}`);
}

/** A short run can end before the victim's next refresh: give the daemon the time it needs. */
export async function awaitRevocationSeen(s: Stage, watch: Watch): Promise<void> {
  const { victim } = watch;
  if (!victim || victim.status === 'needs_reauth') return;
  s.ui.say(`  … waiting for the daemon to notice that ${victim.label}'s grant was revoked`);
  const until = Date.now() + (ACCESS_TTL_S + 10) * 1000;
  while (victim.status !== 'needs_reauth' && Date.now() < until && !s.run.aborted()) {
    await s.run.sleep(500);
    await watch.poll();
  }
  s.run.checkAbort();
}
