// The built daemon (dist/) for tests that run it as production does: builds once if a source is
// newer than the last build (scripts/build.mjs holds a lock, so files building at once wait).
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export function ensureBuilt(): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['scripts/build.mjs', '--if-stale'], { cwd: ROOT }, (err, stdout, stderr) => {
      if (err) reject(new Error(`npm run build failed (${err.message}): ${stdout}${stderr}`));
      else resolve();
    });
  });
}
