// Runs `prisma generate` after `npm install` / `npm ci` (plain Node: tsx may not be usable yet), then
// compiles the daemon to dist/ (scripts/build.mjs), so that `npm start` right after `npm ci` runs it.
// Skips quietly only when there is nothing to generate from; a failing generate fails the install.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const schema = path.join(root, 'prisma', 'schema.prisma');
const cli = path.join(root, 'node_modules', 'prisma', 'build', 'index.js');

if (!existsSync(schema)) {
  // e.g. a Docker layer that copied only package*.json before `npm ci`.
  console.log(`postinstall: ${path.relative(root, schema)} not found; skipping prisma generate`);
  process.exit(0);
}
if (!existsSync(cli)) {
  console.error(`postinstall: Prisma CLI not found at ${path.relative(root, cli)}; cannot generate the client`);
  process.exit(1);
}

const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: '1' };
// generate never runs the schema engine, but the CLI tries to download it unless this names an existing file.
if (!env.PRISMA_SCHEMA_ENGINE_BINARY || !existsSync(env.PRISMA_SCHEMA_ENGINE_BINARY)) {
  env.PRISMA_SCHEMA_ENGINE_BINARY = process.execPath;
}

const result = spawnSync(process.execPath, [cli, 'generate'], { cwd: root, env, stdio: 'inherit' });
if (result.error) {
  console.error(`postinstall: could not run prisma generate: ${result.error.message}`);
  process.exit(1);
}
if (result.status !== 0) {
  console.error(`postinstall: prisma generate failed (exit ${result.status ?? result.signal})`);
  process.exit(result.status || 1);
}
if (!existsSync(path.join(root, 'worker', 'generated', 'prisma', 'client.ts'))) {
  console.error('postinstall: prisma generate finished but worker/generated/prisma/client.ts is missing');
  process.exit(1);
}

// Without dev dependencies there is no compiler: say so, and leave it to `npm start` to refuse clearly.
if (!existsSync(path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'))) {
  console.log(
    'postinstall: typescript not installed (dev dependencies omitted); dist/ not built (npm run build needs it)',
  );
  process.exit(0);
}
const build = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) {
  console.error(`postinstall: npm run build failed (exit ${build.status ?? build.signal})`);
  process.exit(build.status || 1);
}
