#!/usr/bin/env node
// `oauth-refresher-ops <command>`: the ops commands, built (dist/scripts/ops.js) and run in this very
// process with plain node: no TypeScript loader, and a signal reaches the command itself.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = fileURLToPath(new URL('../dist/scripts/ops.js', import.meta.url));
if (!existsSync(built)) {
  process.stderr.write(
    `oauth-refresher-ops: ${built} not found; run npm run build (npm ci runs it) in ${fileURLToPath(new URL('..', import.meta.url))}\n`,
  );
  process.exit(2);
}
// ops.js reads its arguments from process.argv.slice(2): the same as this bin's.
await import(built);
