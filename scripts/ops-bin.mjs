#!/usr/bin/env node
// `oauth-refresher-ops <command>`: runs scripts/ops.ts with the package's own tsx.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const candidates = [
  join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'tsx.cmd' : 'tsx'),
  join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'),
];
const tsx = candidates.find((p) => existsSync(p));
if (!tsx) {
  process.stderr.write(
    `oauth-refresher-ops: tsx not found under ${join(root, 'node_modules')}; run npm install in ${root}\n`,
  );
  process.exit(2);
}
const [cmd, args] = tsx.endsWith('.mjs') ? [process.execPath, [tsx]] : [tsx, []];
const child = spawn(cmd, [...args, join(root, 'scripts', 'ops.ts'), ...process.argv.slice(2)], {
  stdio: 'inherit',
  cwd: process.cwd(),
  env: process.env,
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => {
  if (signal) process.kill(process.pid, signal);
  else process.exit(code ?? 1);
});
