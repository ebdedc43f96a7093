// Builds the OpsContext: a daemon constructed from the configuration but never started (no
// workers, no feeder, no API), whose clients connect on first use.
import pino from 'pino';
import type { Config } from '../config/env.ts';
import { Daemon } from '../daemon.ts';
import { createLogger } from '../log/logger.ts';
import type { OpsContext } from './types.ts';

export interface OpsIo {
  out(line: string): void;
  err(line: string): void;
  tty: boolean;
}

export const processIo = (): OpsIo => ({
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
  tty: Boolean(process.stdout.isTTY),
});

export function createOpsContext(
  config: Config,
  io: OpsIo,
  json: boolean,
  daemon?: Daemon,
): OpsContext & { close(): Promise<void> } {
  // The daemon's own log lines (warnings only) go to stderr so stdout stays the command's output.
  const d =
    daemon ??
    new Daemon(config, {
      log: createLogger({ level: process.env.OPS_LOG_LEVEL ?? 'warn', destination: pino.destination(2) }),
    });
  let connected: Promise<void> | undefined;
  return {
    daemon: d,
    json,
    tty: io.tty && !json,
    out: (line) => io.out(line),
    err: (line) => io.err(line),
    connect() {
      connected ??= (async () => {
        await Promise.all([d.redis, d.bullRedis].map((r) => (r.status === 'wait' ? r.connect() : Promise.resolve())));
        await d.db.$queryRaw`SELECT 1`;
      })();
      return connected;
    },
    async close() {
      if (!daemon) await d.close();
    },
  };
}
