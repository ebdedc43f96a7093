// CLI: one FakeProvider with the JSON admin API under /_admin/, for the demo, chaos suite and benchmark.
//
//   npx tsx test/fakes/fake-provider-server.ts --port 0 --persona standard [--rotation always]
//       [--grace 0] [--access-ttl 5] [--client-id X --client-secret Y] [--no-reuse-detection]
//
// Prints exactly one JSON line on stdout once listening:
//   {"ready":true,"url":"http://127.0.0.1:PORT","tokenUrl":"..."}
// Admin: POST /_admin/grants {userId?, extra?} | POST /_admin/grants/:id/revoke {reason?} |
//        GET /_admin/grants/:id | POST /_admin/faults <Faults> | DELETE /_admin/faults |
//        GET /_admin/faults | GET /_admin/ledger | GET /_admin/stats | GET /_admin/info
// Exits on SIGTERM / SIGINT.

import { FakeProvider, PERSONAS, type FakeProviderOptions, type Persona, type Rotation } from './fake-provider.js';

const ROTATIONS: readonly Rotation[] = ['always', 'never', 'optional-on', 'optional-off'];

function usage(msg: string): never {
  process.stderr.write(
    `${msg}\nusage: fake-provider-server.ts [--port N] [--persona ${PERSONAS.join('|')}] [--rotation ${ROTATIONS.join('|')}] ` +
      `[--grace S] [--access-ttl S] [--client-id X] [--client-secret Y] [--no-reuse-detection | --reuse-detection true|false]\n`,
  );
  process.exit(2);
}

function num(flag: string, v: string | undefined): number {
  const n = Number(v);
  if (v === undefined || v === '' || !Number.isFinite(n) || n < 0) usage(`${flag} needs a non-negative number`);
  return n;
}

function parseArgs(argv: string[]): FakeProviderOptions {
  const opts: FakeProviderOptions = { admin: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const takeValue = (): string => {
      if (eq > 0) return arg.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) usage(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--port':
        opts.port = num(flag, takeValue());
        break;
      case '--persona': {
        const v = takeValue();
        if (!PERSONAS.includes(v as Persona)) usage(`unknown persona: ${v}`);
        opts.persona = v as Persona;
        break;
      }
      case '--rotation': {
        const v = takeValue();
        if (!ROTATIONS.includes(v as Rotation)) usage(`unknown rotation: ${v}`);
        opts.rotation = v as Rotation;
        break;
      }
      case '--grace':
        opts.graceSeconds = num(flag, takeValue());
        break;
      case '--access-ttl':
        opts.accessTtlSeconds = num(flag, takeValue());
        break;
      case '--client-id':
        opts.clientId = takeValue();
        break;
      case '--client-secret':
        opts.clientSecret = takeValue();
        break;
      case '--no-reuse-detection':
        opts.reuseDetection = false;
        break;
      case '--reuse-detection': {
        const v = takeValue();
        if (v !== 'true' && v !== 'false') usage('--reuse-detection needs true or false');
        opts.reuseDetection = v === 'true';
        break;
      }
      case '--help':
      case '-h':
        usage('fake OAuth 2.0 token endpoint');
      // eslint-disable-next-line no-fallthrough
      default:
        usage(`unknown argument: ${arg}`);
    }
  }
  return opts;
}

async function main(): Promise<void> {
  const provider = new FakeProvider(parseArgs(process.argv.slice(2)));
  await provider.start();
  process.stdout.write(`${JSON.stringify({ ready: true, url: provider.url, tokenUrl: provider.tokenUrl })}\n`);

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(0), 2_000);
    force.unref();
    provider.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`fake-provider-server: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
