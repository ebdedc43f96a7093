// The summary: what the run did (refreshes by trigger, lateness, the on-demand load, reuse, the
// revoked connection) and the verdict; with --json the same as one JSON document on stdout.
import type { LiveResult } from './live.ts';
import type { Load } from './load.ts';
import type { Stage } from './stage.ts';
import { ACCESS_TTL_S } from './types.ts';
import { secs } from './ui.ts';
import type { Verdict } from './verdict.ts';
import type { Watch } from './watch.ts';

export interface Outcome {
  s: Stage;
  watch: Watch;
  load: Load;
  live: LiveResult;
  verdict: Verdict;
}

/** Prints the summary and returns the verdict line. */
export function printSummary(o: Outcome): string {
  const { s, watch, load, live, verdict } = o;
  const { say, st } = s.ui;
  const { victim } = watch;
  const { reauth, lostWhy, finalStats } = verdict;
  const passed = verdict.checks.every((c) => c.ok);
  const revokedSummary = victim
    ? reauth.map((c) => `${c.label}, reason "${c.reauthReason}"${c === victim ? '' : ' (UNEXPECTED)'}`).join('; ') ||
      `none (expected ${victim.label})`
    : 'none (the run ended before the revocation)';
  const od = load.od;
  say('');
  say(st.bold('Summary'));
  const row = (k: string, v: string) => say(`  ${k.padEnd(20)}${v}`);
  row(
    'ran for',
    `${secs(live.runElapsed)} with ${s.conns.length} connections (tokens living 4-8 s, then ${ACCESS_TTL_S} s)`,
  );
  const refused = live.runStats.refreshRequests - live.runStats.successes;
  row(
    'refreshes',
    `${live.runStats.successes} done at the provider (${((live.runStats.successes * 1000) / Math.max(1, live.runElapsed)).toFixed(1)}/s), ${load.refreshedPairs.size} of them on demand; ${refused} refused${victim ? ` (${victim.label}'s revoked grant)` : ''}`,
  );
  attemptRows(watch, row);
  row(
    'on-demand requests',
    `${od.sent} GET /token: ${od.tokens} tokens, ${od.refusedReauth} refused as needs_reauth, ${od.errors} errors, ${od.invalid} tokens rejected by the provider`,
  );
  row(
    'reuse events',
    `${finalStats.reuseEvents}${finalStats.reuseEvents === 0 ? ' (no refresh token was presented twice)' : st.red(' (a refresh token was presented twice)')}`,
  );
  row(
    'needs_reauth',
    `${reauth.length}: ${revokedSummary}${watch.reauthSeenAt ? `, seen ${secs(watch.reauthSeenAt - watch.revokedAt)} after the revocation` : ''}`,
  );
  row(
    'lost',
    `${lostWhy.size}${lostWhy.size === 0 ? " (every other connection is active with the provider's current tokens)" : ''}`,
  );
  row(
    'expired tokens',
    `at most ${live.maxExpired} active connection(s) past expiry at any poll (a late refresh, not a failure)`,
  );
  const line = passed
    ? 'PASS: no token spent twice, the revoked grant became needs_reauth ("revoked"), nothing else lost'
    : `FAIL: ${verdict.checks
        .filter((c) => !c.ok)
        .map((c) => c.name)
        .join('; ')}`;
  say(`  ${'verdict'.padEnd(20)}${passed ? st.green(st.bold(line)) : st.red(st.bold(line))}`);
  return line;
}

/** Refreshes by trigger and the scheduled ones' lateness, from the daemon's attempt lines. */
function attemptRows(watch: Watch, row: (k: string, v: string) => void): void {
  const { attempts } = watch;
  if (!attempts.byTrigger.size) return;
  const late = [...attempts.late].sort((a, b) => a - b);
  const pct = (q: number) => late[Math.min(late.length - 1, Math.floor(q * late.length))] ?? 0;
  const names: Record<string, string> = {
    scheduled: 'by the scheduler',
    on_demand: 'on demand',
    forced: 'forced (the final check)',
  };
  const groups = new Map<string, string[]>();
  for (const [k, n] of [...attempts.byTrigger].sort((a, b) => b[1] - a[1])) {
    const [trig, outcome] = k.split(' ');
    groups.set(trig, [...(groups.get(trig) ?? []), `${n} ${outcome}`]);
  }
  row('  attempts', [...groups].map(([trig, l]) => `${names[trig] ?? trig}: ${l.join(' + ')}`).join('; '));
  if (late.length)
    row(
      '  lateness',
      `scheduled refreshes started p50 ${pct(0.5)} ms, p95 ${pct(0.95)} ms, max ${late[late.length - 1]} ms after their planned time`,
    );
}

export function printJson(o: Outcome, verdictLine: string): void {
  const { s, watch, load, live, verdict } = o;
  const { victim } = watch;
  const od = load.od;
  process.stdout.write(
    `${JSON.stringify(
      {
        ok: verdict.checks.every((c) => c.ok),
        seconds: Math.round(live.runElapsed / 100) / 10,
        connections: s.conns.length,
        refreshes: live.runStats.successes,
        refreshesOnDemand: load.refreshedPairs.size,
        onDemand: {
          requests: od.sent,
          tokens: od.tokens,
          refusedNeedsReauth: od.refusedReauth,
          errors: od.errors,
          rejectedByProvider: od.invalid,
        },
        reuseEvents: verdict.finalStats.reuseEvents,
        needsReauth: verdict.reauth.map((c) => ({
          externalId: c.label,
          id: c.id,
          reason: c.reauthReason ?? null,
          expected: c === victim,
        })),
        revoked: victim
          ? {
              externalId: victim.label,
              id: victim.id,
              detectedAfterMs: watch.reauthSeenAt ? watch.reauthSeenAt - watch.revokedAt : null,
            }
          : null,
        lost: verdict.lostWhy.size,
        lostDetail: [...verdict.lostWhy].map(([id, why]) => ({ externalId: s.byId.get(id)!.label, why })),
        maxExpiredAtOnce: live.maxExpired,
        checks: verdict.checks,
        verdict: verdictLine,
      },
      null,
      2,
    )}\n`,
  );
}

/** On a failure, the daemon's last warnings and errors. */
export function printNotable(s: Stage): void {
  const notable = s.daemon.notable;
  if (!notable.length) return;
  s.ui.say('');
  s.ui.say(s.ui.st.dim('last daemon warnings and errors:'));
  for (const l of notable.slice(-10)) s.ui.say(s.ui.st.dim(`  ${l.level}: ${l.text}`));
}
