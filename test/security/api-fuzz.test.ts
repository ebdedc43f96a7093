// Property-based fuzzing of the API's parsers (fast-check): random and malformed bodies, huge
// values, odd Unicode, repeated query parameters. The API never answers 500, and a rejected input
// changes nothing in the database.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../../worker/store/db.ts';
import { FakeProvider } from '../fakes/fake-provider.ts';
import { startDaemon, TEST_API_KEY, type TestDaemon, writeProvidersFile } from '../helpers/harness.ts';
import { isolatedDatabase } from './support.ts';

const fake = new FakeProvider({ rotation: 'always', accessTtlSeconds: 3600 });
let iso: { url: string; drop: () => Promise<void> };
let db: Db;
let d: TestDaemon;
let existingId: string;

/** Everything a request could have written: rows, versions, timestamps, attempts, events. */
async function snapshot(): Promise<string> {
  const c = await db.$queryRaw<
    unknown[]
  >`SELECT count(*)::int AS n, coalesce(sum("version"), 0)::int AS v, max("updatedAt") AS u, md5(coalesce(string_agg("accessTokenEnc" || "refreshTokenEnc" || "metadata"::text, ',' ORDER BY id), '')) AS h FROM "Connection"`;
  const a = await db.refreshAttempt.count();
  const e = await db.outboxEvent.count();
  return JSON.stringify({ c, a, e });
}

async function send(
  method: string,
  path: string,
  body: string | undefined,
  contentType = 'application/json',
  auth = `Bearer ${TEST_API_KEY}`,
) {
  const res = await fetch(`${d.baseUrl}${path}`, {
    method,
    headers: { authorization: auth, ...(body !== undefined ? { 'content-type': contentType } : {}) },
    body,
  });
  const text = await res.text();
  return { status: res.status, text };
}

// Strings that stress parsers and PostgreSQL: NUL, lone surrogates, control chars, quotes, long runs.
const nasty = fc.string({
  unit: fc.constantFrom(
    'a',
    'Z',
    '0',
    ' ',
    '"',
    '\\',
    '\u0000',
    '\u001f',
    '\u007f',
    '\ud800',
    '\udc00',
    '😀',
    'é',
    '\n',
    '{',
    '%',
  ),
  maxLength: 24,
});
const str = fc.oneof(
  fc.string({ maxLength: 30 }),
  nasty,
  fc.constant(''),
  fc.constant('x'.repeat(9000)),
  fc.constant('é'.repeat(300)),
);
const num = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constant(1e300),
  fc.constant(-1),
  fc.constant(0),
  fc.constant(3600),
  fc.constant(Number.MAX_SAFE_INTEGER),
);
const weird = fc.oneof(
  str,
  num,
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
);
const tokenBody = fc.record(
  {
    access_token: fc.oneof(str, weird),
    refresh_token: fc.oneof(str, weird),
    expires_in: fc.oneof(num, str, weird),
    expires_at: fc.oneof(num, str, fc.constant('2030-01-01T00:00:00Z'), fc.constant('-271821-04-20T00:00:00Z'), weird),
    token_type: fc.oneof(str, weird),
    scope: fc.oneof(str, weird),
  },
  { requiredKeys: [] },
);
const deepMetadata = fc.integer({ min: 1, max: 60 }).map((n) => {
  let v: unknown = 'leaf';
  for (let i = 0; i < n; i++) v = { k: v };
  return v;
});
const metadata = fc.oneof(
  fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), nasty), fc.oneof(weird, nasty), { maxKeys: 4 }),
  deepMetadata,
  weird,
);
const createBody = fc.record(
  {
    provider: fc.oneof(fc.constant('fuzz'), str, weird),
    externalId: fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), str, weird),
    tokens: fc.oneof(tokenBody, weird),
    metadata,
  },
  { requiredKeys: [] },
);
/** Mostly valid bodies with small perturbations, so acceptances happen too. */
const printable = fc.string({ unit: fc.constantFrom(...'abcXYZ019-_.~+/='.split('')), minLength: 1, maxLength: 40 });
const validish = fc.record({
  provider: fc.constant('fuzz'),
  externalId: fc.oneof(
    printable,
    fc.string({ minLength: 1, maxLength: 20 }),
    nasty.filter((x) => x.length > 0),
  ),
  tokens: fc.record(
    {
      access_token: printable,
      refresh_token: printable,
      expires_in: fc.oneof(fc.integer({ min: 1, max: 100_000 }), fc.constant(undefined)),
      expires_at: fc.oneof(
        fc.constant(undefined),
        num,
        fc.constantFrom(
          '2030-01-01T00:00:00Z',
          '-271821-04-20T00:00:00Z',
          '+275760-09-13T00:00:00Z',
          '0001-01-01T00:00:00Z',
        ),
      ),
      token_type: fc.oneof(fc.constant(undefined), fc.constant('Bearer'), nasty),
      scope: fc.oneof(fc.constant(undefined), fc.string({ maxLength: 20 }), nasty),
    },
    { requiredKeys: ['access_token', 'refresh_token'] },
  ),
  metadata: fc.oneof(
    fc.constant(undefined),
    fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), nasty), fc.oneof(fc.jsonValue({ maxDepth: 2 }), nasty), {
      maxKeys: 3,
    }),
    deepMetadata,
  ),
});
/** A body as sent on the wire: valid-looking JSON, arbitrary JSON, or broken text. */
const wire = (structured: fc.Arbitrary<unknown>) =>
  fc.oneof(
    { weight: 4, arbitrary: structured.map((v) => JSON.stringify(v) ?? 'null') },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 40 }), nasty).map((s) => `{"tokens": ${s}`) },
    { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 40 }), nasty) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '{"__proto__": {"x": 1}}',
        '{"constructor": {"prototype": {"x": 1}}}',
        '[]',
        'null',
        '""',
        '{}',
        '{"tokens": {"access_token": "a", "refresh_token": "b", "expires_in": 1e999}}',
      ),
    },
  );

beforeAll(async () => {
  iso = await isolatedDatabase('fuzz');
  db = createDb(iso.url, { poolSize: 4 });
  await fake.start();
  const providersFile = writeProvidersFile({
    fuzz: {
      tokenUrl: fake.tokenUrl,
      clientAuth: 'basic',
      clientId: 'client-id',
      clientSecret: 'client-secret',
      rotation: 'always',
      refreshLeadSec: 60,
    },
  });
  // API role only: no background refreshes, so any database change comes from the request itself.
  d = await startDaemon({ DATABASE_URL: iso.url, PROVIDERS_FILE: providersFile, ROLES: 'api' });
  const g = fake.issueGrant();
  const res = await d.api('POST', '/v1/connections', {
    provider: 'fuzz',
    externalId: 'base',
    tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: 3600 },
  });
  expect(res.status).toBe(201);
  existingId = res.body.id;
});

afterAll(async () => {
  await d?.stop();
  await fake.close();
  await db?.$disconnect();
  await iso?.drop();
});

describe('API fuzz', () => {
  it('POST /v1/connections: never 500; a rejection writes nothing; an acceptance stores exactly what was sent', async () => {
    let accepted = 0;
    let rejected = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          wire(createBody),
          validish.map((v) => JSON.stringify(v)),
        ),
        async (body) => {
          const before = await snapshot();
          const res = await send('POST', '/v1/connections', body);
          expect(
            [201, 400, 409, 413, 415],
            `${res.status} ${res.text.slice(0, 300)} for ${body.slice(0, 200)}`,
          ).toContain(res.status);
          if (res.status === 201) {
            accepted++;
            const sent = JSON.parse(body);
            const row = (await db.connection.findUnique({ where: { id: JSON.parse(res.text).id } }))!;
            expect(d.daemon.keyring.decrypt(row.accessTokenEnc)).toBe(sent.tokens.access_token);
            expect(d.daemon.keyring.decrypt(row.refreshTokenEnc)).toBe(sent.tokens.refresh_token);
            expect(row.externalId).toBe(sent.externalId);
          } else {
            rejected++;
            if (res.status === 400)
              expect(JSON.parse(res.text)).toMatchObject({
                error: 'invalid_request',
                field: expect.any(String),
                message: expect.any(String),
              });
            expect(await snapshot()).toBe(before);
          }
        },
      ),
      { numRuns: 200 },
    );
    // The generators reach both sides.
    expect(accepted).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(50);
  });

  it('PUT /v1/connections/:id/tokens: never 500; a rejection leaves the row exactly as it was', async () => {
    const body = fc.oneof(wire(tokenBody), wire(fc.record({ tokens: tokenBody, metadata }, { requiredKeys: [] })));
    let rejected = 0;
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const before = await snapshot();
        const res = await send('PUT', `/v1/connections/${existingId}/tokens`, b);
        expect([200, 400, 413, 415], `${res.status} ${res.text.slice(0, 300)} for ${b.slice(0, 200)}`).toContain(
          res.status,
        );
        if (res.status !== 200) {
          rejected++;
          expect(await snapshot()).toBe(before);
        }
      }),
      { numRuns: 150 },
    );
    expect(rejected).toBeGreaterThan(50);
  });

  it('ids, query strings and headers: never 500 on any route, and reads write nothing', async () => {
    const idLike = fc.oneof(
      fc.uuid(),
      fc.string({ maxLength: 40 }),
      nasty,
      fc.constant(existingId),
      fc.constant(`${existingId}x`),
      fc.constant('..%2F..%2Fetc'),
    );
    const query = fc
      .array(
        fc.tuple(
          fc.constantFrom('status', 'provider', 'limit', 'after', 'externalId', 'min_valid_seconds', 'x'),
          fc.oneof(str, fc.integer().map(String), fc.constant('1e3'), fc.constant('-1')),
        ),
        { maxLength: 4 },
      )
      .map((pairs) =>
        pairs.map(([k, v]) => `${k}=${encodeURIComponent(v.replace(/[\ud800-\udfff]/g, '?'))}`).join('&'),
      );
    const route = fc.constantFrom(
      ['GET', (id: string) => `/v1/connections/${id}`],
      ['GET', (id: string) => `/v1/connections/${id}/token`],
      ['GET', () => '/v1/connections'],
      ['DELETE', (id: string) => `/v1/connections/${id}x`],
      ['POST', (id: string) => `/v1/connections/${id}/refresh`],
    ) as fc.Arbitrary<[string, (id: string) => string]>;
    await fc.assert(
      fc.asyncProperty(route, idLike, query, async ([method, path], id, q) => {
        const url = `${path(encodeURIComponent(id.replace(/[\ud800-\udfff]/g, '?')))}${q ? `?${q}` : ''}`;
        const before = await snapshot();
        const res = await send(method, url, undefined);
        // 431: Node refuses request lines over its header limit before the API sees them.
        expect(
          [200, 204, 400, 404, 409, 431, 503],
          `${method} ${url.slice(0, 300)}: ${res.status} ${res.text.slice(0, 300)}`,
        ).toContain(res.status);
        // GET token may refresh (a legitimate write) when min_valid_seconds asks for more than is left.
        if (method === 'GET' && !/\/token/.test(url)) expect(await snapshot()).toBe(before);
        if (res.status === 400) expect(JSON.parse(res.text).field).toEqual(expect.any(String));
      }),
      { numRuns: 150 },
    );
  });

  it('random Authorization headers never get in and never cause a 500', async () => {
    const header = fc
      .oneof(
        fc.string({ maxLength: 80 }),
        fc.string({ maxLength: 40 }).map((s) => `Bearer ${s}`),
        fc.constant(`Bearer ${TEST_API_KEY.slice(0, -1)}`),
        fc.constant(`bearer  ${TEST_API_KEY}x`),
        fc.constant(`Bearer x${TEST_API_KEY}`),
        fc.constant(`Basic ${TEST_API_KEY}`),
      )
      .map((h) => h.replace(/[^\x20-\x7e]/g, ''));
    await fc.assert(
      fc.asyncProperty(header, async (h) => {
        const res = await send('GET', '/v1/connections', undefined, 'application/json', h);
        expect(res.status).toBe(401);
        expect(JSON.parse(res.text)).toEqual({ error: 'unauthorized' });
      }),
      { numRuns: 100 },
    );
  });

  it('size limits: a 10 MB body and a 1 MB token get 413, a 100 KB token gets 400 naming the field; nothing is stored', async () => {
    const before = await snapshot();
    const tenMb = JSON.stringify({
      provider: 'fuzz',
      externalId: 'big',
      tokens: { access_token: 'a'.repeat(10 * 1024 * 1024), refresh_token: 'b' },
    });
    expect((await send('POST', '/v1/connections', tenMb)).status).toBe(413);
    const oneMbToken = JSON.stringify({
      provider: 'fuzz',
      externalId: 'big',
      tokens: { access_token: randomBytes(512 * 1024).toString('hex'), refresh_token: 'b' },
    });
    expect((await send('POST', '/v1/connections', oneMbToken)).status).toBe(413);
    expect(
      (
        await send(
          'PUT',
          `/v1/connections/${existingId}/tokens`,
          JSON.stringify({ access_token: 'a'.repeat(1024 * 1024), refresh_token: 'b' }),
        )
      ).status,
    ).toBe(413);
    const big = await send(
      'POST',
      '/v1/connections',
      JSON.stringify({
        provider: 'fuzz',
        externalId: 'big',
        tokens: { access_token: 'a'.repeat(100 * 1024), refresh_token: 'b' },
      }),
    );
    expect(big.status).toBe(400);
    expect(JSON.parse(big.text)).toMatchObject({ field: 'tokens.access_token' });
    const bigPut = await send(
      'PUT',
      `/v1/connections/${existingId}/tokens`,
      JSON.stringify({ access_token: 'a', refresh_token: 'b'.repeat(100 * 1024) }),
    );
    expect(JSON.parse(bigPut.text)).toMatchObject({ field: 'body.refresh_token' });
    const bigMeta = await send(
      'POST',
      '/v1/connections',
      JSON.stringify({
        provider: 'fuzz',
        externalId: 'big',
        tokens: { access_token: 'a', refresh_token: 'b' },
        metadata: { x: 'm'.repeat(64 * 1024) },
      }),
    );
    expect(JSON.parse(bigMeta.text)).toMatchObject({ field: 'metadata' });
    expect((await send('POST', '/v1/connections', 'a=b', 'application/x-www-form-urlencoded')).status).toBe(415);
    expect(await snapshot()).toBe(before);
  });
});
