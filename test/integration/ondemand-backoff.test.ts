// An app that keeps asking for a token while the provider is down must not turn each request into
// a provider call: on-demand refreshes honour the connection's backoff (a retry storm driven by the
// app is still a retry storm), and the 503 says when the next try is. An operator's forced refresh
// still goes through.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeProvider } from '../fakes/fake-provider.ts';
import { sleep, startDaemon, testDb, waitFor, writeProvidersFile, type TestDaemon } from '../helpers/harness.ts';

const fake = new FakeProvider({ persona: 'standard', rotation: 'always', reuseDetection: true, accessTtlSeconds: 2 });
let d: TestDaemon;
const db = testDb();

beforeAll(async () => {
  await fake.start();
  d = await startDaemon({
    PROVIDERS_FILE: writeProvidersFile({
      acme: {
        tokenUrl: fake.tokenUrl,
        clientAuth: 'basic',
        clientId: 'client-id',
        clientSecret: 'client-secret',
        rotation: 'always',
        refreshLeadSec: 1,
      },
    }),
  });
});

afterAll(async () => {
  await d?.stop();
  await fake.close();
  await db.$disconnect();
});

describe('on-demand refreshes during a provider outage', () => {
  it('follow the backoff instead of calling the provider for every app request', async () => {
    const g = fake.issueGrant();
    const reg = await d.api('POST', '/v1/connections', {
      provider: 'acme',
      externalId: 'storm-app',
      tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: 2 },
    });
    expect(reg.status).toBe(201);
    const id = reg.body.id as string;
    fake.setFaults({ status: 503 });
    const before = fake.stats().refreshRequests;

    // An app asking 5 times in parallel every 100 ms, 40 rounds (200 requests), for a token valid
    // 10 s. Counted in rounds, not seconds, so a loaded machine does not change what is asked.
    const ROUNDS = 40;
    const statuses: number[] = [];
    const reasons = new Set<string>();
    const retryAfters: number[] = [];
    const t0 = Date.now();
    for (let round = 0; round < ROUNDS; round++) {
      const rs = await Promise.all(
        Array.from({ length: 5 }, () => d.api('GET', `/v1/connections/${id}/token?min_valid_seconds=10`)),
      );
      for (const r of rs) {
        statuses.push(r.status);
        if (r.status === 503) {
          reasons.add(String(r.body.reason ?? r.body.code));
          retryAfters.push(Number(r.headers.get('retry-after')));
        }
      }
      await sleep(100);
    }
    const calls = fake.stats().refreshRequests - before;
    const elapsedMs = Date.now() - t0;
    // The backoff (RETRY_BASE_MS 300 doubling, capped at RETRY_MAX_MS 3000) allows about four tries
    // in the first 4 s and one per 3 s after; one provider call per app round would be 40.
    const allowed = 6 + Math.ceil(elapsedMs / 3000);
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(calls, `provider calls in ${elapsedMs} ms: ${calls} (allowed ${allowed})`).toBeLessThanOrEqual(allowed);
    expect(statuses.length).toBe(ROUNDS * 5);
    expect(statuses.every((s) => s === 503 || s === 200)).toBe(true);
    expect(reasons.has('backoff')).toBe(true);
    expect(retryAfters.every((s) => s >= 1 && s <= 600)).toBe(true);
    expect((await db.connection.findUnique({ where: { id } }))!.status).toBe('active');

    // An operator's forced refresh is not held back by the backoff.
    const forcedBefore = fake.stats().refreshRequests;
    const forced = await d.api('POST', `/v1/connections/${id}/refresh`);
    expect(forced.body.outcome).toBe('transient');
    // At least its own call (a scheduled retry may land in the same moment).
    expect(fake.stats().refreshRequests - forcedBefore).toBeGreaterThanOrEqual(1);

    // The provider comes back: the connection recovers, and the app gets a token again.
    fake.clearFaults();
    const ok = await waitFor(
      async () => {
        const r = await d.api('GET', `/v1/connections/${id}/token?min_valid_seconds=1`);
        return r.status === 200 ? r : null;
      },
      15_000,
      'a token after the outage',
    );
    expect(ok.body.access_token).toBeTruthy();
    expect(fake.stats().reuseEvents).toBe(0);
  });
});
