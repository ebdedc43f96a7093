// Compiles worker/ and the production scripts to dist/ (tsconfig.build.json), so that the daemon,
// the migrations and the ops bin run with plain `node`. Plain Node: postinstall runs it.
//   node scripts/build.mjs             build now                         (npm run build, postinstall)
//   node scripts/build.mjs --if-stale  build only if a source is newer (prestart, predb:migrate)
// A stamp written after a successful build marks dist/ as current; a lock keeps two builds (two
// `npm start` at once) from writing the same files.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const stamp = path.join(dist, '.build-stamp');
const lock = path.join(dist, '.build-lock');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
// What the build reads: a change to any of these makes dist/ stale.
const SOURCES = [
  'worker',
  'scripts/migrate.ts',
  'scripts/ops.ts',
  'scripts/check-services.ts',
  'scripts/lib',
  'tsconfig.json',
  'tsconfig.build.json',
];
const LOCK_STALE_MS = 5 * 60_000;

function newestMtime(p) {
  if (!existsSync(p)) return 0;
  const s = statSync(p);
  if (!s.isDirectory()) return s.mtimeMs;
  let newest = s.mtimeMs; // a deleted file changes its folder
  for (const e of readdirSync(p)) newest = Math.max(newest, newestMtime(path.join(p, e)));
  return newest;
}

function isStale() {
  if (!existsSync(stamp)) return true;
  const built = statSync(stamp).mtimeMs;
  return SOURCES.some((s) => newestMtime(path.join(root, s)) > built);
}

function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Takes the build lock, waiting for another build to finish; false if it is held too long. */
function acquireLock() {
  const deadline = Date.now() + LOCK_STALE_MS;
  mkdirSync(dist, { recursive: true });
  for (;;) {
    try {
      mkdirSync(lock);
      return true;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
    }
    // A builder killed mid-way leaves its lock behind.
    if (Date.now() - statSync(lock, { throwIfNoEntry: false })?.mtimeMs > LOCK_STALE_MS)
      rmSync(lock, { recursive: true, force: true });
    if (Date.now() > deadline) return false;
    sleep(200);
  }
}

function compile() {
  if (!existsSync(tsc)) {
    // `npm ci --omit=dev`: no compiler. A dist/ built elsewhere (then copied) still runs.
    if (existsSync(stamp)) {
      console.error('build: typescript is not installed; running the existing dist/ as it is');
      return 0;
    }
    console.error(
      'build: typescript is not installed (npm ci --omit=dev?), so dist/ cannot be built: install with dev dependencies, `npm run build`, then prune',
    );
    return 1;
  }
  console.error('build: compiling worker/ and scripts/ to dist/ (tsc -p tsconfig.build.json)');
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], {
    cwd: root,
    stdio: 'inherit',
  });
  if (r.status !== 0) {
    console.error(`build: tsc failed (exit ${r.status ?? r.signal})`);
    return r.status || 1;
  }
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
  return 0;
}

function main(argv) {
  const ifStale = argv.includes('--if-stale');
  if (ifStale && !isStale()) return 0;
  if (!acquireLock()) {
    console.error(
      `build: another build has held ${path.relative(root, lock)} for ${LOCK_STALE_MS / 60_000} min; giving up`,
    );
    return 1;
  }
  try {
    // The build we waited for may have made dist/ current.
    return ifStale && !isStale() ? 0 : compile();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

process.exitCode = main(process.argv.slice(2));
