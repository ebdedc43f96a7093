// The OpenAPI document against the running daemon: every route it registers is documented or
// deliberately undocumented, the committed docs/openapi.json is what the routes generate and
// passes a real validator, and real answers of the main routes match their documented schemas.
import { readFileSync } from 'node:fs';
import SwaggerParser from '@apidevtools/swagger-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateOpenApi, OPENAPI_FILE } from '../../scripts/openapi.ts';
import type { FastifyInstance } from 'fastify';
import { isUndocumented, registeredRoutes } from '../../worker/api/openapi.ts';
import { loadConfig } from '../../worker/config/env.ts';
import { defaultExtensions } from '../../worker/extensions.ts';
import { FakeProvider } from '../fakes/fake-provider.ts';
import { startDaemon, testEnv, writeProvidersFile, TEST_READ_KEY, type TestDaemon } from '../helpers/harness.ts';

const fake = new FakeProvider({ persona: 'standard', rotation: 'always', accessTtlSeconds: 3600 });
let root: FastifyInstance | undefined;
let routes: { method: string; url: string }[] = [];
let d: TestDaemon;
let doc: any;

beforeAll(async () => {
  await fake.start();
  d = await startDaemon(
    {
      PROVIDERS_FILE: writeProvidersFile({
        api: {
          tokenUrl: fake.tokenUrl,
          clientAuth: 'basic',
          clientId: 'client-id',
          clientSecret: 'client-secret',
          rotation: 'always',
          refreshLeadSec: 1,
          authorizeUrl: fake.authorization.authorizeUrl,
        },
      }),
      PUBLIC_URL: 'http://127.0.0.1:9',
      CONNECT_RETURN_URLS: 'http://127.0.0.1:9/back',
      CONSOLE_ENABLED: 'true',
    },
    {
      extensions: [
        ...defaultExtensions(loadConfig(testEnv())),
        // Keeps the root app, whose registered routes the document must cover.
        { name: 'route-list', routes: (app) => void (root = app) },
      ],
    },
  );
  routes = registeredRoutes(root!);
  const res = await fetch(`${d.baseUrl}/openapi.json`);
  expect(res.status).toBe(200);
  doc = await res.json();
});
afterAll(async () => {
  await d?.stop();
  await fake.close();
});

const toPath = (url: string) => url.replace(/:([A-Za-z_]+)/g, '{$1}');

describe('the document', () => {
  it('is committed as the routes generate it (run `npm run openapi` after changing a route)', async () => {
    const committed = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8'));
    expect(committed).toEqual(JSON.parse(await generateOpenApi()));
    // The running daemon serves the same document.
    expect(doc).toEqual(committed);
  });

  it('validates as OpenAPI 3.1 with names for the shared shapes', async () => {
    const committed = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8'));
    await SwaggerParser.validate(structuredClone(committed));
    expect(committed.openapi).toBe('3.1.0');
    for (const n of ['Connection', 'Token', 'Error', 'ConnectionPage', 'RefreshOutcome', 'Provider'])
      expect(Object.keys(committed.components.schemas)).toContain(n);
  });

  it('documents every route the server answers, except the listed browser and text routes', () => {
    const missing = routes.filter((r) => !isUndocumented(r.url) && !doc.paths[toPath(r.url)]?.[r.method.toLowerCase()]);
    expect(missing).toEqual([]);
    // Both ways: nothing documented that the server does not answer, and the hidden list is used.
    for (const [p, ops] of Object.entries<Record<string, unknown>>(doc.paths))
      for (const m of Object.keys(ops))
        expect(
          routes.some((r) => toPath(r.url) === p && r.method.toLowerCase() === m),
          `${m} ${p}`,
        ).toBe(true);
    expect(routes.some((r) => isUndocumented(r.url))).toBe(true);
    expect(routes.filter((r) => r.url.startsWith('/v1/')).length).toBeGreaterThanOrEqual(11);
  });
});

describe('real answers match the documented schemas', () => {
  let ajv: Ajv2020;
  let deref: any;
  beforeAll(async () => {
    deref = await SwaggerParser.dereference(structuredClone(doc));
    ajv = new Ajv2020({ strict: false, allErrors: true });
    // CommonJS default export: the plugin is module.exports.default under NodeNext types.
    (formats as unknown as { default: (a: Ajv2020) => void }).default(ajv);
  });

  function expectDocumented(method: string, path: string, res: { status: number; body: unknown }) {
    const op = deref.paths[path]?.[method];
    expect(op, `${method} ${path} is documented`).toBeTruthy();
    const answer = op.responses[String(res.status)];
    expect(answer, `${method} ${path} documents ${res.status}`).toBeTruthy();
    const schema = answer.content?.['application/json']?.schema;
    if (!schema) return expect(res.body === '' || res.body === null || res.body === undefined).toBe(true);
    const ok = ajv.validate(schema, res.body);
    expect(ok, `${method} ${path} ${res.status}: ${JSON.stringify(ajv.errors)} for ${JSON.stringify(res.body)}`).toBe(
      true,
    );
  }

  it('create, show, list, token, refresh, replace, providers, connect sessions and health', async () => {
    const g = fake.issueGrant();
    const tokens = { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: 3600 };
    const created = await d.api('POST', '/v1/connections', { provider: 'api', externalId: 'c-1', tokens });
    expect(created.status).toBe(201);
    expectDocumented('post', '/v1/connections', created);
    const id = created.body.id as string;
    const c = '/v1/connections/{id}';
    expectDocumented('get', c, await d.api('GET', `/v1/connections/${id}`));
    expectDocumented('get', '/v1/connections', await d.api('GET', '/v1/connections?limit=1'));
    const token = await d.api('GET', `/v1/connections/${id}/token`);
    expect(token.status).toBe(200);
    expectDocumented('get', `${c}/token`, token);
    const refreshed = await d.api('POST', `/v1/connections/${id}/refresh`);
    expect(refreshed.body.outcome).toBe('rotated');
    expectDocumented('post', `${c}/refresh`, refreshed);
    const g2 = fake.issueGrant();
    const replaced = await d.api('PUT', `/v1/connections/${id}/tokens`, {
      access_token: g2.accessToken,
      refresh_token: g2.refreshToken,
    });
    expect(replaced.status).toBe(200);
    expectDocumented('put', `${c}/tokens`, replaced);
    expectDocumented('get', '/v1/providers', await d.api('GET', '/v1/providers', undefined, TEST_READ_KEY));
    expectDocumented('get', '/v1/providers/{key}', await d.api('GET', '/v1/providers/api'));
    const session = await d.api('POST', '/v1/connect-sessions', {
      provider: 'api',
      externalId: 's-1',
      returnUrl: 'http://127.0.0.1:9/back',
    });
    expect(session.status).toBe(201);
    expectDocumented('post', '/v1/connect-sessions', session);
    expectDocumented(
      'get',
      '/v1/connect-sessions/{id}',
      await d.api('GET', `/v1/connect-sessions/${session.body.id as string}`),
    );
    expectDocumented('get', '/healthz', await d.api('GET', '/healthz'));
    expectDocumented('get', '/readyz', await d.api('GET', '/readyz'));
    const removed = await d.api('DELETE', `/v1/connections/${id}`);
    expect(removed.status).toBe(204);
    expectDocumented('delete', c, { status: 204, body: undefined });
  });

  it('errors 400, 401, 403, 404, 409 and 503', async () => {
    const c = '/v1/connections/{id}';
    // Missing fields are named before bad values (JSON Schema checks required first).
    const bad = await d.api('POST', '/v1/connections', {
      provider: 'api',
      externalId: '',
      tokens: { access_token: 'a', refresh_token: 'r' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: 'invalid_request', field: 'externalId' });
    expectDocumented('post', '/v1/connections', bad);
    expectDocumented('get', c, await d.api('GET', '/v1/connections/not-a-uuid'));
    const anon = await d.api('GET', '/v1/connections', undefined, 'wrong-key');
    expect(anon.status).toBe(401);
    expectDocumented('get', '/v1/connections', anon);
    const ro = await d.api('POST', '/v1/connections', {}, TEST_READ_KEY);
    expect(ro.status).toBe(403);
    expectDocumented('post', '/v1/connections', ro);
    const nf = await d.api('GET', '/v1/connections/00000000-0000-4000-8000-000000000000');
    expect(nf.status).toBe(404);
    expectDocumented('get', c, nf);

    const g = fake.issueGrant();
    const tokens = { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: 3600 };
    const created = await d.api('POST', '/v1/connections', { provider: 'api', externalId: 'e-1', tokens });
    const id = created.body.id as string;
    const dup = await d.api('POST', '/v1/connections', { provider: 'api', externalId: 'e-1', tokens });
    expect(dup.status).toBe(409);
    expectDocumented('post', '/v1/connections', dup);

    fake.setFaults({ status: 503 });
    const down = await d.api('GET', `/v1/connections/${id}/token?min_valid_seconds=999999`);
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBeTruthy();
    expectDocumented('get', `${c}/token`, down);
    fake.setFaults({});

    fake.revokeGrant(g.grantId);
    const dead = await d.api('POST', `/v1/connections/${id}/refresh`);
    expectDocumented('post', `${c}/refresh`, dead);
    const reauth = await d.api('GET', `/v1/connections/${id}/token?min_valid_seconds=999999`);
    expect(reauth.status).toBe(409);
    expectDocumented('get', `${c}/token`, reauth);
    expectDocumented('post', `${c}/refresh`, await d.api('POST', `/v1/connections/${id}/refresh`));
  });
});
