// /v1 access: bearer keys (several, for rotation), compared in constant time, with a read scope
// (status, lists) and a token scope (/token and every write). 401/403 say nothing about what failed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeys } from '../../worker/api/auth.ts';
import { loadConfig } from '../../worker/config/env.ts';
import { FakeProvider } from '../fakes/fake-provider.ts';
import {
  startDaemon,
  testEnv,
  TEST_API_KEY,
  TEST_READ_KEY,
  writeProvidersFile,
  type TestDaemon,
} from '../helpers/harness.ts';
import { isolatedDatabase } from './support.ts';

const OLD_KEY = 'old-token-key-aaaaaaaaaaaaaaaa';
const NEW_KEY = 'new-token-key-bbbbbbbbbbbbbbbb';
const fake = new FakeProvider({ accessTtlSeconds: 3600 });
let iso: { url: string; drop: () => Promise<void> };
let providersFile: string;
let d: TestDaemon;
let id: string;

beforeAll(async () => {
  iso = await isolatedDatabase('auth');
  await fake.start();
  providersFile = writeProvidersFile({
    authp: { tokenUrl: fake.tokenUrl, clientAuth: 'basic', clientId: 'client-id', clientSecret: 'client-secret' },
  });
  d = await startDaemon({
    DATABASE_URL: iso.url,
    PROVIDERS_FILE: providersFile,
    ROLES: 'api',
    API_KEY: undefined,
    API_KEYS: `${OLD_KEY},${NEW_KEY}`,
  });
  const g = fake.issueGrant();
  const res = await d.api(
    'POST',
    '/v1/connections',
    {
      provider: 'authp',
      externalId: 'u1',
      tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: 3600 },
    },
    NEW_KEY,
  );
  expect(res.status).toBe(201);
  id = res.body.id;
});

afterAll(async () => {
  await d?.stop();
  await fake.close();
  await iso?.drop();
});

async function raw(method: string, path: string, authorization?: string, body?: unknown) {
  const res = await fetch(`${d.baseUrl}${path}`, {
    method,
    headers: {
      ...(authorization !== undefined ? { authorization } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

describe('API keys and scopes', () => {
  it('every key of API_KEYS has token access (rotation: old and new work side by side)', async () => {
    for (const k of [OLD_KEY, NEW_KEY]) {
      const r = await raw('GET', `/v1/connections/${id}/token`, `Bearer ${k}`);
      expect(r.status).toBe(200);
      expect(JSON.parse(r.text).access_token).toEqual(expect.any(String));
      expect(r.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('401 is the same answer whatever was wrong, and carries no detail', async () => {
    const answers = await Promise.all([
      raw('GET', '/v1/connections'),
      raw('GET', '/v1/connections', ''),
      raw('GET', '/v1/connections', 'Bearer'),
      raw('GET', '/v1/connections', `Basic ${Buffer.from(`x:${NEW_KEY}`).toString('base64')}`),
      raw('GET', '/v1/connections', `Bearer ${NEW_KEY.slice(0, -1)}`),
      raw('GET', '/v1/connections', `Bearer ${NEW_KEY}0`),
      raw('GET', '/v1/connections', `Bearer ${TEST_API_KEY}`), // a key of another deployment
      raw('GET', `/v1/connections/${id}/token`, `Bearer ${NEW_KEY.toUpperCase()}`),
      raw('DELETE', `/v1/connections/${id}`, `Token ${NEW_KEY}`),
    ]);
    for (const a of answers) {
      expect(a.status).toBe(401);
      expect(a.text).toBe('{"error":"unauthorized"}');
      expect(a.headers.get('www-authenticate')).toBe('Bearer');
    }
    expect(await raw('GET', '/v1/connections', `bearer ${NEW_KEY}`)).toMatchObject({ status: 200 });
  });

  it('the read scope sees status and lists, never a token, and cannot write', async () => {
    const read = `Bearer ${TEST_READ_KEY}`;
    expect((await raw('GET', '/v1/connections', read)).status).toBe(200);
    const one = await raw('GET', `/v1/connections/${id}`, read);
    expect(one.status).toBe(200);
    expect(Object.keys(JSON.parse(one.text))).not.toEqual(expect.arrayContaining(['access_token']));
    expect(one.text).not.toMatch(/accessTokenEnc|refreshTokenEnc|refresh_token|access_token/);
    const denied = await Promise.all([
      raw('GET', `/v1/connections/${id}/token`, read),
      raw('POST', '/v1/connections', read, {
        provider: 'authp',
        externalId: 'u2',
        tokens: { access_token: 'a', refresh_token: 'b' },
      }),
      raw('PUT', `/v1/connections/${id}/tokens`, read, { access_token: 'a', refresh_token: 'b' }),
      raw('POST', `/v1/connections/${id}/refresh`, read),
      raw('DELETE', `/v1/connections/${id}`, read),
    ]);
    for (const a of denied) {
      expect(a.status).toBe(403);
      expect(a.text).toBe('{"error":"forbidden"}');
    }
    // Nothing happened: still one connection, same version.
    const list = JSON.parse((await raw('GET', '/v1/connections', read)).text);
    expect(list.connections.map((c: { id: string; version: number }) => [c.id, c.version])).toEqual([[id, 1]]);
  });

  it('after the rotation (old key removed, restart) the old key is refused', async () => {
    const d2 = await startDaemon({
      DATABASE_URL: iso.url,
      PROVIDERS_FILE: providersFile,
      ROLES: 'api',
      API_KEY: NEW_KEY,
    });
    try {
      expect((await d2.api('GET', '/v1/connections', undefined, OLD_KEY)).status).toBe(401);
      expect((await d2.api('GET', '/v1/connections', undefined, NEW_KEY)).status).toBe(200);
    } finally {
      await d2.stop();
    }
  });

  it('ApiKeys: digests only, every key checked, the token scope wins when a key has both', () => {
    const keys = new ApiKeys([
      { key: 'aaaaaaaaaaaaaaaa1', scope: 'read' },
      { key: 'aaaaaaaaaaaaaaaa1', scope: 'token' },
      { key: 'bbbbbbbbbbbbbbbb2', scope: 'read' },
    ]);
    expect(keys.check('Bearer aaaaaaaaaaaaaaaa1')).toBe('token');
    expect(keys.check('Bearer bbbbbbbbbbbbbbbb2')).toBe('read');
    expect(keys.check('Bearer  bbbbbbbbbbbbbbbb2 ')).toBe('read');
    expect(keys.check(undefined)).toBeNull();
    expect(keys.check('bbbbbbbbbbbbbbbb2')).toBeNull();
    // The raw keys are not kept in memory by the checker (only SHA-256 digests).
    expect(JSON.stringify(keys)).not.toContain('bbbbbbbbbbbbbbbb2');
    expect(() => loadConfig(testEnv({ API_KEY: undefined, API_READ_KEYS: undefined }))).toThrow(/API_KEY/);
  });
});
