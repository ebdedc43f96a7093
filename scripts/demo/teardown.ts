// Teardown: the daemon stopped with SIGTERM (part of the demo: it drains in-flight refreshes and
// exits 0), then everything the demo created removed, each part on its own (one failing does
// not skip the others).
import { rmSync } from 'node:fs';
import { createRedis, masters, targetFromEnv } from '../../worker/redis/connect.ts';
import { namespacePattern } from '../../worker/redis/keys.ts';
import { dropDatabase } from '../lib/migrations.ts';
import type { DaemonProcess } from './daemon-process.ts';
import type { Run } from './run.ts';
import type { Check } from './types.ts';
import { secs, type Ui } from './ui.ts';

/** Stops the daemon as an operator would; whether it exited cleanly is one of the checks. */
export async function stopDaemon(ui: Ui, daemon: DaemonProcess): Promise<Check> {
  const { say, st, ok, bad } = ui;
  say('');
  say(st.bold('Cleaning up'));
  const t = Date.now();
  const wasRunning = daemon.running;
  const stopped = await daemon.stop(20_000);
  const cleanExit = wasRunning && stopped.code === 0 && !stopped.forced;
  say(
    `  ${cleanExit ? ok : bad} ${
      !wasRunning
        ? `the daemon had already exited (${stopped.code ?? stopped.signal})`
        : `stopped the daemon with SIGTERM: ${stopped.forced ? 'it did not exit in 20 s and was killed' : `exit ${stopped.code ?? stopped.signal} after ${secs(Date.now() - t)}`}`
    }`,
  );
  return {
    name: 'the daemon shut down cleanly on SIGTERM',
    ok: cleanExit,
    detail: `exit ${stopped.code ?? stopped.signal}${stopped.forced ? ' (killed)' : ''}`,
  };
}

let cleanedUp = false;
export const hasCleanedUp = () => cleanedUp;

export async function cleanup(ui: Ui, run: Run): Promise<void> {
  if (cleanedUp) return;
  cleanedUp = true;
  const { created } = run;
  const { say, ok, bad } = ui;
  created.live?.showCursor();
  const step = async (what: string, f: () => Promise<string | undefined>) => {
    try {
      const done = await f();
      if (done) say(`  ${ok} ${done}`);
    } catch (e) {
      say(`  ${bad} ${what} failed: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`);
    }
  };
  await step('stopping the daemon', async () => {
    if (!created.daemon) return undefined;
    const wasRunning = created.daemon.running;
    const r = await created.daemon.stop(20_000);
    return wasRunning
      ? `stopped the daemon (exit ${r.code ?? r.signal}${r.forced ? ', killed after 20 s' : ''})`
      : undefined;
  });
  await step('stopping the fake provider', async () => {
    if (!created.fake) return undefined;
    await created.fake.close();
    return 'stopped the fake provider';
  });
  await step(`dropping database ${created.dbName}`, async () => {
    if (!created.dbCreated || !created.dbUrl) return undefined;
    await dropDatabase(created.dbUrl);
    return `dropped database ${created.dbName}`;
  });
  await step(`deleting Redis keys ${created.prefix}*`, async () => {
    if (!created.prefix || !created.redisUrl) return undefined;
    const n = await deleteKeys(created.redisUrl, created.prefix);
    return `deleted ${n} Redis keys under ${created.prefix}`;
  });
  if (created.tmpDir) rmSync(created.tmpDir, { recursive: true, force: true });
}

/** SCAN + UNLINK on every master (one node, or each master of REDIS_CLUSTER_NODES). */
async function deleteKeys(redisUrl: string, prefix: string): Promise<number> {
  const r = createRedis(targetFromEnv({ ...process.env, REDIS_URL: redisUrl }), {
    role: 'general',
    lazyConnect: true,
    node: { connectTimeout: 3000, maxRetriesPerRequest: 1 },
  });
  r.on('error', () => undefined);
  try {
    await r.connect();
    let n = 0;
    for (const node of masters(r)) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', namespacePattern(prefix), 'COUNT', 1000);
        cursor = next;
        // One key at a time: keys of one node may still be in different slots of a cluster.
        for (const k of keys) n += await node.unlink(k);
      } while (cursor !== '0');
    }
    return n;
  } finally {
    r.disconnect();
  }
}
