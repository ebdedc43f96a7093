// Requests are validated by their route schemas: the Ajv-error -> { field, message } mapping as a
// table, then the API's real answers (a built app, no listener: a rejected request never reaches a
// handler, so the stores are inert). Fields are named as the hand validators named them.
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeys } from '../../worker/api/auth.ts';
import { buildApi, type ApiDeps } from '../../worker/api/server.ts';
import { fieldError, type SchemaError } from '../../worker/validation/format.ts';

const err = (e: Partial<SchemaError> & { keyword: string }): SchemaError => ({ instancePath: '', params: {}, ...e });

describe('fieldError (pure)', () => {
  const bare = { prefix: 'body', except: ['tokens', 'metadata'] };
  it.each([
    [
      'a missing property',
      [err({ keyword: 'required', params: { missingProperty: 'provider' } })],
      'body',
      undefined,
      'provider',
      'is required',
    ],
    [
      'a nested one',
      [err({ keyword: 'required', instancePath: '/tokens', params: { missingProperty: 'refresh_token' } })],
      'body',
      undefined,
      'tokens.refresh_token',
      'is required',
    ],
    [
      'an array item',
      [err({ keyword: 'type', instancePath: '/scopes/2', params: { type: 'string' } })],
      'body',
      undefined,
      'scopes[2]',
      'must be a string',
    ],
    [
      'a pointer escape',
      [err({ keyword: 'type', instancePath: '/metadata/a~1b', params: { type: 'object' } })],
      'body',
      undefined,
      'metadata.a/b',
      'must be an object',
    ],
    [
      'the root',
      [err({ keyword: 'type', params: { type: 'object' } })],
      'body',
      undefined,
      'body',
      'must be a JSON object',
    ],
    [
      'a repeated query parameter',
      [
        err({
          keyword: 'type',
          instancePath: '/status',
          params: { type: 'string' },
          parentSchema: { 'x-message': 'x' },
        }),
      ],
      'querystring',
      undefined,
      'status',
      'must be given once',
    ],
    [
      'an enum',
      [err({ keyword: 'enum', instancePath: '/revoke', params: { allowedValues: ['true', 'false'] } })],
      'querystring',
      undefined,
      'revoke',
      'must be true or false',
    ],
    [
      'a long enum',
      [err({ keyword: 'enum', instancePath: '/m', params: { allowedValues: ['a', 'b', 'c'] } })],
      'body',
      undefined,
      'm',
      'must be one of a, b, c',
    ],
    [
      'a maxLength',
      [err({ keyword: 'maxLength', instancePath: '/externalId', params: { limit: 255 } })],
      'body',
      undefined,
      'externalId',
      'must be at most 255 characters',
    ],
    [
      'minLength 1',
      [err({ keyword: 'minLength', instancePath: '/p', params: { limit: 1 } })],
      'body',
      undefined,
      'p',
      'must be a non-empty string',
    ],
    [
      'an unknown field',
      [err({ keyword: 'additionalProperties', params: { additionalProperty: 'extra' } })],
      'body',
      undefined,
      'extra',
      'is not a known field',
    ],
    [
      'a schema message for every rule',
      [
        err({
          keyword: 'pattern',
          instancePath: '/id',
          params: {},
          parentSchema: { 'x-message': 'must be a connection id (uuid)' },
        }),
      ],
      'params',
      undefined,
      'id',
      'must be a connection id (uuid)',
    ],
    [
      'a schema message per rule',
      [
        err({
          keyword: 'pattern',
          instancePath: '/t',
          parentSchema: { 'x-message': { pattern: 'no control', type: 'a string' } },
        }),
      ],
      'body',
      undefined,
      't',
      'no control',
    ],
    [
      'a schema message for another rule',
      [
        err({
          keyword: 'maxLength',
          instancePath: '/t',
          params: { limit: 9 },
          parentSchema: { 'x-message': { pattern: 'no control' } },
        }),
      ],
      'body',
      undefined,
      't',
      'must be at most 9 characters',
    ],
    [
      "required ignores the object's message",
      [
        err({
          keyword: 'required',
          instancePath: '/tokens',
          params: { missingProperty: 'access_token' },
          parentSchema: { 'x-message': 'must be an object' },
        }),
      ],
      'body',
      undefined,
      'tokens.access_token',
      'is required',
    ],
    [
      'the anyOf branch that got furthest',
      [
        err({ keyword: 'required', params: { missingProperty: 'access_token' } }),
        err({ keyword: 'required', instancePath: '/tokens', params: { missingProperty: 'refresh_token' } }),
        err({ keyword: 'anyOf' }),
      ],
      'body',
      bare,
      'tokens.refresh_token',
      'is required',
    ],
    [
      'a tie goes to the first branch, the bare shape named under body',
      [
        err({ keyword: 'required', params: { missingProperty: 'refresh_token' } }),
        err({ keyword: 'required', params: { missingProperty: 'tokens' } }),
        err({ keyword: 'anyOf' }),
      ],
      'body',
      bare,
      'body.refresh_token',
      'is required',
    ],
    [
      'the wrapped shape keeps its names',
      [err({ keyword: 'type', instancePath: '/metadata', params: { type: ['object', 'null'] } })],
      'body',
      bare,
      'metadata',
      'must be an object or null',
    ],
  ] as const)('%s', (_name, errors, part, bareBody, field, message) => {
    expect(fieldError(errors, part, bareBody)).toEqual({ field, message });
  });
});

const KEY = 'validation-test-key-0123456789';
const ID = '0b6f1c2e-8d4a-4e1f-9c3b-2a5d7e9f1a3c';
let app: FastifyInstance;

beforeAll(async () => {
  const inert = {} as never;
  app = await buildApi({
    db: inert,
    providers: inert,
    registration: inert,
    scheduler: inert,
    onDemand: inert,
    apiKeys: new ApiKeys([{ key: KEY, scope: 'token' }]),
    log: pino({ enabled: false }),
    readiness: async () => ({}),
    connect: { sessions: inert, flow: () => undefined },
  } satisfies ApiDeps);
  await app.ready();
});
afterAll(async () => {
  await app?.close();
});

async function send(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown, key = KEY) {
  const res = await app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    payload: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.statusCode, body: res.json<Record<string, unknown>>() };
}

const tokens = { access_token: 'a', refresh_token: 'r' };
const create = (over: Record<string, unknown>) => ({ provider: 'api', externalId: 'x', tokens, ...over });
const withTokens = (t: Record<string, unknown>) => create({ tokens: { ...tokens, ...t } });
const session = (over: Record<string, unknown>) => ({
  provider: 'api',
  externalId: 'x',
  returnUrl: 'http://a/b',
  ...over,
});
const TOKEN_MSG = 'must be a non-empty string';
const EXPIRES_IN = 'must be a positive number of seconds (at most 10 years)';

describe('the API answers 400 naming the field', () => {
  it.each([
    ['POST', '/v1/connections', {}, 'provider', 'is required'],
    ['POST', '/v1/connections', create({ provider: '' }), 'provider', 'is required'],
    ['POST', '/v1/connections', create({ provider: 7 }), 'provider', 'is required'],
    ['POST', '/v1/connections', create({ externalId: 123 }), 'externalId', 'is required (a non-empty string)'],
    ['POST', '/v1/connections', create({ externalId: '' }), 'externalId', 'is required (a non-empty string)'],
    [
      'POST',
      '/v1/connections',
      create({ externalId: 'e'.repeat(256) }),
      'externalId',
      'must be at most 255 characters',
    ],
    ['POST', '/v1/connections', create({ externalId: 'a\u0001' }), 'externalId', 'must not contain control characters'],
    [
      'POST',
      '/v1/connections',
      create({ tokens: 5 }),
      'tokens',
      'must be an object with access_token and refresh_token',
    ],
    [
      'POST',
      '/v1/connections',
      create({ tokens: [] }),
      'tokens',
      'must be an object with access_token and refresh_token',
    ],
    ['POST', '/v1/connections', withTokens({ access_token: 123 }), 'tokens.access_token', TOKEN_MSG],
    ['POST', '/v1/connections', withTokens({ access_token: '' }), 'tokens.access_token', TOKEN_MSG],
    ['POST', '/v1/connections', withTokens({ refresh_token: null }), 'tokens.refresh_token', TOKEN_MSG],
    ['POST', '/v1/connections', create({ tokens: { access_token: 'a' } }), 'tokens.refresh_token', 'is required'],
    [
      'POST',
      '/v1/connections',
      withTokens({ access_token: 'a'.repeat(8193) }),
      'tokens.access_token',
      'must be at most 8192 characters',
    ],
    [
      'POST',
      '/v1/connections',
      withTokens({ refresh_token: 'r\nr' }),
      'tokens.refresh_token',
      'must not contain control characters',
    ],
    ['POST', '/v1/connections', withTokens({ expires_in: -5 }), 'tokens.expires_in', EXPIRES_IN],
    ['POST', '/v1/connections', withTokens({ expires_in: 0 }), 'tokens.expires_in', EXPIRES_IN],
    ['POST', '/v1/connections', withTokens({ expires_in: 4e8 }), 'tokens.expires_in', EXPIRES_IN],
    ['POST', '/v1/connections', withTokens({ expires_in: 'soon' }), 'tokens.expires_in', EXPIRES_IN],
    ['POST', '/v1/connections', withTokens({ expires_in: true }), 'tokens.expires_in', EXPIRES_IN],
    [
      'POST',
      '/v1/connections',
      withTokens({ expires_at: {} }),
      'tokens.expires_at',
      'must be an ISO date or epoch seconds (after 1970, before year 10000)',
    ],
    ['POST', '/v1/connections', withTokens({ token_type: 5 }), 'tokens.token_type', 'must be a string'],
    [
      'POST',
      '/v1/connections',
      withTokens({ token_type: 'b'.repeat(65) }),
      'tokens.token_type',
      'must be at most 64 characters',
    ],
    [
      'POST',
      '/v1/connections',
      withTokens({ scope: 'a\u0001' }),
      'tokens.scope',
      'must not contain control characters',
    ],
    ['POST', '/v1/connections', create({ metadata: 'str' }), 'metadata', 'must be an object'],
    ['POST', '/v1/connections', create({ metadata: [1] }), 'metadata', 'must be an object'],
    ['POST', '/v1/connections', [1, 2], 'body', 'must be a JSON object'],
    ['GET', '/v1/connections?status=active&status=paused', undefined, 'status', 'must be given once'],
    ['GET', '/v1/connections?externalId=a%00', undefined, 'externalId', 'must be at most 255 characters, without NUL'],
    [
      'GET',
      `/v1/connections?externalId=${'e'.repeat(256)}`,
      undefined,
      'externalId',
      'must be at most 255 characters, without NUL',
    ],
    ['GET', '/v1/connections?status=paused', undefined, 'status', 'must be active or needs_reauth'],
    ['GET', '/v1/connections?limit=0', undefined, 'limit', 'must be a whole number from 1 to 1000'],
    ['GET', '/v1/connections?limit=1001', undefined, 'limit', 'must be a whole number from 1 to 1000'],
    ['GET', '/v1/connections?limit=1e3', undefined, 'limit', 'must be a whole number from 1 to 1000'],
    ['GET', '/v1/connections?after=x', undefined, 'after', 'must be a connection id'],
    ['GET', `/v1/connections?after=urn:uuid:${ID}`, undefined, 'after', 'must be a connection id'],
    ['GET', '/v1/connections/not-a-uuid', undefined, 'id', 'must be a connection id (uuid)'],
    ['GET', `/v1/connections/urn:uuid:${ID}`, undefined, 'id', 'must be a connection id (uuid)'],
    ['DELETE', `/v1/connections/${ID}x`, undefined, 'id', 'must be a connection id (uuid)'],
    ['DELETE', `/v1/connections/${ID}?revoke=maybe`, undefined, 'revoke', 'must be true or false'],
    [
      'GET',
      `/v1/connections/${ID}/token?min_valid_seconds=abc`,
      undefined,
      'min_valid_seconds',
      'must be a whole number of seconds (0 to 9999999)',
    ],
    ['GET', '/v1/connections/x/token', undefined, 'id', 'must be a connection id (uuid)'],
    ['POST', '/v1/connections/x/refresh', undefined, 'id', 'must be a connection id (uuid)'],
    ['PUT', `/v1/connections/${ID}/tokens`, { access_token: 'a' }, 'body.refresh_token', 'is required'],
    ['PUT', `/v1/connections/${ID}/tokens`, {}, 'body.access_token', 'is required'],
    ['PUT', `/v1/connections/${ID}/tokens`, { access_token: 'a', refresh_token: 5 }, 'body.refresh_token', TOKEN_MSG],
    ['PUT', `/v1/connections/${ID}/tokens`, { tokens: { access_token: 'a' } }, 'tokens.refresh_token', 'is required'],
    [
      'PUT',
      `/v1/connections/${ID}/tokens`,
      { tokens: 5 },
      'tokens',
      'must be an object with access_token and refresh_token',
    ],
    ['PUT', `/v1/connections/${ID}/tokens`, { tokens, metadata: 'x' }, 'metadata', 'must be an object'],
    ['PUT', `/v1/connections/${ID}/tokens`, [1], 'body', 'must be an object with access_token and refresh_token'],
    ['GET', '/v1/connect-sessions/x', undefined, 'id', 'must be a connect session id (uuid)'],
    ['POST', '/v1/connect-sessions', {}, 'provider', 'is required'],
    ['POST', '/v1/connect-sessions', session({ connectionId: 'x' }), 'connectionId', 'must be a connection id (uuid)'],
    [
      'POST',
      '/v1/connect-sessions',
      session({ scopes: Array(101).fill('s') }),
      'scopes',
      'must be an array of at most 100 scope strings (no spaces, quotes or backslashes)',
    ],
    ['POST', '/v1/connect-sessions', session({ metadata: 1 }), 'metadata', 'must be an object'],
  ] as const)('%s %s %j -> %s', async (method, url, body, field, message) => {
    const res = await send(method, url, body);
    expect(res).toEqual({ status: 400, body: { error: 'invalid_request', field, message } });
  });

  it('checks the key before the request: no key, no field named', async () => {
    expect(await send('GET', '/v1/connections/not-a-uuid', undefined, 'wrong')).toEqual({
      status: 401,
      body: { error: 'unauthorized' },
    });
    expect(await send('POST', '/v1/connections', [1], 'wrong')).toMatchObject({ status: 401 });
  });
});
