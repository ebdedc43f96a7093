// A daemon in its own process for the crash test: configured from the environment, with the
// production extensions (key check, webhook dispatcher). Prints "ready" once started.
import { loadConfig } from '../../worker/config/env.ts';
import { Daemon } from '../../worker/daemon.ts';
import { defaultExtensions } from '../../worker/extensions.ts';
import { createLogger } from '../../worker/log/logger.ts';

const config = loadConfig();
const daemon = new Daemon(config, {
  extensions: defaultExtensions(config),
  log: createLogger({ level: process.env.LOG_LEVEL ?? 'warn', destination: process.stderr }),
});
process.on('SIGTERM', () => {
  daemon.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
daemon.start().then(
  () => process.stdout.write('ready\n'),
  (e: unknown) => {
    process.stderr.write(`start failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(3);
  },
);
