// The demo's command line: `npm run demo [-- --seconds N] [--connections N] [--json]`.

export interface Options {
  seconds: number;
  connections: number;
  json: boolean;
}

const USAGE = 'usage: npm run demo [-- --seconds N (default 60)] [--connections N (default 36)] [--json]';

export function fatal(message: string, code = 1): never {
  process.stderr.write(`demo: ${message}\n`);
  process.exit(code);
}

export function parseArgs(argv: string[]): Options {
  const o: Options = { seconds: 60, connections: 36, json: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      const v = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (v === undefined) fatal(`${flag} needs a value\n${USAGE}`, 2);
      return v;
    };
    const int = (min: number, max: number): number => {
      const v = value();
      if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
        fatal(`${flag} must be a whole number from ${min} to ${max}, got "${v}"\n${USAGE}`, 2);
      return Number(v);
    };
    if (flag === '--seconds') o.seconds = int(20, 3600);
    else if (flag === '--connections') o.connections = int(2, 500);
    else if (flag === '--json') o.json = true;
    else if (flag === '--help' || flag === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else fatal(`unknown argument "${arg}"\n${USAGE}`, 2);
  }
  return o;
}

/** When the grant is revoked at the provider: a little before the middle of the run. */
export const revokeAtMs = (o: Options) => Math.round(o.seconds * 0.42) * 1000;
