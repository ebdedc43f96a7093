// Builds the OpsContext: a daemon constructed from the configuration but never started (no
// workers, no feeder, no API), whose clients connect on first use.
import pino from 'pino';
import type { Config } from '../config/env.ts';
import { Daemon } from '../daemon.ts';
import { createLogger } from '../log/logger.ts';
import type { Logger } from 'pino';
import { providerGateExtension } from '../gate/breaker.ts';
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

/**
 * The ops CLI's daemon: never started, but its refreshes pass the same provider gate as the
 * daemon's (the credential breaker, shared through PostgreSQL, and the provider's concurrency and
 * pacing), so `ops refresh` cannot hammer a provider whose breaker is open.
 */
export function createOpsDaemon(config: Config, log: Logger): Daemon {
  const gate = providerGateExtension({ probeIntervalMs: config.breakerProbeIntervalMs, outage: config.outage });
  const d = new Daemon(config, { log, extensions: [{ name: gate.name, gate: gate.gate }] });
  // Only the gate's state reads: the extension's start (reload listener, restart checks) is the daemon's.
  gate.gate.bind(d.db, d.log);
  return d;
}

export function createOpsContext(
  config: Config,
  io: OpsIo,
  json: boolean,
  daemon?: Daemon,
): OpsContext & { close(): Promise<void> } {
  // The daemon's own log lines (warnings only) go to stderr so stdout stays the command's output.
  const d =
    daemon ??
    createOpsDaemon(
      config,
      createLogger({ level: process.env.OPS_LOG_LEVEL ?? 'warn', destination: pino.destination(2) }),
    );
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
