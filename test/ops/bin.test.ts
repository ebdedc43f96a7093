// The entry points as an operator runs them: scripts/ops-bin.mjs (the package bin, running the built
// dist/scripts/ops.js) and scripts/ops.ts (npm run ops), in child processes with the environment the
// daemon uses.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { testEnv } from '../helpers/harness.ts';
import { ensureBuilt } from '../process/build.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

function run(
  args: string[],
  env: Record<string, string | undefined>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`${root}scripts/ops-bin.mjs`, ...args], {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('oauth-refresher-ops (bin)', () => {
  beforeAll(ensureBuilt, 120_000);

  it('--help works without any configuration', async () => {
    const r = await run(['--help'], {});
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: npm run ops -- <command>');
    expect(r.stdout).toMatch(/failed\s+list failed refreshes/);
  });

  it('a configuration error is one line naming the variable, exit code 2', async () => {
    const env = testEnv();
    delete env.ENCRYPTION_KEY;
    const r = await run(['failed', 'list'], env);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^ops: configuration: ENCRYPTION_KEY [^\n]+$/);
    expect(r.stdout).toBe('');
  });

  it('runs a command against the real database and prints only JSON on stdout with --json', async () => {
    const env = testEnv();
    const r = await run(['failed', 'list', '--since', '2h', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toHaveProperty('total');
    expect(Array.isArray(j.groups)).toBe(true);
    expect(r.stdout + r.stderr).not.toContain(env.API_KEY!);
    expect(r.stdout + r.stderr).not.toContain(env.ENCRYPTION_KEY!);
  });
});
