// `npm start` (worker/main.ts) as a real process: SIGHUP re-reads PROVIDERS_FILE, a provider whose
// client secret changed gets its open credential breaker closed at once, and a broken file changes
// nothing (the process keeps running on the previous definitions).
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveProvider } from '../../worker/providers/registry.ts';
import { testDb, testEnv, waitFor, writeProvidersFile, TEST_READ_KEY } from '../helpers/harness.ts';

const db = testDb();
let child: ChildProcess | undefined;
const lines: Record<string, unknown>[] = [];

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await db.$disconnect();
});

const def = (secret: string) => ({
  tokenUrl: 'http://127.0.0.1:9/oauth/token',
  clientId: 'client-id',
  clientSecret: secret,
});
const logged = (msg: string) => lines.find((l) => l.msg === msg);

describe('SIGHUP', () => {
  it('reloads provider definitions and closes the breaker of a provider whose credentials changed', async () => {
    const file = writeProvidersFile({ 'hup-acme': def('old-secret-value') });
    const oldFp = resolveProvider(
      'hup-acme',
      def('old-secret-value'),
      {},
      { allowInsecure: true },
    ).credentialsFingerprint;
    // The breaker is open from an earlier run, recorded with the old credentials.
    await db.providerState.upsert({
      where: { provider: 'hup-acme' },
      create: {
        provider: 'hup-acme',
        breakerState: 'open',
        openedAt: new Date(),
        lastProbeAt: new Date(),
        lastErrorCode: 'invalid_client',
        credentialsFingerprint: oldFp,
      },
      update: { breakerState: 'open', openedAt: new Date(), credentialsFingerprint: oldFp },
    });
    const env = {
      ...process.env,
      ...testEnv({ PROVIDERS_FILE: file, ROLES: 'api', LOG_LEVEL: 'info' }),
    };
    child = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          /* not a log line */
        }
      }
    });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const started = await waitFor(
      () => logged('oauth-refresher started') ?? (child!.exitCode !== null ? { failed: stderr } : null),
      45_000,
      'daemon start',
    );
    expect(started).not.toHaveProperty('failed');
    const base = started.address as string;
    const view = async () =>
      (await (
        await fetch(`${base}/v1/providers/hup-acme`, { headers: { authorization: `Bearer ${TEST_READ_KEY}` } })
      ).json()) as { breaker: { state: string } };
    expect((await view()).breaker.state).toBe('open');

    // A broken file: logged, nothing changes, the process keeps running.
    writeFileSync(file, JSON.stringify({ providers: { 'hup-acme': { ...def('x'), clientAuth: 'telepathy' } } }));
    child.kill('SIGHUP');
    const failed = await waitFor(
      () => logged('provider reload failed; the previous definitions stay in force'),
      10_000,
      'reload failure logged',
    );
    expect(JSON.stringify(failed)).toContain('clientAuth');
    expect((await view()).breaker.state).toBe('open');

    // The operator fixes the secret and sends SIGHUP: the breaker closes at once.
    writeFileSync(file, JSON.stringify({ providers: { 'hup-acme': def('new-secret-value') } }));
    child.kill('SIGHUP');
    const reloaded = await waitFor(() => logged('provider definitions reloaded'), 10_000, 'reload logged');
    expect(reloaded.credentialsChanged).toEqual(['hup-acme']);
    await waitFor(async () => (await view()).breaker.state === 'closed', 10_000, 'breaker closed');
    const ev = await db.outboxEvent.findMany({
      where: { type: 'provider.credentials_restored', provider: 'hup-acme' },
    });
    expect(ev).toHaveLength(1);
    expect(ev[0].payload).toMatchObject({ reason: 'credentials_changed' });

    // No secret in any log line.
    const all = JSON.stringify(lines);
    expect(all).not.toContain('old-secret-value');
    expect(all).not.toContain('new-secret-value');

    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) =>
      child!.exitCode !== null ? r(child!.exitCode) : child!.once('exit', (c) => r(c)),
    );
    expect(code).toBe(0);
  });
});
