// `npm start`: run the daemon until SIGTERM/SIGINT, then drain and exit 0. Run directly, this file
// starts the daemon; imported (the chaos suite's test/chaos/daemon-entry.ts), it only exports
// `main`, which takes the test hooks (fault points, a skewed clock) the daemon itself never builds.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from './config/env.ts';
import type { FaultHook } from './interfaces.ts';
import { ProviderConfigError } from './providers/registry.ts';
import { Daemon } from './daemon.ts';
import { checkPostgres, checkRedis, ServiceUnavailable } from './util/services.ts';
import { defaultExtensions } from './extensions.ts';

export interface MainHooks {
  faultPoint?: FaultHook;
  now?: () => number;
}

async function run(makeHooks: () => MainHooks): Promise<void> {
  const config = loadConfig();
  await checkPostgres(config.databaseUrl);
  await checkRedis(config.redis);
  const hooks = makeHooks();
  const daemon = new Daemon(config, {
    extensions: defaultExtensions(config),
    faultPoint: hooks.faultPoint,
    now: hooks.now,
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    daemon.log.info({ signal }, 'shutting down: finishing in-flight refreshes');
    daemon.close().then(
      () => process.exit(0),
      (err) => {
        daemon.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // SIGHUP: re-read PROVIDERS_FILE and provider env (client ids/secrets, REFRESH_CRON_*). Definitions
  // change in place; a provider whose credentials changed gets its credential breaker closed; the
  // refresh workers follow (schedule/workers.ts: resized, added, removed once drained).
  process.on('SIGHUP', () => {
    try {
      const r = daemon.providers.reload();
      daemon.log.info(r, 'provider definitions reloaded');
    } catch (e) {
      daemon.log.error({ err: e }, 'provider reload failed; the previous definitions stay in force');
    }
  });
  await daemon.start();
}

/**
 * Starts the daemon for this process; a failure to start (the hooks' settings included) prints one
 * line and exits 1.
 */
export function main(makeHooks: () => MainHooks = () => ({})): Promise<void> {
  return run(makeHooks).catch((e: unknown) => {
    if (e instanceof ConfigError || e instanceof ProviderConfigError || e instanceof ServiceUnavailable) {
      process.stderr.write(`oauth-refresher: ${e.message}\n`);
    } else {
      process.stderr.write(`oauth-refresher: failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
    }
    process.exit(1);
  });
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) void main();
