#!/usr/bin/env node
// `oauth-refresher`: the daemon, built (dist/worker/main.js) and run in this very process, so that a
// supervisor's SIGTERM reaches it (the same process as `node dist/worker/main.js`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = fileURLToPath(new URL('../dist/worker/main.js', import.meta.url));
if (!existsSync(built)) {
  process.stderr.write(
    `oauth-refresher: ${built} not found; run npm run build (npm ci runs it) in ${fileURLToPath(new URL('..', import.meta.url))}\n`,
  );
  process.exit(1);
}
const { main } = await import(built);
await main();
