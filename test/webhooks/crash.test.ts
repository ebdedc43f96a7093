// Killing the daemon mid-dispatch loses nothing: the claimed events' lease runs out and the next
// process delivers them, with the same event id. Real processes, SIGKILL, real PostgreSQL.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../../worker/store/db.ts';
import { enqueueEvent } from '../../worker/store/outbox.ts';
import { testEnv, waitFor } from '../helpers/harness.ts';
import { isolatedDatabase } from '../security/support.ts';
import { WebhookReceiver } from './receiver.ts';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
let iso: { url: string; drop: () => Promise<void> };
let db: Db;
const children: ChildProcess[] = [];

function startChild(env: Record<string, string>): Promise<{ child: ChildProcess; stderr: string[] }> {
  const stderr: string[] = [];
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/webhooks/child-daemon.ts'], {
    cwd: process.cwd(),
    env: { ...process.env, ...(testEnv(env) as Record<string, string>) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  child.stderr.on('data', (b: Buffer) => stderr.push(b.toString()));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`child did not start: ${stderr.join('')}`)), 45_000);
    child.stdout.on('data', (b: Buffer) => {
      if (b.toString().includes('ready')) {
        clearTimeout(t);
        resolve({ child, stderr });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`child exited with ${code}: ${stderr.join('')}`));
    });
  });
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

beforeAll(async () => {
  iso = await isolatedDatabase('whcrash');
  db = createDb(iso.url, { poolSize: 4 });
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await db?.$disconnect();
  await iso?.drop();
});

describe('dispatch across a crash', () => {
  it('SIGKILL while deliveries are in flight: every event still arrives, redelivered with the same id', async () => {
    const receiver = new WebhookReceiver(SECRET);
    await receiver.start();
    const conns = Array.from({ length: 5 }, () => randomUUID());
    for (let i = 0; i < 20; i++) {
      await db.$transaction((tx) =>
        enqueueEvent(tx, 'connection.refresh_failing', {
          connectionId: conns[i % 5],
          provider: 'acme',
          payload: { provider: 'acme', externalId: `e${i % 5}`, seq: i },
        }),
      );
    }
    const ids = (await db.outboxEvent.findMany({ select: { id: true } })).map((r) => r.id);
    expect(ids).toHaveLength(20);
    const env = {
      DATABASE_URL: iso.url,
      ROLES: 'worker',
      WEBHOOK_URL: receiver.url,
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_DISPATCH_INTERVAL_MS: '100',
      WEBHOOK_RETRY_BASE_MS: '200',
      WEBHOOK_RETRY_MAX_MS: '1000',
      WEBHOOK_BATCH_SIZE: '5',
      LOG_LEVEL: 'warn',
    };

    // First process: the receiver never answers, so its deliveries hang in flight.
    receiver.holding = true;
    const a = await startChild({ ...env, WEBHOOK_TIMEOUT_MS: '5000' });
    await waitFor(() => receiver.heldCount >= 5, 30_000, 'deliveries in flight');
    const inFlight = receiver.requests.map((r) => r.id!);
    const leased = await db.outboxEvent.findMany({ where: { id: { in: inFlight } } });
    expect(leased.every((e) => e.deliveredAt === null && e.nextAttemptAt.getTime() > Date.now())).toBe(true);
    a.child.kill('SIGKILL');
    expect((await exited(a.child)).signal).toBe('SIGKILL');
    receiver.dropHeld();
    receiver.holding = false;
    // Nothing was marked delivered or failed by the dead process.
    expect(await db.outboxEvent.count({ where: { deliveredAt: { not: null } } })).toBe(0);

    // Second process: picks everything up once the dead process's lease runs out.
    const b = await startChild({ ...env, WEBHOOK_TIMEOUT_MS: '2000' });
    await waitFor(
      async () => (await db.outboxEvent.count({ where: { deliveredAt: null } })) === 0,
      60_000,
      'all delivered by the second process',
    );
    b.child.kill('SIGTERM');
    expect((await exited(b.child)).code).toBe(0);
    await receiver.close();

    expect(receiver.deliveredIds()).toEqual(new Set(ids));
    expect(receiver.requests.every((r) => r.verified)).toBe(true);
    for (const id of inFlight) {
      const sends = receiver.requests.filter((r) => r.id === id);
      expect(sends.length).toBeGreaterThanOrEqual(2);
      expect(new Set(sends.map((s) => s.body)).size).toBe(1);
    }
    // The crash did not count as a failed attempt: one recorded attempt each, the successful one.
    const rows = await db.outboxEvent.findMany({ where: { id: { in: inFlight } } });
    expect(rows.every((r) => r.attempts === 1 && r.lastStatus === 200)).toBe(true);
  });
});
