// `npm start`: run the daemon until SIGTERM/SIGINT, then drain and exit 0.
import { ConfigError, loadConfig } from './config/env.ts';
import { ProviderConfigError } from './providers/registry.ts';
import { Daemon } from './daemon.ts';
import { checkPostgres, checkRedis, ServiceUnavailable } from './util/services.ts';
import { defaultExtensions } from './extensions.ts';
import { faultPointFromEnv } from './testing/faults.ts';

async function main(): Promise<void> {
  const config = loadConfig();
  await checkPostgres(config.databaseUrl);
  await checkRedis(config.redisUrl);
  const daemon = new Daemon(config, { extensions: defaultExtensions(config), faultPoint: faultPointFromEnv() });
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
  await daemon.start();
}

main().catch((e: unknown) => {
  if (e instanceof ConfigError || e instanceof ProviderConfigError || e instanceof ServiceUnavailable) {
    process.stderr.write(`oauth-refresher: ${e.message}\n`);
  } else {
    process.stderr.write(`oauth-refresher: failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
  }
  process.exit(1);
});
