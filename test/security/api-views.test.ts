// The API's pure parts: what a view may show, the order in which the list query is checked, the
// Retry-After bounds, and that the CLI's views load without the Fastify server.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { Connection } from '../../worker/generated/prisma/client.ts';
import { parseConnectionPage, validateReplaceTokens } from '../../worker/validation/validate.ts';
import { connectionView, createdView, retryAfterSeconds } from '../../worker/api/views.ts';
import type { RefreshOutcome } from '../../worker/refresh/outcome.ts';
import { isUuid } from '../../worker/util/ids.ts';

const ID = '0b6f1c2e-8d4a-4e1f-9c3b-2a5d7e9f1a3c';
const row: Connection = {
  id: ID,
  provider: 'acme',
  externalId: 'acct-1',
  status: 'active',
  accessTokenEnc: 'v1.k.iv.tag.SECRET-ACCESS',
  refreshTokenEnc: 'v1.k.iv.tag.SECRET-REFRESH',
  encKeyId: 'k',
  tokenType: 'Bearer',
  scope: 'read',
  expiresAt: null,
  refreshExpiresAt: null,
  metadata: {},
  version: 3,
  lastRefreshedAt: null,
  nextRefreshAt: new Date(0),
  consecutiveFailures: 0,
  failingSince: null,
  failingNotifiedAt: null,
  lastErrorCode: null,
  lastErrorDescription: null,
  lastErrorAt: null,
  reauthReason: null,
  reauthAt: null,
  parentId: null,
  createdAt: new Date(0),
  updatedAt: new Date(0),
};

describe('views', () => {
  it('a connection view carries no token column, and a created view only the schedule', () => {
    const text = JSON.stringify([connectionView(row), createdView(row, [])]);
    expect(text).not.toContain('SECRET');
    expect(Object.keys(createdView(row, []))).toEqual(['id', 'status', 'expiresAt', 'nextRefreshAt']);
  });

  const NOW = Date.UTC(2026, 0, 1);
  const transient = (inMs: number): RefreshOutcome => ({
    outcome: 'transient',
    code: 'x',
    description: 'x',
    retryAt: new Date(NOW + inMs),
    uncertain: false,
  });
  it.each([
    ['next try in 30 s', transient(30_000), 30],
    ['next try in 0.2 s rounds up', transient(200), 1],
    ['next try an hour away is capped at 10 min', transient(3_600_000), 600],
    ['next try already past', transient(-5_000), 1],
    ['no next try known', { outcome: 'skipped', why: 'busy', nextRefreshAt: null } satisfies RefreshOutcome, 5],
  ])('Retry-After: %s', (_name, o, seconds) => {
    expect(retryAfterSeconds(o, NOW)).toBe(seconds);
  });

  it('the views (and the CLI commands that use them) load without Fastify', () => {
    const script = `Promise.all(['./worker/api/views.ts','./worker/ops/cli.ts'].map((f) => import(f))).then(() => process.stdout.write(String(Object.keys(require.cache).filter((k) => k.includes('/node_modules/fastify/')).length)))`;
    expect(execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' })).toBe('0');
  });
});

describe('GET /v1/connections query', () => {
  const known = (k: string) => k === 'acme';
  // The parameters' shapes (repeated, NUL, status, limit, after) are the route schema's:
  // test/openapi/validation.test.ts. What is left here needs the provider registry.
  it('names an unknown provider', () => {
    expect(parseConnectionPage({ provider: 'nope', limit: '10' }, known)).toMatchObject({
      ok: false,
      field: 'provider',
    });
  });
  it('defaults to 100 per page', () => {
    expect(parseConnectionPage({ provider: 'acme', after: ID }, known)).toEqual({
      ok: true,
      value: { provider: 'acme', after: ID, limit: 100, status: undefined, externalId: undefined },
    });
  });
});

describe('PUT /v1/connections/:id/tokens body', () => {
  it('names fields under "tokens" when wrapped, under "body" when not', () => {
    expect(validateReplaceTokens({ tokens: { access_token: 'a' } })).toMatchObject({
      ok: false,
      field: 'tokens.refresh_token',
    });
    expect(validateReplaceTokens({ access_token: 'a' })).toMatchObject({ ok: false, field: 'body.refresh_token' });
    expect(validateReplaceTokens({ access_token: 'a', refresh_token: 'r', metadata: { x: 1 } })).toMatchObject({
      ok: true,
      value: { metadata: {} },
    });
    expect(
      validateReplaceTokens({ tokens: { access_token: 'a', refresh_token: 'r' }, metadata: { x: 1 } }),
    ).toMatchObject({ ok: true, value: { metadata: { x: 1 } } });
  });
});

describe('isUuid', () => {
  it.each([
    [ID, true],
    [ID.toUpperCase(), true],
    [`${ID}0`, false],
    [ID.replace(/-/g, ''), false],
    ['', false],
  ])('%s -> %s', (s, ok) => {
    expect(isUuid(s)).toBe(ok);
  });
});
