// SIGHUP reaches the refresh workers: a provider added to PROVIDERS_FILE gets a refresh worker in
// the running process (its connections are refreshed by the schedule, not only on demand), and a
// changed concurrency or rate limit resizes the running worker in place.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeProvider } from '../fakes/fake-provider.ts';
import {
  startDaemon,
  testDb,
  testEnv,
  waitFor,
  writeProvidersFile,
  TEST_API_KEY,
  type TestDaemon,
} from '../helpers/harness.ts';
import { spawnDaemon, type DaemonProcess } from '../helpers/processes.ts';

const fake = new FakeProvider({ persona: 'standard', rotation: 'always', reuseDetection: true, accessTtlSeconds: 3 });
const db = testDb();
let proc: DaemonProcess | undefined;
let inproc: TestDaemon | undefined;

const def = (extra: Record<string, unknown> = {}) => ({
  tokenUrl: fake.tokenUrl,
  clientAuth: 'basic',
  clientId: 'client-id',
  clientSecret: 'client-secret',
  rotation: 'always',
  refreshLeadSec: 1,
  ...extra,
});

beforeAll(async () => {
  await fake.start();
});

afterAll(async () => {
  await proc?.stop('SIGKILL');
  await inproc?.stop();
  await fake.close();
  await db.$disconnect();
});

describe('SIGHUP and the refresh workers', () => {
  it('a provider added by SIGHUP gets a refresh worker: its connections are refreshed on schedule', async () => {
    const file = writeProvidersFile({ 'hup-old': def() });
    proc = await spawnDaemon(testEnv({ PROVIDERS_FILE: file, LOG_LEVEL: 'info' }), 45_000);
    writeFileSync(file, JSON.stringify({ providers: { 'hup-old': def(), 'hup-new': def() } }));
    proc.child.kill('SIGHUP');
    await waitFor(() => proc!.output().includes('provider definitions reloaded'), 10_000, 'reload logged');

    const g = fake.issueGrant();
    const res = await fetch(`http://127.0.0.1:${proc.port}/v1/connections`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        provider: 'hup-new',
        externalId: 'hup-new-1',
        tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: 3 },
      }),
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    // Two scheduled rotations: the worker took the job and moved it on to the next plan.
    await waitFor(
      async () =>
        (await db.refreshAttempt.count({ where: { connectionId: id, trigger: 'scheduled', outcome: 'rotated' } })) >= 2,
      30_000,
      'scheduled rotations of the added provider',
    );
    expect(await db.refreshAttempt.count({ where: { connectionId: id, trigger: { not: 'scheduled' } } })).toBe(0);
    expect(await proc.stop('SIGTERM')).toBe(0);
  });

  it("a reload resizes a running worker's concurrency and rate limit in place; a removed provider's worker stops once its queue is empty", async () => {
    const file = writeProvidersFile({ 'hup-size': def({ concurrency: 2 }), 'hup-gone': def() });
    inproc = await startDaemon({ PROVIDERS_FILE: file });
    const workers = inproc.daemon.refreshWorkers!;
    const [before] = workers.get('hup-size')!;
    expect(before.concurrency).toBe(2);
    expect(before.opts.limiter).toBeUndefined();

    writeFileSync(file, JSON.stringify({ providers: { 'hup-size': def({ concurrency: 7, ratePerSecond: 3 }) } }));
    const r = inproc.daemon.providers.reload();
    expect(r.removed).toEqual(['hup-gone']);
    const [after] = workers.get('hup-size')!;
    expect(after).toBe(before);
    expect(after.concurrency).toBe(7);
    expect(after.opts.limiter).toEqual({ max: 3, duration: 1000 });
    expect(after.isRunning()).toBe(true);
    // Nothing was queued for the removed provider: its worker stops at the first check.
    await waitFor(() => workers.get('hup-gone') === undefined, 10_000, "removed provider's worker stopped");
  });
});
