// `npm run ops -- <command> [sub] [flags]`: argument handling, help, dispatch, error reporting.
// Exit codes: 0 ok, 1 the command found a problem (not found, refresh failed, service down),
// 2 usage or configuration error.
import { ConfigError } from '../config/env.ts';
import { ProviderConfigError } from '../providers/registry.ts';
import { UsageError } from './args.ts';
import { COMMANDS } from './commands/index.ts';
import type { OpsIo } from './context.ts';
import { NotFound } from './lookup.ts';
import type { OpsCommand, OpsContext } from './types.ts';

function usage(commands: OpsCommand[] = COMMANDS): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage: npm run ops -- <command> [subcommand] [flags]      (or: oauth-refresher-ops <command> ...)',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    'Every command takes --help, and --json for scripts. Configuration comes from the same',
    'environment as the daemon (DATABASE_URL, REDIS_URL, ENCRYPTION_KEY, API_KEY, PROVIDERS_FILE, ...).',
  ].join('\n');
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  // Prisma puts "Invalid `prisma.x()` invocation:" first; the cause is on a later line.
  const lines = msg
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^Invalid `.*` invocation:?$/.test(l));
  return (lines[0] ?? 'unknown error').slice(0, 300);
}

/** The context of a command that needs no configuration: output only, no daemon behind it. */
function bareContext(io: OpsIo, json: boolean): OpsContext {
  const none = (): never => {
    throw new Error('this command runs without configuration');
  };
  return {
    get daemon() {
      return none();
    },
    connect: none,
    json,
    tty: io.tty && !json,
    out: (line) => io.out(line),
    err: (line) => io.err(line),
  };
}

export async function runCli(
  argv: string[],
  io: OpsIo,
  makeContext: (json: boolean) => OpsContext & { close?(): Promise<void> },
  commands: OpsCommand[] = COMMANDS,
): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    const target = name === 'help' && rest[0] ? commands.find((c) => c.name === rest[0]) : undefined;
    io.out(target ? target.help : usage(commands));
    return 0;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    io.err(`ops: unknown command "${name}"`);
    io.err(usage(commands));
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(cmd.help);
    return 0;
  }
  const json = rest.includes('--json');
  let ctx: (OpsContext & { close?(): Promise<void> }) | undefined;
  try {
    const args = rest.filter((a) => a !== '--json');
    ctx = cmd.needsConfig?.(args) === false ? bareContext(io, json) : makeContext(json);
    return await cmd.run(args, ctx);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`ops ${name}: ${e.message}`);
      io.err(`See: ops ${name} --help`);
      return 2;
    }
    if (e instanceof ConfigError) {
      io.err(`ops: configuration: ${e.variable} ${e.message.slice(e.variable.length + 2)}`);
      return 2;
    }
    if (e instanceof ProviderConfigError) {
      io.err(`ops: configuration: ${e.message}`);
      return 2;
    }
    if (e instanceof NotFound) {
      if (json) io.out(JSON.stringify({ error: 'not_found', message: e.message }));
      io.err(`ops ${name}: ${e.message}`);
      return 1;
    }
    io.err(`ops ${name}: error: ${firstLine(e)}`);
    return 1;
  } finally {
    await ctx?.close?.().catch(() => undefined);
  }
}
