// A worker-only process (ROLES=worker, `npm start`) serves its own /metrics on METRICS_PORT: its
// refresh counters are scraped while it refreshes, with the same names as on the API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeProvider } from '../fakes/fake-provider.ts';
import {
  startDaemon,
  testEnv,
  waitFor,
  writeProvidersFile,
  TEST_READ_KEY,
  type TestDaemon,
} from '../helpers/harness.ts';
import { freePort, spawnDaemon, type DaemonProcess } from '../helpers/processes.ts';

const fake = new FakeProvider({ persona: 'standard', rotation: 'always', reuseDetection: true, accessTtlSeconds: 3 });
let api: TestDaemon;
let worker: DaemonProcess;
let metricsPort: number;

beforeAll(async () => {
  await fake.start();
  const env = testEnv({
    PROVIDERS_FILE: writeProvidersFile({
      'split-acme': {
        tokenUrl: fake.tokenUrl,
        clientAuth: 'basic',
        clientId: 'client-id',
        clientSecret: 'client-secret',
        rotation: 'always',
        refreshLeadSec: 1,
      },
    }),
    LOG_LEVEL: 'warn',
  });
  metricsPort = await freePort();
  // The API and the feeder here, in this process; the refreshes only in the worker-only child.
  api = await startDaemon({ ...env, ROLES: 'api,scheduler' });
  worker = await spawnDaemon({ ...env, ROLES: 'worker', METRICS_PORT: String(metricsPort) });
}, 90_000);

afterAll(async () => {
  await worker?.stop('SIGKILL');
  await api?.stop();
  await fake.close();
});

const scrape = (key?: string) =>
  fetch(`http://127.0.0.1:${metricsPort}/metrics`, { headers: key ? { authorization: `Bearer ${key}` } : {} });

describe('metrics from a ROLES=worker process', () => {
  it('serves /metrics on METRICS_PORT behind the API key, and its refresh counters move', async () => {
    expect((await scrape()).status).toBe(401);
    const g = fake.issueGrant();
    const res = await api.api('POST', '/v1/connections', {
      provider: 'split-acme',
      externalId: 'split-1',
      tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: 3 },
    });
    expect(res.status).toBe(201);
    const series = 'oauth_refresher_refreshes_total{provider="split-acme",trigger="scheduled",outcome="rotated"}';
    const text = await waitFor(
      async () => {
        const r = await scrape(TEST_READ_KEY);
        const body = await r.text();
        const line = body.split('\n').find((l) => l.startsWith(`${series} `));
        return line && Number(line.split(' ').pop()) >= 1 ? body : null;
      },
      30_000,
      'a scheduled rotation counted by the worker process',
    );
    // The same names as on the API: gauges and process metrics too.
    expect(text).toContain('oauth_refresher_refresh_duration_seconds_bucket{');
    expect(text).toContain('oauth_refresher_connections{provider="split-acme",status="active"} 1');
    expect(text).not.toContain(res.body.id as string);
    // The API process did no refresh: what moved was the worker's own counter.
    expect((await api.api('GET', '/v1/connections/' + (res.body.id as string))).status).toBe(200);
  });
});
