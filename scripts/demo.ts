// `npm run demo [-- --seconds N] [--connections N] [--json]`
//
// With Redis and PostgreSQL up: creates and migrates its own database, starts a fake OAuth provider
// (single-use refresh tokens, reuse detection) and the daemon as a child process exactly as
// `npm start` runs it, registers a few dozen connections whose tokens live seconds, and shows for
// about a minute what the daemon does. Midway one grant is revoked at the provider; on-demand
// GET /token requests race the scheduler throughout. It then checks the invariants, stops
// everything, drops what it created and prints a summary. Exit 0 only if the invariants held.
//
// main() is the steps in order, each in scripts/demo/: set-up (setup.ts), the fake provider
// (provider.ts), the daemon (daemon.ts), the connections (connections.ts), the load (load.ts) and
// the revocation (revocation.ts) during the live part (live.ts), the verdict (verdict.ts),
// teardown (teardown.ts) and the summary (summary.ts).
import { registerConnections } from './demo/connections.ts';
import { startDaemon } from './demo/daemon.ts';
import { runLive } from './demo/live.ts';
import { Load } from './demo/load.ts';
import { parseArgs } from './demo/options.ts';
import { startFakeProvider } from './demo/provider.ts';
import { Interrupted, Run } from './demo/run.ts';
import { createStores, intro, preflight } from './demo/setup.ts';
import type { Stage } from './demo/stage.ts';
import { printJson, printNotable, printSummary } from './demo/summary.ts';
import { cleanup, hasCleanedUp, stopDaemon } from './demo/teardown.ts';
import { makeUi } from './demo/ui.ts';
import { checkInvariants } from './demo/verdict.ts';
import { Watch } from './demo/watch.ts';

const opts = parseArgs(process.argv.slice(2));
const ui = makeUi(opts.json);
const run = new Run(ui);
run.installSignalHandlers();

async function main(): Promise<number> {
  const pre = await preflight();
  intro(ui, opts);
  const dbUrl = await createStores(ui, run, pre);
  const fake = await startFakeProvider(ui, run);
  const { daemon, api } = await startDaemon(ui, run, fake, { dbUrl, redisUrl: pre.redisUrl });
  const conns = await registerConnections(ui, run, opts.connections, fake, api, daemon);
  const s: Stage = { ui, run, opts, fake, daemon, api, conns, byId: new Map(conns.map((c) => [c.id, c])) };

  const watch = new Watch(s);
  const load = new Load(s, watch);
  load.start();
  const live = await runLive(s, watch, load);
  const verdict = await checkInvariants(s, watch, load);

  verdict.checks.push(await stopDaemon(ui, daemon));
  await cleanup(ui, run);

  const outcome = { s, watch, load, live, verdict };
  const verdictLine = printSummary(outcome);
  if (opts.json) printJson(outcome, verdictLine);
  const passed = verdict.checks.every((c) => c.ok);
  if (!passed) printNotable(s);
  return passed ? 0 : 1;
}

let code: number;
try {
  code = await main();
} catch (e) {
  run.created.live?.showCursor();
  if (e instanceof Interrupted || run.aborted()) {
    code = 130;
  } else {
    ui.say('');
    process.stderr.write(`demo: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}\n`);
    code = 1;
  }
  if (!hasCleanedUp()) {
    ui.say(ui.st.bold('Cleaning up'));
    await cleanup(ui, run);
  }
  if (code === 130) ui.say(ui.st.yellow('interrupted before the end: no verdict'));
} finally {
  if (!hasCleanedUp()) await cleanup(ui, run);
}
if (run.aborted() && code === 0) code = 130;
process.exit(code);
