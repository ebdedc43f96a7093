// Contract for `npm run ops -- <command> [sub] [flags]`. Each command lives in worker/ops/commands/
// and is listed in worker/ops/commands/index.ts. Output for people by default, --json for scripts.
import type { Daemon } from '../daemon.ts';

export interface OpsContext {
  /** A daemon constructed from the environment but NOT started (db, redis, queues, keyring, providers are usable after ctx.connect()). */
  daemon: Daemon;
  /** Connects the daemon's Redis and PostgreSQL clients (idempotent). */
  connect(): Promise<void>;
  json: boolean;
  /** Writes one line to stdout. */
  out(line: string): void;
  /** Writes one line to stderr (progress, warnings). */
  err(line: string): void;
  /** True when stdout is a terminal (show progress bars / colours only then). */
  tty: boolean;
}

export interface OpsCommand {
  /** e.g. 'failed', 'connections', 'why', 'keys', 'webhooks'. */
  name: string;
  summary: string;
  /** Full --help text (usage, flags, examples). */
  help: string;
  /** False when this invocation needs no configuration (no daemon is built, e.g. printing a new secret); default true. */
  needsConfig?(argv: string[]): boolean;
  /** argv after the command name; returns the process exit code. */
  run(argv: string[], ctx: OpsContext): Promise<number>;
}
