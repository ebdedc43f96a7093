// A supervisor's SIGTERM, sent to exactly the process an operator starts (the README's `npm start`,
// the systemd unit's `node dist/worker/main.js`, the `oauth-refresher` bin), reaches the daemon:
// the refreshes in flight finish and commit, the process exits 0, and no daemon is left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeProvider } from '../fakes/fake-provider.ts';
import { TEST_API_KEY, testDb, testEnv, waitFor, writeProvidersFile } from '../helpers/harness.ts';
import { freePort } from '../helpers/processes.ts';
import { ROOT, ensureBuilt } from './build.ts';
import { Keyring } from '../../worker/crypto/keyring.ts';
import { parseEncryptionKeys } from '../../worker/config/env.ts';

// Long enough that every refresh is still waiting for its answer when the signal arrives.
const ANSWER_DELAY_MS = 3000;
const SCHEDULED = 4;
const ON_DEMAND = 3;
// The drain must end because the work ended, not because SHUTDOWN_TIMEOUT_MS gave up on it.
const SHUTDOWN_TIMEOUT_MS = 20_000;

const fake = new FakeProvider({
  persona: 'standard',
  rotation: 'always',
  reuseDetection: true,
  accessTtlSeconds: 3600,
});
const db = testDb();
let providersFile: string;
const started: ChildProcess[] = [];

beforeAll(async () => {
  await Promise.all([ensureBuilt(), fake.start()]);
  providersFile = writeProvidersFile({
    slow: {
      tokenUrl: fake.tokenUrl,
      clientAuth: 'basic',
      clientId: 'client-id',
      clientSecret: 'client-secret',
      rotation: 'always',
      refreshLeadSec: 1,
    },
  });
}, 180_000);

afterEach(() => {
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

afterAll(async () => {
  await fake.close();
  await db.$disconnect();
});

function ppidOf(pid: number): number {
  // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after the ')'.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function register(port: number, n: number, expiresIn: number, label: string) {
  const conns: { id: string; grantId: string }[] = [];
  for (let i = 0; i < n; i++) {
    const g = fake.issueGrant();
    const res = await fetch(`http://127.0.0.1:${port}/v1/connections`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        provider: 'slow',
        externalId: `${label}-${i}`,
        tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: expiresIn },
      }),
    });
    expect(res.status).toBe(201);
    conns.push({ id: ((await res.json()) as { id: string }).id, grantId: g.grantId });
  }
  return conns;
}

const COMMANDS: { name: string; command: () => [string, string[]] }[] = [
  { name: 'npm start (the README)', command: () => ['npm', ['start']] },
  { name: 'node dist/worker/main.js (the systemd unit)', command: () => [process.execPath, ['dist/worker/main.js']] },
  { name: 'the oauth-refresher bin', command: () => [process.execPath, ['scripts/daemon-bin.mjs']] },
];

describe('SIGTERM to the process an operator starts', () => {
  it.each(COMMANDS)(
    '$name: in-flight refreshes finish, exit 0, no daemon left',
    async ({ name, command }) => {
      const port = await freePort();
      const env = testEnv({
        PROVIDERS_FILE: providersFile,
        PORT: String(port),
        LOG_LEVEL: 'info',
        SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      });
      const [cmd, args] = command();
      const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      started.push(child);
      let out = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr.on('data', (b: Buffer) => (out += b.toString()));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
        child.on('exit', (code, signal) => r({ code, signal })),
      );

      await waitFor(
        async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.ok,
        60_000,
        `${name} ready`,
        200,
      ).catch((e: Error) => {
        throw new Error(`${e.message}\n${out.slice(-2000)}`);
      });
      const daemonPid = Number(/"pid":(\d+)[^\n]*"msg":"oauth-refresher started"/.exec(out)?.[1]);
      expect(daemonPid, out).toBeGreaterThan(0);
      // npm's child is the daemon itself (`exec`), so the signal npm forwards lands on it, not on a shell.
      if (cmd === 'npm') expect(ppidOf(daemonPid)).toBe(child.pid);
      else expect(daemonPid).toBe(child.pid);

      // The provider rotates at once and answers late: a daemon that quit early would lose the rotation.
      fake.setFaults({ delayAfterRotateMs: ANSWER_DELAY_MS });
      const before = fake.stats().refreshRequests;
      const scheduled = await register(port, SCHEDULED, 2, `${name}-scheduled`);
      const onDemand = await register(port, ON_DEMAND, 3600, `${name}-ondemand`);
      const forced = onDemand.map((c) =>
        fetch(`http://127.0.0.1:${port}/v1/connections/${c.id}/refresh`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TEST_API_KEY}` },
        }).then(async (r) => ({ status: r.status, body: (await r.json()) as { outcome?: string } })),
      );
      await waitFor(
        () => fake.stats().refreshRequests - before >= SCHEDULED + ON_DEMAND,
        30_000,
        'every refresh at the provider',
      ).catch((e: Error) => {
        throw new Error(`${e.message}\n${out.slice(-2000)}`);
      });

      const signalledAt = Date.now();
      process.kill(child.pid!, 'SIGTERM');
      const exit = await exited;
      const drainMs = Date.now() - signalledAt;
      fake.clearFaults();
      expect(exit, out.slice(-3000)).toEqual({ code: 0, signal: null });
      expect(out).not.toContain('did not finish in time');
      expect(drainMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
      expect(isAlive(daemonPid), 'the daemon outlived the process that was signalled').toBe(false);
      expect(out).toContain('shutting down: finishing in-flight refreshes');

      // The forced refreshes were answered, and every rotation the provider made is committed.
      for (const r of await Promise.all(forced)) expect(r).toMatchObject({ status: 200, body: { outcome: 'rotated' } });
      const keyring = new Keyring(parseEncryptionKeys(env));
      const all = [...scheduled, ...onDemand];
      const rows = await db.connection.findMany({ where: { id: { in: all.map((c) => c.id) } } });
      expect(rows).toHaveLength(all.length);
      for (const row of rows) {
        const c = all.find((x) => x.id === row.id)!;
        expect(row.status).toBe('active');
        expect(row.version).toBe(2);
        expect(keyring.decrypt(row.refreshTokenEnc)).toBe(fake.currentRefreshToken(c.grantId));
      }
      const attempts = await db.refreshAttempt.findMany({ where: { connectionId: { in: all.map((c) => c.id) } } });
      expect(attempts.map((a) => a.outcome)).toEqual(all.map(() => 'rotated'));
      expect(attempts.every((a) => a.finishedAt !== null)).toBe(true);
      expect(fake.stats().reuseEvents).toBe(0);
    },
    120_000,
  );
});
