// The outbox dispatcher against real PostgreSQL (an isolated database) and a receiver over HTTP.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../worker/log/logger.ts';
import { webhooksCommand } from '../../worker/ops/commands/webhooks.ts';
import { createDb, type Db } from '../../worker/store/db.ts';
import { enqueueEvent, type EventType } from '../../worker/store/outbox.ts';
import { attemptsWithin, eventBody, WebhookDispatcher, type DispatcherOptions } from '../../worker/webhooks/dispatcher.ts';
import { backoffMs } from '../../worker/util/backoff.ts';
import { sign, signatureHeader, verify } from '../../worker/webhooks/signing.ts';
import { waitFor } from '../helpers/harness.ts';
import { isolatedDatabase, runOps } from '../security/support.ts';
import { WebhookReceiver } from './receiver.ts';

const SECRET = `whsec_${randomBytes(16).toString('hex')}`;
let iso: { url: string; drop: () => Promise<void> };
let db: Db;
const silent = createLogger({ level: 'silent' });

async function addEvents(n: number, connections: string[], type: EventType = 'connection.refresh_failing'): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const connectionId = connections[i % connections.length];
    // One transaction per event, like the state changes that cause them.
    await db.$transaction(async (tx) => {
      await enqueueEvent(tx, type, { connectionId, provider: 'acme', payload: { provider: 'acme', externalId: `ext-${connectionId.slice(0, 8)}`, seq: i } });
    });
  }
  const rows = await db.outboxEvent.findMany({ where: { connectionId: { in: connections } }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
  ids.push(...rows.map((r) => r.id));
  return ids;
}

function dispatcher(url: string, over: Partial<DispatcherOptions> = {}): WebhookDispatcher {
  return new WebhookDispatcher({ db, log: silent, url, secret: SECRET, maxAgeMs: 48 * 3600_000, intervalMs: 50, retryBaseMs: 100, retryMaxMs: 400, timeoutMs: 2000, batchSize: 10, concurrency: 4, ...over });
}

beforeAll(async () => {
  iso = await isolatedDatabase('whdisp');
  db = createDb(iso.url, { poolSize: 8 });
});

afterAll(async () => {
  await db?.$disconnect();
  await iso?.drop();
});

describe('signing', () => {
  it('signs timestamp + "." + body with HMAC-SHA256 and verifies only the untampered, fresh delivery', () => {
    const body = JSON.stringify({ id: randomUUID(), type: 'connection.recovered', createdAt: new Date().toISOString(), data: { a: 1 } });
    const ts = Math.floor(Date.now() / 1000);
    const header = signatureHeader(SECRET, ts, body);
    expect(header).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(header).toBe(`v1=${sign(SECRET, ts, body)}`);
    expect(verify(SECRET, { timestamp: String(ts), signature: header }, body)).toBe(true);
    expect(verify(SECRET, { timestamp: String(ts), signature: header }, `${body} `)).toBe(false);
    expect(verify('other-secret', { timestamp: String(ts), signature: header }, body)).toBe(false);
    expect(verify(SECRET, { timestamp: String(ts + 1), signature: header }, body)).toBe(false);
    // Replay protection: a correct signature with an old timestamp is refused.
    const old = ts - 3600;
    expect(verify(SECRET, { timestamp: String(old), signature: signatureHeader(SECRET, old, body) }, body)).toBe(false);
    // Several signatures (secret rotation): any valid one passes.
    expect(verify(SECRET, { timestamp: String(ts), signature: `v1=${'0'.repeat(64)} ${header}` }, body)).toBe(true);
    expect(verify(SECRET, { timestamp: String(ts), signature: undefined }, body)).toBe(false);
  });

  it('the verification example in the README verifies a real delivery and rejects a tampered one', async () => {
    const md = readFileSync(join(process.cwd(), 'README.md'), 'utf8');
    const block = /```js\n(\/\/ verify-webhook\.mjs\n[\s\S]*?)```/.exec(md);
    expect(block).not.toBeNull();
    const file = join(mkdtempSync(join(tmpdir(), 'ort-readme-')), 'verify-webhook.mjs');
    writeFileSync(file, block![1]);
    const { verifyWebhook } = (await import(pathToFileURL(file).href)) as { verifyWebhook: (s: string, h: Record<string, string>, b: string) => boolean };
    const body = eventBody({ id: randomUUID(), type: 'connection.needs_reauth', connectionId: randomUUID(), provider: 'acme', payload: { reason: 'revoked' }, createdAt: new Date() });
    const { deliveryHeaders } = await import('../../worker/webhooks/signing.ts');
    const headers = deliveryHeaders(SECRET, 'evt', body, Date.now());
    expect(verifyWebhook(SECRET, headers, body)).toBe(true);
    expect(verifyWebhook(SECRET, headers, body.replace('revoked', 'expired'))).toBe(false);
    expect(verifyWebhook('wrong', headers, body)).toBe(false);
    expect(verifyWebhook(SECRET, { ...headers, 'webhook-signature': `v1=${'0'.repeat(64)} ${headers['webhook-signature']}` }, body)).toBe(true);
    expect(verifyWebhook(SECRET, { ...headers, 'webhook-signature': 'v1=é' }, body)).toBe(false);
    const old = deliveryHeaders(SECRET, 'evt', body, Date.now() - 3600_000);
    expect(verifyWebhook(SECRET, old, body)).toBe(false);
  });

  it('backs off exponentially with jitter, capped, and keeps retrying for the whole max age', () => {
    const fixed = () => 0.999;
    expect(backoffMs(1, 5000, 3600_000, fixed)).toBeLessThanOrEqual(5000);
    expect(backoffMs(1, 5000, 3600_000, () => 0)).toBe(2500);
    expect(backoffMs(3, 5000, 3600_000, fixed)).toBeGreaterThan(backoffMs(2, 5000, 3600_000, fixed));
    expect(backoffMs(50, 5000, 3600_000, fixed)).toBeLessThanOrEqual(3600_000);
    // Defaults: 48 h of retries at most an hour apart means dozens of attempts before giving up.
    const k = attemptsWithin(48 * 3600_000, 5000, 3600_000);
    expect(k).toBeGreaterThan(48);
    expect(k).toBeLessThan(70);
  });
});

describe('dispatcher', () => {
  it('two dispatchers on one database deliver every event exactly once, in order per connection, signed', async () => {
    const receiver = new WebhookReceiver(SECRET);
    await receiver.start();
    const conns = Array.from({ length: 6 }, () => randomUUID());
    const ids = await addEvents(36, conns);
    const a = dispatcher(receiver.url);
    const b = dispatcher(receiver.url);
    a.start();
    b.start();
    try {
      await waitFor(async () => (await db.outboxEvent.count({ where: { id: { in: ids }, deliveredAt: null } })) === 0, 30_000, 'all delivered');
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await receiver.close();
    }
    const mine = receiver.requests.filter((r) => ids.includes(r.id!));
    expect(mine).toHaveLength(36);
    expect(new Set(mine.map((r) => r.id)).size).toBe(36);
    expect(mine.every((r) => r.verified && r.status === 200)).toBe(true);
    // Per connection, arrival order is creation order.
    const rows = await db.outboxEvent.findMany({ where: { id: { in: ids } } });
    const seqOf = new Map(rows.map((r) => [r.id, (r.payload as { seq: number }).seq]));
    for (const c of conns) {
      const seqs = mine.filter((r) => JSON.parse(r.body).data.connectionId === c).map((r) => seqOf.get(r.id!)!);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    }
    // The body is the documented envelope and carries the event id.
    const body = JSON.parse(mine[0].body);
    expect(Object.keys(body).sort()).toEqual(['createdAt', 'data', 'id', 'type']);
    expect(body.id).toBe(mine[0].id);
    expect(rows.every((r) => r.attempts === 1 && r.lastStatus === 200 && r.lastError === null)).toBe(true);
  });

  it('a receiver that fails the first deliveries and then goes down still gets every event; retries carry the same id and body', async () => {
    const receiver = new WebhookReceiver(SECRET);
    await receiver.start();
    receiver.failFirst(7, 503);
    const conns = Array.from({ length: 3 }, () => randomUUID());
    const ids = await addEvents(12, conns, 'connection.needs_reauth');
    const d = dispatcher(receiver.url);
    d.start();
    try {
      // Wait until the failures happened and some retries are scheduled, then take the receiver down.
      await waitFor(() => receiver.requests.filter((r) => ids.includes(r.id!)).length >= 7, 20_000, 'first failures');
      await receiver.down();
      await waitFor(async () => (await db.outboxEvent.count({ where: { id: { in: ids }, attempts: { gte: 2 }, deliveredAt: null } })) >= 1, 20_000, 'attempts while down');
      const failing = await db.outboxEvent.findMany({ where: { id: { in: ids }, deliveredAt: null, attempts: { gt: 0 } } });
      expect(failing.length).toBeGreaterThan(0);
      expect(failing.every((e) => e.lastError && e.deadAt === null)).toBe(true);
      // Visible with the ops command while failing.
      const listed = await runOps(webhooksCommand, ['list', '--failed', '--json'], { DATABASE_URL: iso.url });
      expect(listed.code).toBe(0);
      const failedIds = new Set(JSON.parse(listed.out[0]).events.map((e: { id: string }) => e.id));
      for (const f of failing) expect(failedIds.has(f.id)).toBe(true);
      await receiver.up();
      await waitFor(async () => (await db.outboxEvent.count({ where: { id: { in: ids }, deliveredAt: null } })) === 0, 30_000, 'all delivered after the receiver came back');
    } finally {
      await d.stop();
      await receiver.close();
    }
    const mine = receiver.requests.filter((r) => ids.includes(r.id!));
    expect(receiver.deliveredIds()).toEqual(new Set(ids));
    expect(mine.length).toBeGreaterThan(ids.length); // there were retries
    expect(mine.every((r) => r.verified)).toBe(true);
    // Duplicates (retries) carry the same id and the same body; timestamps/signatures may differ.
    for (const id of ids) {
      const bodies = new Set(mine.filter((r) => r.id === id).map((r) => r.body));
      expect(bodies.size).toBe(1);
    }
    // Order per connection held across failures and downtime.
    const rows = await db.outboxEvent.findMany({ where: { id: { in: ids } } });
    const seqOf = new Map(rows.map((r) => [r.id, (r.payload as { seq: number }).seq]));
    const first = receiver.firstDeliveries().filter((r) => ids.includes(r.id!));
    for (const c of conns) {
      const seqs = first.filter((r) => JSON.parse(r.body).data.connectionId === c).map((r) => seqOf.get(r.id!)!);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    }
  });

  it('gives up after WEBHOOK_MAX_AGE_MS (dead), lists it, and replays it with the ops command', async () => {
    const receiver = new WebhookReceiver(SECRET);
    await receiver.start();
    receiver.failFirst(1_000_000, 500);
    const conn = randomUUID();
    const [id] = await addEvents(1, [conn], 'connection.needs_reauth');
    const d = dispatcher(receiver.url, { maxAgeMs: 1500, retryBaseMs: 50, retryMaxMs: 200 });
    d.start();
    let dead;
    try {
      dead = await waitFor(async () => {
        const e = await db.outboxEvent.findUnique({ where: { id } });
        return e?.deadAt ? e : null;
      }, 30_000, 'dead');
    } finally {
      await d.stop();
    }
    expect(dead.deliveredAt).toBeNull();
    expect(dead.lastStatus).toBe(500);
    expect(dead.lastError).toMatch(/^HTTP 500/);
    expect(dead.attempts).toBeGreaterThanOrEqual(attemptsWithin(1500, 50, 200));
    expect(dead.deadAt!.getTime() - dead.createdAt.getTime()).toBeGreaterThanOrEqual(1500);
    const attemptsWhenDead = receiver.requests.filter((r) => r.id === id).length;

    const listed = await runOps(webhooksCommand, ['list', '--dead', '--json'], { DATABASE_URL: iso.url });
    expect(JSON.parse(listed.out[0]).events.map((e: { id: string; state: string }) => [e.id, e.state])).toContainEqual([id, 'dead']);
    const text = await runOps(webhooksCommand, ['list', '--dead'], { DATABASE_URL: iso.url });
    expect(text.out.join('\n')).toContain(id);

    const dry = await runOps(webhooksCommand, ['replay', '--dead', '--dry-run', '--json'], { DATABASE_URL: iso.url });
    expect(JSON.parse(dry.out[0]).wouldReplay.map((e: { id: string }) => e.id)).toContain(id);
    expect((await db.outboxEvent.findUnique({ where: { id } }))!.deadAt).not.toBeNull();

    receiver.failFirst(0);
    const replayed = await runOps(webhooksCommand, ['replay', '--dead'], { DATABASE_URL: iso.url });
    expect(replayed.code).toBe(0);
    expect(replayed.out.join('\n')).toMatch(/replayed 1 event/);
    const after = (await db.outboxEvent.findUnique({ where: { id } }))!;
    expect(after.deadAt).toBeNull();
    expect(after.attempts).toBe(0);
    const d2 = dispatcher(receiver.url, { maxAgeMs: 1500, retryBaseMs: 50, retryMaxMs: 200 });
    d2.start();
    try {
      await waitFor(async () => (await db.outboxEvent.findUnique({ where: { id } }))?.deliveredAt, 20_000, 'replayed delivery');
    } finally {
      await d2.stop();
      await receiver.close();
    }
    const sends = receiver.requests.filter((r) => r.id === id);
    expect(sends.length).toBe(attemptsWhenDead + 1);
    expect(sends.at(-1)!.status).toBe(200);
    expect(sends.at(-1)!.body).toBe(sends[0].body);

    // Replay by id re-sends an already delivered event with the same id.
    const again = await runOps(webhooksCommand, ['replay', '--id', id], { DATABASE_URL: iso.url });
    expect(again.code).toBe(0);
    expect((await db.outboxEvent.findUnique({ where: { id } }))!.deliveredAt).toBeNull();
    const bad = await runOps(webhooksCommand, ['replay', '--id', randomUUID()], { DATABASE_URL: iso.url });
    expect(bad.code).toBe(1);
    await db.outboxEvent.update({ where: { id }, data: { deliveredAt: new Date() } });
  });

  it('the event body never contains more than the payload written with the state change', () => {
    const e = { id: randomUUID(), type: 'connection.recovered', connectionId: randomUUID(), provider: 'acme', payload: { provider: 'acme', externalId: 'x', after: 'reconnect' }, createdAt: new Date(0) };
    expect(JSON.parse(eventBody(e))).toEqual({ id: e.id, type: e.type, createdAt: '1970-01-01T00:00:00.000Z', data: { connectionId: e.connectionId, provider: 'acme', externalId: 'x', after: 'reconnect' } });
  });
});
