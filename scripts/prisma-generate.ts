// `npm run db:generate`: `prisma generate` into worker/generated/prisma without the native schema engine.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'node_modules', 'prisma', 'build', 'index.js');
const clientFile = path.join(root, 'worker', 'generated', 'prisma', 'client.ts');

function fail(message: string): never {
  console.error(`db:generate: ${message}`);
  process.exit(1);
}

if (!existsSync(cli)) fail(`Prisma CLI not found at ${path.relative(root, cli)}; run npm ci`);

const env: NodeJS.ProcessEnv = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: '1' };
// generate never runs the schema engine, but the CLI tries to download it unless this names an existing file.
const engine = env.PRISMA_SCHEMA_ENGINE_BINARY;
if (!engine || !existsSync(engine)) env.PRISMA_SCHEMA_ENGINE_BINARY = process.execPath;

const result = spawnSync(process.execPath, [cli, 'generate', ...process.argv.slice(2)], {
  cwd: root,
  env,
  stdio: 'inherit',
});
if (result.error) fail(`could not run prisma generate: ${result.error.message}`);
if (result.status !== 0) fail(`prisma generate failed (exit ${result.status ?? result.signal})`);
if (!existsSync(clientFile)) fail(`prisma generate finished but ${path.relative(root, clientFile)} is missing`);
