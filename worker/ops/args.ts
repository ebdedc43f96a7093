// Argument parsing shared by the ops commands (node:util parseArgs with friendlier errors).
import { parseArgs } from 'node:util';
import { parseDuration } from './format.ts';
import type { OpsContext } from './types.ts';

/** A mistake in how the command was called: printed with a pointer to --help, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type FlagSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>;

export function parseFlags(
  argv: string[],
  spec: FlagSpec,
): { flags: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...spec, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    return { flags: values, positionals };
  } catch (e) {
    const msg = (e as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw new UsageError(msg);
  }
}

/** --since style flag: a duration in ms (default when absent). */
export function durationFlag(v: string | boolean | undefined, name: string, def: number): number {
  if (v === undefined) return def;
  const ms = typeof v === 'string' ? parseDuration(v) : null;
  if (ms === null) throw new UsageError(`--${name} must be a duration like 30m, 2h, 24h or 7d; got "${String(v)}"`);
  return ms;
}

export function intFlag(v: string | boolean | undefined, name: string, min = 1, max = 1_000_000): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}; got "${String(v)}"`);
  }
  return Number(v);
}

export function stringFlag(v: string | boolean | undefined): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Runs `<command> <sub> ...` against a table of subcommands (cli.ts handles --help before this). */
export function subcommands(
  command: string,
  subs: Record<string, (argv: string[], ctx: OpsContext) => Promise<number>>,
): (argv: string[], ctx: OpsContext) => Promise<number> {
  const names = Object.keys(subs);
  return (argv, ctx) => {
    const [sub, ...rest] = argv;
    const run = sub !== undefined && Object.prototype.hasOwnProperty.call(subs, sub) ? subs[sub] : undefined;
    if (!run) {
      throw new UsageError(
        sub !== undefined
          ? `unknown subcommand "${command} ${sub}" (use ${names.join(', ')})`
          : `missing subcommand: ${names.map((n) => `${command} ${n}`).join(' | ')}`,
      );
    }
    return run(rest, ctx);
  };
}
