// The outbox dispatcher against real PostgreSQL (an isolated database) and a receiver over HTTP.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../worker/log/logger.ts';
import { webhooksCommand } from '../../worker/ops/commands/webhooks.ts';
import { createDb, type Db } from '../../worker/store/db.ts';
import { enqueueEvent, type EventType } from '../../worker/store/outbox.ts';
import {
  attemptsWithin,
  eventBody,
  WebhookDispatcher,
  type DispatcherOptions,
} from '../../worker/webhooks/dispatcher.ts';
import { backoffMs } from '../../worker/util/backoff.ts';
import { deliveryHeaders, sign, signatureHeader, signingKeys } from '../../worker/webhooks/signing.ts';
import { waitFor } from '../helpers/harness.ts';
import { isolatedDatabase, runOps } from '../security/support.ts';
import { standardVerify, WebhookReceiver } from './receiver.ts';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const KEYS = signingKeys(SECRET);
let iso: { url: string; drop: () => Promise<void> };
let db: Db;
const silent = createLogger({ level: 'silent' });

async function addEvents(
  n: number,
  connections: string[],
  type: EventType = 'connection.refresh_failing',
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const connectionId = connections[i % connections.length];
    // One transaction per event, like the state changes that cause them.
    await db.$transaction(async (tx) => {
      await enqueueEvent(tx, type, {
        connectionId,
        provider: 'acme',
        payload: { provider: 'acme', externalId: `ext-${connectionId.slice(0, 8)}`, seq: i },
      });
    });
  }
  const rows = await db.outboxEvent.findMany({
    where: { connectionId: { in: connections } },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });
  ids.push(...rows.map((r) => r.id));
  return ids;
}

function dispatcher(url: string, over: Partial<DispatcherOptions> = {}): WebhookDispatcher {
  return new WebhookDispatcher({
    db,
    log: silent,
    url,
    secret: SECRET,
    maxAgeMs: 48 * 3600_000,
    intervalMs: 50,
    retryBaseMs: 100,
    retryMaxMs: 400,
    timeoutMs: 2000,
    batchSize: 10,
    concurrency: 4,
    ...over,
  });
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
  it('signs "${id}.${timestamp}.${body}" as the spec says: the reference library computes the same header and verifies only the untampered, fresh delivery', () => {
    const id = randomUUID();
    const body = eventBody({
      type: 'connection.recovered',
      connectionId: null,
      provider: 'acme',
      payload: { a: 1 },
      createdAt: new Date(),
    });
    const ts = Math.floor(Date.now() / 1000);
    const header = signatureHeader(KEYS, id, ts, body);
    expect(header).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(header).toBe(`v1,${sign(KEYS[0], id, ts, body)}`);
    // The reference implementation signs the same content with the same key (the decoded whsec_ part).
    expect(new Webhook(SECRET).sign(id, new Date(ts * 1000), body)).toBe(header);
    const h = (over: Record<string, string> = {}) => ({
      'webhook-id': id,
      'webhook-timestamp': String(ts),
      'webhook-signature': header,
      ...over,
    });
    expect(standardVerify(SECRET, body, h())).toBe(true);
    expect(standardVerify(SECRET, `${body} `, h())).toBe(false);
    expect(standardVerify(`whsec_${randomBytes(32).toString('base64')}`, body, h())).toBe(false);
    expect(standardVerify(SECRET, body, h({ 'webhook-timestamp': String(ts + 1) }))).toBe(false);
    expect(standardVerify(SECRET, body, h({ 'webhook-id': randomUUID() }))).toBe(false);
    // Replay protection: a correct signature with an old timestamp is refused.
    const old = ts - 3600;
    expect(
      standardVerify(
        SECRET,
        body,
        h({ 'webhook-timestamp': String(old), 'webhook-signature': signatureHeader(KEYS, id, old, body) }),
      ),
    ).toBe(false);
    expect(standardVerify(SECRET, body, { 'webhook-id': id, 'webhook-timestamp': String(ts) })).toBe(false);
  });

  it('signs with every secret of a rotation, current first, space-separated; a receiver knowing either one verifies', () => {
    const next = `whsec_${randomBytes(24).toString('base64')}`;
    const keys = signingKeys([next, SECRET]);
    const body = eventBody({
      type: 'connection.needs_reauth',
      connectionId: randomUUID(),
      provider: 'acme',
      payload: { reason: 'revoked' },
      createdAt: new Date(),
    });
    const headers = deliveryHeaders(keys, randomUUID(), body, Date.now());
    const sigs = headers['webhook-signature'].split(' ');
    expect(sigs).toHaveLength(2);
    expect(sigs.every((x) => /^v1,[A-Za-z0-9+/]+=*$/.test(x))).toBe(true);
    expect(sigs[0]).toBe(
      deliveryHeaders(signingKeys(next), headers['webhook-id'], body, Date.now())['webhook-signature'],
    );
    expect(standardVerify(next, body, headers)).toBe(true);
    expect(standardVerify(SECRET, body, headers)).toBe(true);
    expect(standardVerify(`whsec_${randomBytes(24).toString('base64')}`, body, headers)).toBe(false);
    expect(headers['content-type']).toBe('application/json');
  });

  it('the receiving example in docs/webhooks.md verifies a real delivery and rejects a tampered one', async () => {
    const md = readFileSync(join(process.cwd(), 'docs', 'webhooks.md'), 'utf8');
    const block = /```js\n(\/\/ verify-webhook\.mjs\n[\s\S]*?)```/.exec(md);
    expect(block).not.toBeNull();
    // The example imports the package by name; point that at this checkout's copy.
    const lib = pathToFileURL(createRequire(import.meta.url).resolve('standardwebhooks')).href;
    const source = block![1].replace(/from 'standardwebhooks'/, `from '${lib}'`);
    expect(source).toContain(lib);
    const file = join(mkdtempSync(join(tmpdir(), 'ort-docs-')), 'verify-webhook.mjs');
    writeFileSync(file, source);
    type Verify = (
      s: string,
      h: Record<string, string>,
      b: string,
    ) => { type: string; timestamp: string; data: Record<string, unknown> } | null;
    const { verifyWebhook } = (await import(pathToFileURL(file).href)) as { verifyWebhook: Verify };
    const createdAt = new Date();
    const body = eventBody({
      type: 'connection.needs_reauth',
      connectionId: randomUUID(),
      provider: 'acme',
      payload: { reason: 'revoked' },
      createdAt,
    });
    const headers = deliveryHeaders(KEYS, randomUUID(), body, Date.now());
    expect(verifyWebhook(SECRET, headers, body)).toEqual({
      type: 'connection.needs_reauth',
      timestamp: createdAt.toISOString(),
      data: JSON.parse(body).data,
    });
    expect(verifyWebhook(SECRET, headers, body.replace('revoked', 'expired'))).toBeNull();
    expect(verifyWebhook(`whsec_${randomBytes(32).toString('base64')}`, headers, body)).toBeNull();
    const rotated = deliveryHeaders(
      signingKeys([`whsec_${randomBytes(32).toString('base64')}`, SECRET]),
      headers['webhook-id'],
      body,
      Date.now(),
    );
    expect(verifyWebhook(SECRET, rotated, body)).not.toBeNull();
    expect(verifyWebhook(SECRET, { ...headers, 'webhook-signature': 'v1,é' }, body)).toBeNull();
    const old = deliveryHeaders(KEYS, headers['webhook-id'], body, Date.now() - 3600_000);
    expect(verifyWebhook(SECRET, old, body)).toBeNull();
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
      await waitFor(
        async () => (await db.outboxEvent.count({ where: { id: { in: ids }, deliveredAt: null } })) === 0,
        30_000,
        'all delivered',
      );
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
    // The body is the spec's envelope; the event id is the webhook-id header.
    const body = JSON.parse(mine[0].body);
    expect(Object.keys(body).sort()).toEqual(['data', 'timestamp', 'type']);
    const row = rows.find((r) => r.id === mine[0].id)!;
    expect(body).toMatchObject({ type: row.type, timestamp: row.createdAt.toISOString() });
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
      await waitFor(
        async () =>
          (await db.outboxEvent.count({ where: { id: { in: ids }, attempts: { gte: 2 }, deliveredAt: null } })) >= 1,
        20_000,
        'attempts while down',
      );
      const failing = await db.outboxEvent.findMany({
        where: { id: { in: ids }, deliveredAt: null, attempts: { gt: 0 } },
      });
      expect(failing.length).toBeGreaterThan(0);
      expect(failing.every((e) => e.lastError && e.deadAt === null)).toBe(true);
      // Visible with the ops command while failing.
      const listed = await runOps(webhooksCommand, ['list', '--failed', '--json'], { DATABASE_URL: iso.url });
      expect(listed.code).toBe(0);
      const failedIds = new Set(JSON.parse(listed.out[0]).events.map((e: { id: string }) => e.id));
      for (const f of failing) expect(failedIds.has(f.id)).toBe(true);
      await receiver.up();
      await waitFor(
        async () => (await db.outboxEvent.count({ where: { id: { in: ids }, deliveredAt: null } })) === 0,
        30_000,
        'all delivered after the receiver came back',
      );
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
      dead = await waitFor(
        async () => {
          const e = await db.outboxEvent.findUnique({ where: { id } });
          return e?.deadAt ? e : null;
        },
        30_000,
        'dead',
      );
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
    expect(JSON.parse(listed.out[0]).events.map((e: { id: string; state: string }) => [e.id, e.state])).toContainEqual([
      id,
      'dead',
    ]);
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
      await waitFor(
        async () => (await db.outboxEvent.findUnique({ where: { id } }))?.deliveredAt,
        20_000,
        'replayed delivery',
      );
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

  it('a 410 Gone stops deliveries to that URL in every dispatcher, shows in ops webhooks list, and resume delivers the rest in order', async () => {
    const receiver = new WebhookReceiver(SECRET);
    await receiver.start();
    receiver.failFirst(1, 410);
    const conn = randomUUID();
    const ids = await addEvents(4, [conn]);
    const a = dispatcher(receiver.url);
    const b = dispatcher(receiver.url);
    a.start();
    b.start();
    try {
      await waitFor(() => receiver.requests.some((r) => r.status === 410), 20_000, 'the 410');
      // Several ticks of both dispatchers later, nothing more was sent to that URL.
      await new Promise((r) => setTimeout(r, 600));
      expect(receiver.requests.filter((r) => ids.includes(r.id!))).toHaveLength(1);
      const first = (await db.outboxEvent.findUnique({ where: { id: ids[0] } }))!;
      expect(first).toMatchObject({ deliveredAt: null, deadAt: null, lastStatus: 410 });
      expect(first.lastError).toMatch(/^HTTP 410/);

      const listed = await runOps(webhooksCommand, ['list', '--json'], { DATABASE_URL: iso.url });
      const gone = JSON.parse(listed.out[0]).gone as { url: string; eventId: string }[];
      expect(gone).toContainEqual(expect.objectContaining({ url: receiver.url, eventId: ids[0] }));
      const text = await runOps(webhooksCommand, ['list'], { DATABASE_URL: iso.url });
      expect(text.out.join('\n')).toContain(`410 Gone`);
      expect(text.out.join('\n')).toContain(receiver.url);

      const dry = await runOps(webhooksCommand, ['resume', '--dry-run'], { DATABASE_URL: iso.url });
      expect(dry.out.join('\n')).toContain('would resume');
      await new Promise((r) => setTimeout(r, 300));
      expect(receiver.requests.filter((r) => ids.includes(r.id!))).toHaveLength(1);
      const resumed = await runOps(webhooksCommand, ['resume'], { DATABASE_URL: iso.url });
      expect(resumed.code).toBe(0);
      expect(resumed.out.join('\n')).toContain(receiver.url);
      await waitFor(
        async () => (await db.outboxEvent.count({ where: { id: { in: ids }, deliveredAt: null } })) === 0,
        20_000,
        'delivered after resume',
      );
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await receiver.close();
    }
    expect(
      receiver
        .firstDeliveries()
        .filter((r) => ids.includes(r.id!))
        .map((r) => r.id),
    ).toEqual(ids);
    expect(receiver.requests.every((r) => r.verified)).toBe(true);
    const after = await runOps(webhooksCommand, ['list', '--json'], { DATABASE_URL: iso.url });
    expect(JSON.parse(after.out[0]).gone).toEqual([]);
  });

  it('during a rotation every delivery carries both signatures; receivers on the old and on the new secret both verify', async () => {
    const next = `whsec_${randomBytes(32).toString('base64')}`;
    const oldSide = new WebhookReceiver(SECRET);
    await oldSide.start();
    const conn = randomUUID();
    const ids = await addEvents(3, [conn]);
    const d = dispatcher(oldSide.url, { secret: [next, SECRET] });
    d.start();
    try {
      await waitFor(
        async () => (await db.outboxEvent.count({ where: { id: { in: ids }, deliveredAt: null } })) === 0,
        20_000,
        'delivered',
      );
    } finally {
      await d.stop();
      await oldSide.close();
    }
    const mine = oldSide.requests.filter((r) => ids.includes(r.id!));
    expect(mine.length).toBeGreaterThanOrEqual(3);
    for (const r of mine) {
      expect(r.verified).toBe(true);
      expect(r.signature!.split(' ')).toHaveLength(2);
      const headers = { 'webhook-id': r.id!, 'webhook-timestamp': r.timestamp!, 'webhook-signature': r.signature! };
      expect(standardVerify(next, r.body, headers)).toBe(true);
    }
  });

  it('the event body never contains more than the payload written with the state change', () => {
    const e = {
      type: 'connection.recovered',
      connectionId: randomUUID(),
      provider: 'acme',
      payload: { provider: 'acme', externalId: 'x', after: 'reconnect' },
      createdAt: new Date(0),
    };
    expect(JSON.parse(eventBody(e))).toEqual({
      type: e.type,
      timestamp: '1970-01-01T00:00:00.000Z',
      data: { connectionId: e.connectionId, provider: 'acme', externalId: 'x', after: 'reconnect' },
    });
  });
});
