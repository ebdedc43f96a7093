// No secret leaks: runs refreshes (successes, 5xx, invalid_client, invalid_grant, a provider that
// echoes secrets back), API calls (good and bad, bad bodies carrying secrets) and webhook
// deliveries with known secret values, then searches every log line, every Redis key and value
// of the daemon, every non-token column of every table, every API error body and every webhook
// body for them. Each search has a positive control so the test cannot pass by searching nothing.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../worker/config/env.ts';
import { defaultExtensions } from '../../worker/extensions.ts';
import { createNodeHttpClient, type HttpClient } from '../../worker/oauth/http.ts';
import { namespaceOf } from '../../worker/redis/keys.ts';
import { createDb, type Db } from '../../worker/store/db.ts';
import { FakeProvider } from '../fakes/fake-provider.ts';
import {
  sleep,
  startDaemon,
  testEnv,
  testRedis,
  waitFor,
  writeProvidersFile,
  type TestDaemon,
} from '../helpers/harness.ts';
import { WebhookReceiver } from '../webhooks/receiver.ts';
import { captureLogger, dumpNonTokenColumns, dumpRedis, findSecrets, isolatedDatabase } from './support.ts';

const hex = (n: number) => randomBytes(n).toString('hex');
// Short, unlabeled secrets on purpose: pattern-based scrubbing alone would not catch them.
const CLIENT_SECRET = `cs${hex(8)}`;
const CLIENT_SECRET_BODY = `cb${hex(8)}`;
const API_KEY = `tokenkey-${hex(12)}`;
const READ_KEY = `readkey-${hex(12)}`;
const ENC_KEY = randomBytes(32).toString('base64');
const WEBHOOK_SECRET = `whsec_${randomBytes(24).toString('base64')}`;

const fake = new FakeProvider({
  rotation: 'always',
  reuseDetection: true,
  accessTtlSeconds: 3,
  clientSecret: CLIENT_SECRET,
});
const fakeBody = new FakeProvider({
  rotation: 'always',
  reuseDetection: true,
  accessTtlSeconds: 3,
  clientSecret: CLIENT_SECRET_BODY,
});
const receiver = new WebhookReceiver(WEBHOOK_SECRET);
const secrets = new Set<string>([
  CLIENT_SECRET,
  CLIENT_SECRET_BODY,
  API_KEY,
  READ_KEY,
  ENC_KEY,
  WEBHOOK_SECRET,
  Buffer.from(`client-id:${CLIENT_SECRET}`).toString('base64'),
  Buffer.from(ENC_KEY, 'base64').toString('hex'),
]);
/** Secrets an API response may legitimately carry: access tokens returned by GET /token. */
const accessTokens = new Set<string>();
const apiBodies: { where: string; text: string }[] = [];
const tokenBodies: { where: string; text: string; allowed: string }[] = [];
const { log, lines } = captureLogger('trace');
let iso: { url: string; drop: () => Promise<void> };
let db: Db;
let d: TestDaemon;

/** Records every token the providers hand to the daemon (the HTTP adapter sees all answers). */
const tokenHttp = createNodeHttpClient(); // the daemon's own client
const recordingHttp: HttpClient = async (req, timeoutMs) => {
  const answer = await tokenHttp.client(req, timeoutMs);
  if (answer.kind === 'response') {
    try {
      const body = JSON.parse(answer.bodyText) as Record<string, unknown>;
      for (const f of ['access_token', 'refresh_token']) if (typeof body[f] === 'string') secrets.add(body[f]);
      if (typeof body.access_token === 'string') accessTokens.add(body.access_token);
    } catch {
      /* not JSON */
    }
  }
  return answer;
};

async function call(method: string, path: string, body?: unknown, key = API_KEY) {
  const res = await d.api(method, path, body, key);
  const text = typeof res.body === 'string' ? res.body : JSON.stringify(res.body ?? '');
  if (method === 'GET' && /\/token/.test(path) && res.status === 200)
    tokenBodies.push({ where: `${method} ${path}`, text, allowed: res.body.access_token });
  else
    apiBodies.push({
      where: `${method} ${path} -> ${res.status}`,
      text: `${text} ${JSON.stringify(Object.fromEntries(res.headers))}`,
    });
  return res;
}

async function register(provider: string, f: FakeProvider, externalId: string, expiresIn: number) {
  const g = f.issueGrant();
  secrets.add(g.accessToken);
  secrets.add(g.refreshToken);
  accessTokens.add(g.accessToken);
  const res = await call('POST', '/v1/connections', {
    provider,
    externalId,
    tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: expiresIn, token_type: 'Bearer' },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.id as string, grantId: g.grantId };
}

const attemptsOf = (id: string) => db.refreshAttempt.findMany({ where: { connectionId: id } });

beforeAll(async () => {
  iso = await isolatedDatabase('leak');
  db = createDb(iso.url, { poolSize: 4 });
  await Promise.all([fake.start(), fakeBody.start(), receiver.start()]);
  // Client secrets come from the environment (one through a *_FILE), never from the providers file.
  const dir = mkdtempSync(join(tmpdir(), 'ort-leak-'));
  writeFileSync(join(dir, 'secret'), `${CLIENT_SECRET}\n`);
  process.env.LEAKBASIC_CLIENT_ID = 'client-id';
  process.env.LEAKBASIC_CLIENT_SECRET_FILE = join(dir, 'secret');
  process.env.LEAKBODY_CLIENT_ID = 'client-id';
  process.env.LEAKBODY_CLIENT_SECRET = CLIENT_SECRET_BODY;
  const providersFile = writeProvidersFile({
    leakbasic: { tokenUrl: fake.tokenUrl, clientAuth: 'basic', rotation: 'always', refreshLeadSec: 1 },
    leakbody: { tokenUrl: fakeBody.tokenUrl, clientAuth: 'body', rotation: 'always', refreshLeadSec: 1 },
  });
  const env = testEnv({
    DATABASE_URL: iso.url,
    PROVIDERS_FILE: providersFile,
    API_KEY,
    API_READ_KEYS: READ_KEY,
    ENCRYPTION_KEY: undefined,
    ENCRYPTION_KEYS: `main:${ENC_KEY}`,
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET,
    WEBHOOK_DISPATCH_INTERVAL_MS: '100',
    LOG_LEVEL: 'trace',
  });
  const config = loadConfig(env);
  // The production set of extensions: key check, webhooks, credential breaker, metrics, dashboard.
  d = await startDaemon(env, { log, http: recordingHttp, extensions: defaultExtensions(config) });
});

afterAll(async () => {
  await d?.stop();
  tokenHttp.close();
  await Promise.all([fake.close(), fakeBody.close(), receiver.close()]);
  await db?.$disconnect();
  await iso?.drop();
  delete process.env.LEAKBASIC_CLIENT_SECRET_FILE;
  delete process.env.LEAKBODY_CLIENT_SECRET;
});

describe('secrets never leak', () => {
  it('runs refreshes, failures and API calls with known secrets, then finds none of them anywhere but the token columns', async () => {
    const ok = await register('leakbasic', fake, 'ok-1', 2);
    const okBody = await register('leakbody', fakeBody, 'ok-body-1', 2);
    const revoked = await register('leakbasic', fake, 'revoked-1', 600);
    await waitFor(
      async () =>
        (await db.connection.findUnique({ where: { id: ok.id } }))!.version >= 3 &&
        (await db.connection.findUnique({ where: { id: okBody.id } }))!.version >= 3,
      30_000,
      'rotations',
    );

    // Token API: success (returns an access token), wrong scope, wrong key, no key.
    expect((await call('GET', `/v1/connections/${ok.id}/token?min_valid_seconds=0`)).status).toBe(200);
    expect((await call('GET', `/v1/connections/${ok.id}/token`, undefined, READ_KEY)).status).toBe(403);
    expect((await call('GET', `/v1/connections/${ok.id}`, undefined, READ_KEY)).status).toBe(200);
    expect((await call('GET', '/v1/connections?provider=leakbasic', undefined, `${API_KEY}x`)).status).toBe(401);
    expect((await call('GET', '/v1/connections')).status).toBe(200);

    // Bad bodies that carry secrets: rejected, and the secret is not echoed or logged.
    const s1 = `badsecret${hex(6)}`;
    const s2 = `badsecret${hex(6)}`;
    const s3 = `badsecret${hex(6)}`;
    const s4 = `badsecret${hex(6)}`;
    [s1, s2, s3, s4].forEach((s) => secrets.add(s));
    expect(
      (
        await call('POST', '/v1/connections', {
          provider: 'leakbasic',
          externalId: 'bad-1',
          tokens: { access_token: s1, refresh_token: s2, expires_in: -5 },
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await call(
          'POST',
          '/v1/connections',
          `{"provider":"leakbasic","externalId":"bad-2","tokens":{"access_token":"${s3}",`,
        )
      ).status,
    ).toBe(400);
    expect((await call('PUT', `/v1/connections/${ok.id}/tokens`, { access_token: s4, refresh_token: 42 })).status).toBe(
      400,
    );
    expect(
      (await call('PUT', `/v1/connections/${ok.id}/tokens`, { access_token: `${s4}\u0000`, refresh_token: s4 })).status,
    ).toBe(400);
    expect(
      (
        await call('POST', '/v1/connections', {
          provider: 'leakbasic',
          externalId: 'bad-3',
          tokens: { access_token: s1.repeat(1000), refresh_token: s2 },
        })
      ).status,
    ).toBe(400);

    // A provider that echoes the client secret and the presented refresh token in its error.
    const presented = fake.currentRefreshToken(revoked.grantId)!;
    fake.setFaults({
      status: 400,
      count: 2,
      body: {
        error: 'invalid_request',
        error_description: `client secret ${CLIENT_SECRET} and token ${presented} look odd`,
      },
    });
    const echoed = await call('POST', `/v1/connections/${revoked.id}/refresh`);
    expect(echoed.status).toBe(200);
    // 5xx storm and invalid_client on the basic-auth provider.
    fake.setFaults({ status: 503 });
    await waitFor(async () => (await attemptsOf(ok.id)).some((a) => a.outcome === 'transient'), 20_000, '5xx attempts');
    fake.setFaults({ invalidClient: true });
    expect((await call('POST', `/v1/connections/${revoked.id}/refresh`)).status).toBe(200);
    // The forced refresh opens the credential breaker, after which only one probe per interval calls
    // the provider (whichever connection it picks): wait for a credential failure on either.
    await waitFor(
      async () =>
        (await db.refreshAttempt.count({
          where: { connectionId: { in: [ok.id, revoked.id] }, outcome: 'misconfigured' },
        })) > 0,
      20_000,
      'invalid_client attempts',
    );
    fake.clearFaults();
    fakeBody.setFaults({ invalidClient: true, count: 1 });
    await call('POST', `/v1/connections/${okBody.id}/refresh`);
    // invalid_grant: the user revoked the grant.
    fake.revokeGrant(revoked.grantId);
    // (The credential breaker may hold refreshes back until its probe succeeds: ask again until marked.)
    await waitFor(
      async () => {
        if ((await db.connection.findUnique({ where: { id: revoked.id } }))?.status === 'needs_reauth') return true;
        expect([200, 409]).toContain((await call('POST', `/v1/connections/${revoked.id}/refresh`)).status);
        return false;
      },
      30_000,
      'needs_reauth',
      300,
    );
    expect((await call('GET', `/v1/connections/${revoked.id}/token`)).status).toBe(409);
    // The credential faults are gone: wait for the breaker's probe to close it, as an operator would.
    await waitFor(
      async () => {
        const r = await call('GET', '/v1/providers/leakbasic');
        return r.status === 200 && r.body.breaker?.state === 'closed';
      },
      30_000,
      'leakbasic breaker closed',
      300,
    );
    // Reconnect with a new grant (PUT) and an on-demand refresh through the token endpoint.
    const g2 = fake.issueGrant();
    secrets.add(g2.accessToken);
    secrets.add(g2.refreshToken);
    expect(
      (
        await call('PUT', `/v1/connections/${revoked.id}/tokens`, {
          access_token: g2.accessToken,
          refresh_token: g2.refreshToken,
          expires_in: 1,
        })
      ).status,
    ).toBe(200);
    expect((await call('GET', `/v1/connections/${revoked.id}/token?min_valid_seconds=2`)).status).toBe(200);
    await waitFor(
      async () => (await db.outboxEvent.count({ where: { deliveredAt: null } })) === 0 && receiver.requests.length >= 2,
      20_000,
      'webhooks delivered',
    );
    // Metric labels, provider status and the queue dashboard's API are answers too.
    for (const path of ['/metrics', '/v1/providers', '/admin/queues/api/queues']) {
      const r = await call('GET', path);
      expect(r.status, path).toBe(200);
    }
    await sleep(300);
    await d.stop();

    // The scenarios really happened.
    const outcomes = new Set((await db.refreshAttempt.findMany()).map((a) => a.outcome));
    for (const o of ['rotated', 'transient', 'misconfigured', 'needs_reauth']) expect(outcomes).toContain(o);
    // The echoing provider was answered and its echo scrubbed (not dropped).
    const echoedRows = await db.refreshAttempt.findMany({ where: { errorDescription: { contains: 'look odd' } } });
    expect(echoedRows.length).toBeGreaterThan(0);
    expect(echoedRows.every((a) => a.errorDescription!.includes('client secret [redacted]'))).toBe(true);
    expect(secrets.size).toBeGreaterThan(15);

    // 1. Logs.
    expect(lines.length).toBeGreaterThan(5);
    expect(lines.some((l) => l.includes('connection needs re-authorization'))).toBe(true);
    const logHits = findSecrets(
      secrets,
      lines.map((l, i) => ({ where: `log line ${i}`, text: l })),
    );
    // 2. Redis: every key and value under the daemon's prefix (positive control: a planted canary).
    const redis = testRedis();
    const canary = `canary${hex(8)}`;
    const ns = `${namespaceOf(d.config.queuePrefix)}:`;
    await redis.set(`${ns}canary`, canary);
    const dump = await dumpRedis(redis, ns);
    await redis.del(`${ns}canary`);
    await redis.quit();
    expect(dump.keys).toBeGreaterThan(3);
    expect(
      findSecrets(
        [canary],
        dump.text.map((t) => ({ where: 'redis', text: t })),
      ),
    ).not.toEqual({});
    const redisHits = findSecrets(
      secrets,
      dump.text.map((t, i) => ({ where: `redis item ${i}`, text: t })),
    );
    // 3. Every non-token column of every table (positive control: the enc column does hold a value we can find).
    const rows = await dumpNonTokenColumns(db);
    expect(rows.rows).toBeGreaterThan(10);
    const dbHits = findSecrets(
      secrets,
      rows.text.map((t) => ({ where: 'db row', text: t })),
    );
    const encRows = await db.connection.findMany({ select: { accessTokenEnc: true, refreshTokenEnc: true } });
    expect(
      findSecrets([encRows[0].refreshTokenEnc.slice(0, 20)], [{ where: 'control', text: JSON.stringify(encRows) }]),
    ).not.toEqual({});
    const encHits = findSecrets(secrets, [{ where: 'token columns', text: JSON.stringify(encRows) }]);
    // 4. API answers (errors and everything but the token itself); token answers carry only their own access token.
    expect(apiBodies.length).toBeGreaterThan(10);
    const apiHits = findSecrets(secrets, apiBodies);
    const tokenHits: string[] = [];
    for (const t of tokenBodies) {
      expect(accessTokens.has(t.allowed)).toBe(true);
      const others = [...secrets].filter((s) => s !== t.allowed);
      const h = findSecrets(others, [t]);
      if (Object.keys(h).length) tokenHits.push(JSON.stringify(h));
    }
    // 5. Webhooks on the wire.
    expect(receiver.requests.length).toBeGreaterThan(1);
    const types = new Set(receiver.requests.map((r) => JSON.parse(r.body).type));
    for (const t of ['connection.needs_reauth', 'connection.recovered', 'provider.credentials_invalid'])
      expect(types).toContain(t);
    expect(receiver.requests.every((r) => r.verified)).toBe(true);
    const hookHits = findSecrets(
      secrets,
      receiver.requests.map((r) => ({ where: `webhook ${r.id}`, text: `${r.body} ${r.signature}` })),
    );

    expect({ logHits, redisHits, dbHits, encHits, apiHits, tokenHits, hookHits }).toEqual({
      logHits: {},
      redisHits: {},
      dbHits: {},
      encHits: {},
      apiHits: {},
      tokenHits: [],
      hookHits: {},
    });
  });
});
