// Per-provider limits on the token endpoint: a slow provider is held to its own concurrency, on the
// queue path and the on-demand path alike, and never delays another provider's refreshes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeProvider } from '../fakes/fake-provider.ts';
import {
  startDaemon,
  testDb,
  waitFor,
  writeProvidersFile,
  TEST_READ_KEY,
  type TestDaemon,
} from '../helpers/harness.ts';
import { providerGateExtension } from '../../worker/gate/breaker.ts';

const SLOW_MS = 2500;
const slow = new FakeProvider({ persona: 'standard', rotation: 'always', accessTtlSeconds: 3600 });
const fast = new FakeProvider({ persona: 'standard', rotation: 'always', accessTtlSeconds: 3600 });
let d: TestDaemon;
const db = testDb();
const creds = { clientId: 'client-id', clientSecret: 'client-secret' };

beforeAll(async () => {
  await Promise.all([slow.start(), fast.start()]);
  slow.setFaults({ delayMs: SLOW_MS });
  const providersFile = writeProvidersFile({
    'l-slow': { tokenUrl: slow.tokenUrl, ...creds, rotation: 'always', concurrency: 2 },
    'l-fast': { tokenUrl: fast.tokenUrl, ...creds, rotation: 'always', concurrency: 2 },
  });
  d = await startDaemon(
    { PROVIDERS_FILE: providersFile, REQUEST_TIMEOUT_MS: '8000', LOCK_TTL_MS: '25000' },
    { extensions: [providerGateExtension({ probeIntervalMs: 1000 })] },
  );
});

afterAll(async () => {
  await d?.stop();
  await Promise.all([slow.close(), fast.close()]);
  await db.$disconnect();
});

async function register(provider: string, f: FakeProvider, externalId: string, expiresIn: number) {
  const g = f.issueGrant();
  const res = await d.api('POST', '/v1/connections', {
    provider,
    externalId,
    tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: expiresIn },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.id as string, grantId: g.grantId };
}

/** Largest number of request starts inside any window shorter than one slow answer. */
function maxStartsWithin(starts: number[], windowMs: number): number {
  const s = [...starts].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0; i < s.length; i++) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] - s[i] < windowMs) j++;
    best = Math.max(best, j - i + 1);
  }
  return best;
}

describe('per-provider limits', () => {
  it('on-demand: a slow provider runs at its concurrency, and a fast provider is served while it queues', async () => {
    const slowConns = await Promise.all(
      Array.from({ length: 8 }, (_v, i) => register('l-slow', slow, `od-slow-${i}`, 3600)),
    );
    const fastConn = await register('l-fast', fast, 'od-fast', 3600);
    const starts: number[] = [];
    slow.onRequest = ({ at }) => starts.push(at);
    let slowDone = 0;
    const slowCalls = slowConns.map((c) =>
      d.api('POST', `/v1/connections/${c.id}/refresh`).then((r) => {
        slowDone++;
        return r;
      }),
    );
    // Wait until the slow provider is saturated and others queue behind it.
    const view = await waitFor(
      async () => {
        const res = await d.api('GET', '/v1/providers', undefined, TEST_READ_KEY);
        const v = (res.body.providers as { key: string; breaker: { inFlight: number; waiting: number } }[]).find(
          (p) => p.key === 'l-slow',
        )!;
        return v.breaker.inFlight === 2 && v.breaker.waiting > 0 ? v : null;
      },
      10_000,
      'slow provider saturated',
    );
    expect(view.breaker.inFlight).toBe(2);
    // The fast provider's refresh goes through at once.
    const f = await d.api('POST', `/v1/connections/${fastConn.id}/refresh`);
    expect(f.body.outcome).toBe('rotated');
    expect(slowDone).toBeLessThan(slowConns.length);
    const results = await Promise.all(slowCalls);
    slow.onRequest = undefined;
    expect(results.map((r) => r.body.outcome)).toEqual(Array(8).fill('rotated'));
    // Never more than 2 requests started within one slow answer's time.
    expect(maxStartsWithin(starts, SLOW_MS - 100)).toBeLessThanOrEqual(2);
  });

  it('scheduled: due refreshes of a fast provider are not held up by a slow one', async () => {
    const slowConns = await Promise.all(
      Array.from({ length: 8 }, (_v, i) => register('l-slow', slow, `sch-slow-${i}`, 2)),
    );
    const fastConns = await Promise.all(
      Array.from({ length: 10 }, (_v, i) => register('l-fast', fast, `sch-fast-${i}`, 2)),
    );
    const slowIds = slowConns.map((c) => c.id);
    const fastIds = fastConns.map((c) => c.id);
    await waitFor(
      async () => (await db.connection.count({ where: { id: { in: fastIds }, version: { gte: 2 } } })) === 10,
      20_000,
      'all fast connections refreshed',
    );
    // At that moment the slow provider is still working through its own queue (2 at a time).
    const slowRefreshed = await db.connection.count({ where: { id: { in: slowIds }, version: { gte: 2 } } });
    expect(slowRefreshed).toBeLessThan(8);
    await waitFor(
      async () => (await db.connection.count({ where: { id: { in: slowIds }, version: { gte: 2 } } })) === 8,
      45_000,
      'slow ones catch up',
    );
    expect(slow.stats().reuseEvents + fast.stats().reuseEvents).toBe(0);
  });
});
