// The live part: for the run's length, poll the API once a second, revoke one grant on time, flag
// any reuse the provider sees, and draw the view (a block redrawn on a terminal, lines otherwise).
import type { ProviderStats } from '../../test/fakes/fake-provider.ts';
import type { Load } from './load.ts';
import { revokeAtMs } from './options.ts';
import { revokeOne } from './revocation.ts';
import type { Stage } from './stage.ts';
import { expiredNow, LiveBlock, renderBlock, renderLine, type Snapshot } from './view.ts';
import type { Watch } from './watch.ts';

export interface LiveResult {
  /** The provider's counters when the live part ended (before the final checks). */
  runStats: ProviderStats;
  runElapsed: number;
  maxExpired: number;
}

export async function runLive(s: Stage, watch: Watch, load: Load): Promise<LiveResult> {
  const { ui, run, conns } = s;
  const revokeAt = revokeAtMs(s.opts);
  const snap = snapshots(s, watch, load);
  const live = ui.tty ? new LiveBlock(ui.out) : undefined;
  run.created.live = live;
  live?.hideCursor();
  watch.event(`${conns.length} connections registered; the daemon takes it from here`);
  let maxExpired = 0;
  let lastLine = 0;
  let tick = 0;
  let lastReuse = 0;
  while (!run.aborted() && watch.elapsed() < watch.total) {
    await watch.poll();
    if (!watch.victim && watch.elapsed() >= revokeAt) await revokeOne(s, watch);
    const stats = s.fake.stats();
    if (stats.reuseEvents > lastReuse) {
      watch.event(
        ui.st.red(`UNEXPECTED: the provider saw ${stats.reuseEvents - lastReuse} refresh token(s) presented twice`),
      );
      lastReuse = stats.reuseEvents;
    }
    const now = Date.now();
    maxExpired = Math.max(maxExpired, expiredNow(conns, now));
    const view = snap();
    if (live) live.draw(renderBlock(view, ui.st, width(s), now));
    else if (tick === 0 || now - lastLine >= 5000) {
      ui.say(renderLine(view, now));
      lastLine = now;
    }
    tick++;
    await run.sleep(1000 - ((Date.now() - watch.start) % 1000));
  }
  return finish(s, watch, load, live, snap, maxExpired);
}

async function finish(
  s: Stage,
  watch: Watch,
  load: Load,
  live: LiveBlock | undefined,
  snap: () => Snapshot,
  maxExpired: number,
): Promise<LiveResult> {
  watch.liveDone = true;
  await load.stop();
  await watch.poll();
  const runStats = s.fake.stats();
  const runElapsed = watch.elapsed();
  if (live) {
    live.draw(renderBlock(snap(), s.ui.st, width(s), Date.now()));
    live.showCursor();
  } else {
    s.ui.say(renderLine(snap(), Date.now()));
  }
  s.run.checkAbort();
  return { runStats, runElapsed, maxExpired };
}

const width = (s: Stage) => Math.max(40, (s.ui.out.columns ?? 100) - 1);

/** What the view shows now; the refresh rate is over the last ~5 s. */
function snapshots(s: Stage, watch: Watch, load: Load): () => Snapshot {
  const rateSamples: { at: number; n: number }[] = [];
  return () => {
    const stats = s.fake.stats();
    const now = Date.now();
    rateSamples.push({ at: now, n: stats.successes });
    while (rateSamples.length > 2 && now - rateSamples[1].at >= 5000) rateSamples.shift();
    const first = rateSamples[0];
    const rate = now > first.at ? ((stats.successes - first.n) * 1000) / (now - first.at) : 0;
    const last = s.daemon.notable.at(-1);
    const by = watch.attempts.byTrigger;
    return {
      elapsedMs: Math.min(watch.elapsed(), watch.total),
      totalMs: watch.total,
      refreshes: stats.successes,
      refreshRate: rate,
      reuseEvents: stats.reuseEvents,
      conns: s.conns,
      onDemand: { ...load.od, refreshedOnDemand: load.refreshedPairs.size },
      events: watch.events,
      byTrigger: by.size
        ? { scheduled: by.get('scheduled rotated') ?? 0, onDemand: by.get('on_demand rotated') ?? 0 }
        : undefined,
      daemonWarnings: s.daemon.warnings,
      daemonErrors: s.daemon.errors,
      lastDaemonLine: last?.text,
      pollError: watch.pollError,
    };
  };
}
