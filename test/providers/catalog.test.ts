// The provider catalog: every built-in loads, the schema is validated with errors that name the
// provider and the field, PROVIDERS_FILE adds and overrides, reload swaps in place, and each
// built-in's request and error policy (pure, table-driven).
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BUILTIN_PROVIDERS } from '../../worker/providers/builtin.ts';
import { ProviderConfigError, ProviderRegistry, type ResolvedProvider } from '../../worker/providers/registry.ts';
import { buildRefreshRequest } from '../../worker/oauth/request.ts';
import { classifyAnswer, type HttpAnswer } from '../../worker/oauth/answer.ts';
import { writeProvidersFile } from '../helpers/harness.ts';

const REQUIRED = [
  'gong',
  'salesforce',
  'salesforce-sandbox',
  'slack',
  'google',
  'microsoft',
  'hubspot',
  'xero',
  'quickbooks',
  'zoom',
  'atlassian',
  'dropbox',
  'notion',
  'box',
  'docusign',
  'asana',
  'github-app',
  'shopify',
  'zendesk',
  'linear',
  'pipedrive',
];

function envFor(keys: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of keys) {
    const n = k.toUpperCase().replace(/[^A-Z0-9]/g, '_');
    env[`${n}_CLIENT_ID`] = `id-${k}`;
    env[`${n}_CLIENT_SECRET`] = `secret-${k}`;
  }
  return env;
}

const registry = ProviderRegistry.load({ env: envFor(Object.keys(BUILTIN_PROVIDERS)), allowInsecure: false });
const P = (k: string): ResolvedProvider => registry.get(k)!;

function loadWith(
  providers: Record<string, unknown>,
  env: Record<string, string> = {},
  extra: { cronOverride?: Record<string, string> } = {},
) {
  return ProviderRegistry.load({ providersFile: writeProvidersFile(providers), env, allowInsecure: true, ...extra });
}

function configError(fn: () => unknown): ProviderConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ProviderConfigError);
    return e as ProviderConfigError;
  }
  throw new Error('expected a ProviderConfigError');
}

const res = (status: number, body: unknown, contentType = 'application/json'): HttpAnswer => ({
  kind: 'response',
  status,
  headers: { 'content-type': contentType },
  bodyText: typeof body === 'string' ? body : JSON.stringify(body),
});

describe('built-in catalog', () => {
  it('defines every required provider, and each loads and is configured from <KEY>_CLIENT_ID/_SECRET', () => {
    for (const k of REQUIRED) {
      const p = registry.get(k);
      expect(p, k).toBeDefined();
      expect(p!.configured, k).toBe(true);
      expect(p!.clientSecret).toBe(`secret-${k}`);
      expect(p!.tokenUrl.startsWith('https://'), k).toBe(true);
      expect(p!.notes, k).toBeTruthy();
    }
  });

  it('loads unconfigured without credentials in the environment', () => {
    const r = ProviderRegistry.load({ env: {}, allowInsecure: false });
    expect(r.get('gong')!.configured).toBe(false);
    expect(r.all().length).toBeGreaterThanOrEqual(REQUIRED.length);
  });

  it('salesforce-sandbox inherits everything from salesforce but the token URL', () => {
    const s = P('salesforce');
    const sb = P('salesforce-sandbox');
    expect(sb.tokenUrl).toBe('https://test.salesforce.com/services/oauth2/token');
    expect(sb.expiry).toEqual(s.expiry);
    expect(sb.metadataFields).toEqual(s.metadataFields);
    expect(sb.errors).toEqual(s.errors);
    expect(sb.rotation).toBe('optional');
    expect(sb.clientId).toBe('id-salesforce-sandbox');
  });

  // Quirks as data: one row per provider fact the issue names.
  it.each([
    [
      'gong',
      (p: ResolvedProvider) =>
        p.clientAuth === 'basic' &&
        p.paramsIn === 'query' &&
        p.rotation === 'always' &&
        p.metadataFields.includes('api_base_url_for_customer'),
    ],
    [
      'salesforce',
      (p: ResolvedProvider) =>
        p.expiry.source === 'none' &&
        p.expiry.cron === '0 3 * * *' &&
        p.rotation === 'optional' &&
        p.metadataFields.includes('instance_url'),
    ],
    [
      'slack',
      (p: ResolvedProvider) =>
        p.errors.bodyErrorWhen?.[0]?.field === 'ok' && typeof p.hooks?.linkedTokenSets === 'function',
    ],
    [
      'microsoft',
      (p: ResolvedProvider) =>
        p.tokenUrl.includes('{tenant|common}') &&
        p.oldTokenGrace.kind === 'not_revoked' &&
        p.idleLifetimeSec === 90 * 86400,
    ],
    ['google', (p: ResolvedProvider) => p.idleLifetimeSec === 180 * 86400 && p.rotation === 'optional'],
    ['box', (p: ResolvedProvider) => p.idleLifetimeSec === 60 * 86400 && p.rotation === 'always'],
    [
      'xero',
      (p: ResolvedProvider) =>
        p.oldTokenGrace.kind === 'seconds' && p.oldTokenGrace.seconds === 1800 && p.clientAuth === 'basic',
    ],
    [
      'atlassian',
      (p: ResolvedProvider) =>
        p.oldTokenGrace.kind === 'seconds' && p.oldTokenGrace.seconds === 600 && p.paramsIn === 'json',
    ],
    ['shopify', (p: ResolvedProvider) => p.tokenUrl.includes('{shop}') && p.oldTokenGrace.kind === 'until_used'],
    ['zendesk', (p: ResolvedProvider) => p.tokenUrl.includes('{subdomain}')],
    [
      'github-app',
      (p: ResolvedProvider) =>
        p.headers.Accept === 'application/json' &&
        p.responseFormat === 'auto' &&
        p.refreshExpiresInField === 'refresh_token_expires_in',
    ],
    [
      'quickbooks',
      (p: ResolvedProvider) =>
        p.refreshExpiresInField === 'x_refresh_token_expires_in' && p.idleLifetimeSec === 100 * 86400,
    ],
    ['pipedrive', (p: ResolvedProvider) => p.metadataFields.includes('api_domain') && p.clientAuth === 'basic'],
    ['notion', (p: ResolvedProvider) => p.clientAuth === 'basic' && p.paramsIn === 'json'],
  ])('%s: definition carries its quirks', (key, check) => {
    expect(check(P(key))).toBe(true);
  });
});

describe('request building per provider', () => {
  it('gong: Basic auth, grant_type and refresh_token in the query string, empty body', () => {
    const b = buildRefreshRequest(P('gong'), 'rt-1', {});
    if (b.kind !== 'request') throw new Error('build failed');
    const u = new URL(b.request.url);
    expect(u.searchParams.get('grant_type')).toBe('refresh_token');
    expect(u.searchParams.get('refresh_token')).toBe('rt-1');
    expect(b.request.body).toBeUndefined();
    expect(b.request.headers.authorization).toBe(`Basic ${Buffer.from('id-gong:secret-gong').toString('base64')}`);
  });

  it('atlassian: id/secret in a JSON body', () => {
    const b = buildRefreshRequest(P('atlassian'), 'rt-1', {});
    if (b.kind !== 'request') throw new Error('build failed');
    expect(b.request.headers['content-type']).toBe('application/json');
    expect(JSON.parse(b.request.body!)).toEqual({
      grant_type: 'refresh_token',
      refresh_token: 'rt-1',
      client_id: 'id-atlassian',
      client_secret: 'secret-atlassian',
    });
    expect(b.request.headers.authorization).toBeUndefined();
  });

  it('notion: Basic auth plus a JSON body without the secret', () => {
    const b = buildRefreshRequest(P('notion'), 'rt-1', {});
    if (b.kind !== 'request') throw new Error('build failed');
    expect(JSON.parse(b.request.body!)).toEqual({ grant_type: 'refresh_token', refresh_token: 'rt-1' });
    expect(b.request.headers.authorization).toMatch(/^Basic /);
  });

  it.each([
    [
      'microsoft',
      { tenant: 'contoso.onmicrosoft.com' },
      'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token',
    ],
    ['microsoft', {}, 'https://login.microsoftonline.com/common/oauth2/v2.0/token'],
    ['shopify', { shop: 'acme-store' }, 'https://acme-store.myshopify.com/admin/oauth/access_token'],
    ['zendesk', { subdomain: 'acme' }, 'https://acme.zendesk.com/oauth/tokens'],
  ])('%s: token URL filled from metadata %j', (key, md, url) => {
    const b = buildRefreshRequest(P(key), 'rt', md);
    expect(b.kind === 'request' && b.request.url).toBe(url);
  });

  it.each([
    ['shopify', {}],
    ['zendesk', { subdomain: 'evil.com/x?' }],
    ['shopify', { shop: 'a b' }],
  ])('%s: missing or unsafe template value %j is refused without a call', (key, md) => {
    const b = buildRefreshRequest(P(key), 'rt', md);
    expect(b.kind === 'request').toBe(false);
  });

  it('an instance_url template keeps only scheme and host', () => {
    const r = loadWith({
      sf: { extends: 'salesforce', tokenUrl: '{instance_url}/services/oauth2/token', clientId: 'a', clientSecret: 'b' },
    });
    const b = buildRefreshRequest(r.get('sf')!, 'rt', { instance_url: 'https://acme.my.salesforce.com/some/path?x=1' });
    expect(b.kind === 'request' && b.request.url).toBe('https://acme.my.salesforce.com/services/oauth2/token');
  });
});

// Error answers as each provider (and our fake persona) sends them -> how we classify them.
describe('classification per provider', () => {
  const now = Date.parse('2026-11-22T00:00:00Z');
  const cases: [string, HttpAnswer, string, string?][] = [
    ['gong', res(400, { error: 'invalid_grant', error_description: 'Refresh token code is invalid' }), 'terminal'],
    ['gong', res(401, { error: 'invalid_client', error_description: 'Client authentication failed' }), 'credentials'],
    [
      'salesforce',
      res(400, { error: 'invalid_grant', error_description: 'expired access/refresh token' }),
      'terminal',
      'expired',
    ],
    [
      'salesforce',
      res(400, { error: 'invalid_grant', error_description: 'authentication failure' }),
      'terminal',
      'authentication_failure',
    ],
    [
      'salesforce',
      res(400, { error: 'invalid_client', error_description: 'invalid client credentials' }),
      'credentials',
    ],
    [
      'salesforce',
      res(400, { error: 'invalid_client_id', error_description: 'client identifier invalid' }),
      'credentials',
    ],
    ['slack', res(200, { ok: false, error: 'invalid_refresh_token' }), 'terminal'],
    ['slack', res(200, { ok: false, error: 'invalid_grant' }), 'terminal'],
    ['slack', res(200, { ok: false, error: 'token_revoked' }), 'terminal'],
    ['slack', res(200, { ok: false, error: 'invalid_client_id' }), 'credentials'],
    ['slack', res(200, { ok: false, error: 'bad_client_secret' }), 'credentials'],
    ['slack', res(200, { ok: false, error: 'internal_error' }), 'transient'],
    ['slack', res(200, { ok: false, error: 'fatal_error' }), 'transient'],
    ['slack', res(200, { ok: false, error: 'ratelimited' }), 'transient'],
    ['slack', res(200, { ok: false, error: 'something_new' }), 'transient'],
    [
      'microsoft',
      res(400, {
        error: 'invalid_grant',
        error_description: 'AADSTS700082: expired due to inactivity',
        error_codes: [700082],
      }),
      'terminal',
      'expired',
    ],
    [
      'microsoft',
      res(400, { error: 'invalid_grant', error_description: 'AADSTS70008: expired', error_codes: [70008] }),
      'terminal',
    ],
    [
      'microsoft',
      res(400, { error: 'invalid_grant', error_description: 'AADSTS700084: SPA', error_codes: [700084] }),
      'terminal',
    ],
    [
      'microsoft',
      res(400, { error: 'invalid_grant', error_description: 'AADSTS50173: revoked', error_codes: [50173] }),
      'terminal',
    ],
    [
      'microsoft',
      res(400, {
        error: 'invalid_grant',
        error_description: 'AADSTS50076: MFA',
        error_codes: [50076],
        suberror: 'basic_action',
      }),
      'terminal',
      'interaction_required',
    ],
    [
      'microsoft',
      res(400, { error: 'invalid_grant', error_description: 'AADSTS50079: enroll MFA', error_codes: [50079] }),
      'terminal',
      'interaction_required',
    ],
    [
      'microsoft',
      res(401, {
        error: 'invalid_client',
        error_description: 'AADSTS7000215: Invalid client secret provided.',
        error_codes: [7000215],
      }),
      'credentials',
    ],
    [
      'microsoft',
      res(400, {
        error: 'invalid_grant',
        error_description: 'AADSTS9002313: Invalid request.',
        error_codes: [9002313],
      }),
      'transient',
    ],
    [
      'hubspot',
      res(400, { status: 'BAD_REFRESH_TOKEN', message: 'missing or invalid refresh token', correlationId: 'x' }),
      'terminal',
    ],
    ['hubspot', res(400, { status: 'BAD_CLIENT_SECRET', message: 'missing or invalid client secret' }), 'credentials'],
    [
      'github-app',
      res(200, { error: 'bad_refresh_token', error_description: 'The refresh token passed is incorrect or expired.' }),
      'terminal',
    ],
    [
      'github-app',
      res(
        200,
        'error=bad_refresh_token&error_description=The+refresh+token+passed+is+incorrect+or+expired.',
        'application/x-www-form-urlencoded',
      ),
      'terminal',
    ],
    ['github-app', res(200, { error: 'incorrect_client_credentials' }), 'credentials'],
    [
      'atlassian',
      res(403, { error: 'invalid_grant', error_description: 'Unknown or invalid refresh token.' }),
      'terminal',
    ],
    ['xero', res(400, { error: 'invalid_grant' }), 'terminal'],
    ['xero', res(400, { error: 'invalid_client' }), 'credentials'],
    ['zoom', res(400, { reason: 'Invalid Token!', error: 'invalid_request' }), 'terminal'],
    ['zoom', res(401, { reason: 'Invalid client_id or client_secret', error: 'invalid_client' }), 'credentials'],
    [
      'google',
      res(400, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' }),
      'terminal',
      'revoked',
    ],
    [
      'google',
      res(400, {
        error: 'invalid_grant',
        error_description: 'reauth related error (invalid_rapt)',
        error_subtype: 'invalid_rapt',
      }),
      'terminal',
      'interaction_required',
    ],
    ['google', res(401, { error: 'invalid_client', error_description: 'Unauthorized' }), 'credentials'],
    ['notion', res(400, { error: 'invalid_grant', error_description: 'Invalid refresh token.' }), 'terminal'],
    [
      'shopify',
      res(400, { error: 'invalid_grant', error_description: 'The refresh token is invalid, expired or revoked.' }),
      'terminal',
    ],
    [
      'box',
      res(400, { error: 'invalid_grant', error_description: 'Refresh token has expired' }),
      'terminal',
      'expired',
    ],
    ['gong', res(503, { error: 'server_error' }), 'transient'],
    ['gong', res(429, {}), 'transient'],
    ['gong', res(502, '<html>bad gateway</html>', 'text/html'), 'transient'],
  ];
  it.each(cases)('%s: %j -> %s', (key, answer, kind, reason) => {
    const c = classifyAnswer(P(key), answer, now);
    expect(c.kind).toBe(kind);
    if (reason) expect(c.kind === 'terminal' && c.reason).toBe(reason);
  });

  it('salesforce: no expires_in -> default lifetime; instance_url, id and issued_at kept; no refresh token is fine', () => {
    const c = classifyAnswer(
      P('salesforce'),
      res(200, {
        access_token: 'a',
        instance_url: 'https://x.my.salesforce.com',
        id: 'https://login.salesforce.com/id/00D/005',
        issued_at: String(now),
        signature: 'sig',
        token_type: 'Bearer',
      }),
      now,
    );
    expect(c.kind).toBe('tokens');
    if (c.kind !== 'tokens') return;
    expect(c.tokens.expiresAt!.getTime()).toBe(now + 7200_000);
    expect(c.tokens.metadata).toEqual({
      instance_url: 'https://x.my.salesforce.com',
      id: 'https://login.salesforce.com/id/00D/005',
      issued_at: String(now),
    });
    expect(c.tokens.refreshToken).toBeUndefined();
  });

  it('github-app: a form-encoded success is read (answer without Accept: application/json)', () => {
    const c = classifyAnswer(
      P('github-app'),
      res(
        200,
        'access_token=ghu_x&expires_in=28800&refresh_token=ghr_y&refresh_token_expires_in=15897600&scope=&token_type=bearer',
        'application/x-www-form-urlencoded; charset=utf-8',
      ),
      now,
    );
    expect(c.kind).toBe('tokens');
    if (c.kind !== 'tokens') return;
    expect(c.tokens.refreshToken).toBe('ghr_y');
    expect(c.tokens.expiresAt!.getTime()).toBe(now + 28800_000);
    expect(c.tokens.refreshExpiresAt!.getTime()).toBe(now + 15897600_000);
  });

  it('a rotating provider that answers without a refresh token is uncertain, an optional one is not', () => {
    const body = { access_token: 'a', expires_in: 3600 };
    expect(classifyAnswer(P('gong'), res(200, body), now)).toMatchObject({ kind: 'transient', uncertain: true });
    expect(classifyAnswer(P('hubspot'), res(200, body), now).kind).toBe('tokens');
  });

  it('expires_in_ms and expires_at sources', () => {
    const r = loadWith({
      ms: {
        tokenUrl: 'https://a.example/t',
        clientId: 'a',
        clientSecret: 'b',
        expiry: { source: 'expires_in_ms', field: 'ttl_ms' },
      },
      at: { tokenUrl: 'https://a.example/t', clientId: 'a', clientSecret: 'b', expiry: { source: 'expires_at' } },
    });
    const a = classifyAnswer(r.get('ms')!, res(200, { access_token: 'x', ttl_ms: 90_000 }), now);
    expect(a.kind === 'tokens' && a.tokens.expiresAt!.getTime()).toBe(now + 90_000);
    const b = classifyAnswer(r.get('at')!, res(200, { access_token: 'x', expires_at: now / 1000 + 600 }), now);
    expect(b.kind === 'tokens' && b.tokens.expiresAt!.getTime()).toBe(now + 600_000);
  });
});

describe('PROVIDERS_FILE', () => {
  it('adds a custom provider and overrides any field of a built-in', () => {
    const r = loadWith(
      {
        acme: {
          tokenUrl: 'https://auth.acme.test/oauth/token',
          clientId: '${ACME_ID}',
          clientSecret: '${ACME_SECRET}',
          paramsIn: 'json',
          rotation: 'always',
          oldTokenGrace: 30,
          concurrency: 3,
          ratePerSecond: 5,
          metadataFields: ['region'],
        },
        gong: {
          tokenUrl: 'http://127.0.0.1:9/oauth2/generate-customer-token',
          concurrency: 2,
          errors: { terminal: ['invalid_grant', 'dead_token'] },
        },
        'my-sf': { extends: 'salesforce', tokenUrl: 'https://acme.my.salesforce.com/services/oauth2/token' },
      },
      {
        ACME_ID: 'acme-id',
        ACME_SECRET: 'acme-secret',
        GONG_CLIENT_ID: 'g',
        GONG_CLIENT_SECRET: 'gs',
        MY_SF_CLIENT_ID: 'm',
        MY_SF_CLIENT_SECRET: 'ms',
      },
    );
    const acme = r.get('acme')!;
    expect(acme).toMatchObject({
      clientId: 'acme-id',
      clientSecret: 'acme-secret',
      paramsIn: 'json',
      rotation: 'always',
      concurrency: 3,
      ratePerSecond: 5,
      configured: true,
    });
    expect(acme.oldTokenGrace).toEqual({ kind: 'seconds', seconds: 30 });
    const gong = r.get('gong')!;
    // Overridden fields change; the rest of the built-in stays.
    expect(gong.tokenUrl).toBe('http://127.0.0.1:9/oauth2/generate-customer-token');
    expect(gong.concurrency).toBe(2);
    expect(gong.errors.terminal).toEqual(['invalid_grant', 'dead_token']);
    expect(gong.paramsIn).toBe('query');
    expect(gong.clientAuth).toBe('basic');
    expect(gong.errors.terminalDescriptions).toContain('Refresh token code is invalid');
    expect(r.get('my-sf')!.expiry.cron).toBe('0 3 * * *');
    expect(r.get('my-sf')!.configured).toBe(true);
  });

  // Every rejection names the provider and the field.
  it.each([
    [{ p: { tokenUrl: 'https://a.test/t', clientAuth: 'header' } }, 'p', 'clientAuth'],
    [{ p: { tokenUrl: 'https://a.test/t', paramsIn: 'xml' } }, 'p', 'paramsIn'],
    [{ p: { tokenUrl: 'https://a.test/t', responseFormat: 'yaml' } }, 'p', 'responseFormat'],
    [{ p: { tokenUrl: 'https://a.test/t', rotation: 'sometimes' } }, 'p', 'rotation'],
    [{ p: { tokenUrl: 'https://a.test/t', oldTokenGrace: -5 } }, 'p', 'oldTokenGrace'],
    [{ p: { tokenUrl: 'https://a.test/t', oldTokenGrace: 'forever' } }, 'p', 'oldTokenGrace'],
    [{ p: { tokenUrl: 'https://a.test/t', expiry: { source: 'jwt' } } }, 'p', 'expiry.source'],
    [{ p: { tokenUrl: 'https://a.test/t', expiry: { source: 'none', cron: 'every day' } } }, 'p', 'expiry.cron'],
    [{ p: { tokenUrl: 'https://a.test/t', expiry: { source: 'expires_in', cron: '0 3 * * *' } } }, 'p', 'expiry.cron'],
    [
      { p: { tokenUrl: 'https://a.test/t', expiry: { source: 'none', defaultLifetimeSec: 0 } } },
      'p',
      'expiry.defaultLifetimeSec',
    ],
    [{ p: { tokenUrl: 'https://a.test/t', expiry: { sourse: 'none' } } }, 'p', 'expiry.sourse'],
    [{ p: { tokenUrl: 'https://a.test/t', errors: { terminl: ['x'] } } }, 'p', 'errors.terminl'],
    [{ p: { tokenUrl: 'https://a.test/t', errors: { terminal: 'invalid_grant' } } }, 'p', 'errors.terminal'],
    [
      { p: { tokenUrl: 'https://a.test/t', errors: { bodyErrorWhen: [{ field: 'ok' }] } } },
      'p',
      'errors.bodyErrorWhen[0]',
    ],
    [
      { p: { tokenUrl: 'https://a.test/t', errors: { bodyErrorWhen: { field: 'ok', equals: false } } } },
      'p',
      'errors.bodyErrorWhen',
    ],
    [{ p: { tokenUrl: 'https://a.test/t', errors: { terminal: ['invalid_client'] } } }, 'p', 'errors.terminal'],
    [{ p: { tokenUrl: 'https://a.test/t', concurrency: 0 } }, 'p', 'concurrency'],
    [{ p: { tokenUrl: 'https://a.test/t', ratePerSecond: -1 } }, 'p', 'ratePerSecond'],
    [{ p: { tokenUrl: 'https://a.test/t', idleLifetimeSec: 'long' } }, 'p', 'idleLifetimeSec'],
    [{ p: { tokenUrl: 'https://a.test/t', headers: { Accept: 5 } } }, 'p', 'headers.Accept'],
    [{ p: { tokenUrl: 'https://a.test/t', extraParams: { audience: 'a\r\nb' } } }, 'p', 'extraParams.audience'],
    [{ p: { tokenUrl: 'https://a.test/t', metadataFields: 'instance_url' } }, 'p', 'metadataFields'],
    [{ p: { tokenUrl: 'https://a.test/t', refreshExpiresInField: 7 } }, 'p', 'refreshExpiresInField'],
    [{ p: { tokenUrl: 'https://a.test/t', tokenUrll: 'x' } }, 'p', 'tokenUrll'],
    [{ p: { tokenUrl: 'https://a.test/t', hooks: {} } }, 'p', 'hooks'],
    [{ p: { tokenUrl: 'ftp://a.test/t' } }, 'p', 'tokenUrl'],
    [{ p: { clientId: 'a' } }, 'p', 'tokenUrl'],
    [{ p: { tokenUrl: 'https://a.test/t', extends: 'nope' } }, 'p', 'extends'],
    [{ p: { tokenUrl: 'https://a.test/t', clientId: '${MISSING_VAR_X}' } }, 'p', 'clientId'],
    [{ 'Bad Key': { tokenUrl: 'https://a.test/t' } }, 'Bad Key', 'key'],
    [{ p: 'string' }, 'p', '*'],
    [{ p: { tokenUrl: 'https://a.test/t', tokenCapPerUser: 0 } }, 'p', 'tokenCapPerUser'],
    [{ p: { tokenUrl: 'https://a.test/t', userKeys: 'sub' } }, 'p', 'userKeys'],
    [{ p: { tokenUrl: 'https://a.test/t', userKeys: ['a b'] } }, 'p', 'userKeys[0].path'],
    [
      { p: { tokenUrl: 'https://a.test/t', userKeys: [{ path: 'id', pattern: '/id/\\w+' }] } },
      'p',
      'userKeys[0].pattern',
    ],
    [{ p: { tokenUrl: 'https://a.test/t', userKeys: [{ path: 'id', pattern: '(' }] } }, 'p', 'userKeys[0].pattern'],
    [{ p: { tokenUrl: 'https://a.test/t', userKeys: [{ path: 'id', hots: true }] } }, 'p', 'userKeys[0].hots'],
    [{ p: { tokenUrl: 'https://a.test/t', org: { keys: ['team.id'] } } }, 'p', 'org.name'],
    [{ p: { tokenUrl: 'https://a.test/t', org: { name: 'Team', keys: [] } } }, 'p', 'org.keys'],
    [
      { p: { tokenUrl: 'https://a.test/t', org: { name: 'Team', keys: ['team.id'], together: 'sometimes' } } },
      'p',
      'org.together',
    ],
    [{ p: { tokenUrl: 'https://a.test/t', org: { name: 'Team', keys: ['team.id'], advise: 'x' } } }, 'p', 'org.advise'],
    [
      { p: { tokenUrl: 'https://a.test/t', fixedGrantLifetimes: [{ afterSec: 604800 }] } },
      'p',
      'fixedGrantLifetimes[0].cause',
    ],
    [
      { p: { tokenUrl: 'https://a.test/t', fixedGrantLifetimes: [{ cause: 'x' }] } },
      'p',
      'fixedGrantLifetimes[0].afterSec',
    ],
    [
      { p: { tokenUrl: 'https://a.test/t', errors: { descriptionCodePattern: 'AADSTS\\d+' } } },
      'p',
      'errors.descriptionCodePattern',
    ],
    [
      { p: { tokenUrl: 'https://a.test/t', errors: { descriptionReasons: [{ contains: 'x', reason: 'gone' }] } } },
      'p',
      'errors.descriptionReasons[0].reason',
    ],
    [
      { p: { tokenUrl: 'https://a.test/t', errors: { descriptionReasons: [{ reason: 'expired' }] } } },
      'p',
      'errors.descriptionReasons[0].contains',
    ],
  ])('rejects %j naming provider %s and field %s', (providers, provider, field) => {
    const e = configError(() => loadWith(providers));
    expect(e.provider).toBe(provider);
    expect(e.field).toBe(field);
    expect(e.message).toContain(`provider "${provider}"`);
    expect(e.message).toContain(`field "${field}"`);
  });

  it('an invalid JSON file names PROVIDERS_FILE and never echoes its content', () => {
    const file = writeProvidersFile({});
    writeFileSync(file, '{"providers": {"p": {"clientSecret": "hunter2-super-secret",');
    const e = configError(() => ProviderRegistry.load({ providersFile: file, env: {}, allowInsecure: true }));
    expect(e.field).toBe('PROVIDERS_FILE');
    expect(e.message).not.toContain('hunter2');
  });

  it('a missing client secret variable is named, its value never printed', () => {
    const e = configError(() =>
      loadWith({ p: { tokenUrl: 'https://a.test/t', clientId: 'id', clientSecret: '${P_SECRET_MISSING}' } }),
    );
    expect(e.message).toContain('P_SECRET_MISSING');
  });

  it('REFRESH_CRON_<PROVIDER> overrides the cron pattern; one for a provider without cron is an error', () => {
    const r = loadWith({}, {}, { cronOverride: { salesforce: '*/5 * * * *', 'salesforce-sandbox': '0 4 * * *' } });
    expect(r.get('salesforce')!.expiry.cron).toBe('*/5 * * * *');
    expect(r.get('salesforce-sandbox')!.expiry.cron).toBe('0 4 * * *');
    const viaEnv = ProviderRegistry.load({
      env: { REFRESH_CRON_SALESFORCE_SANDBOX: '15 2 * * *' },
      allowInsecure: false,
    });
    expect(viaEnv.get('salesforce-sandbox')!.expiry.cron).toBe('15 2 * * *');
    expect(configError(() => loadWith({}, {}, { cronOverride: { google: '0 3 * * *' } })).field).toBe('expiry.cron');
    expect(configError(() => loadWith({}, {}, { cronOverride: { salesforce: 'not a cron' } })).field).toBe(
      'expiry.cron',
    );
    expect(configError(() => loadWith({}, {}, { cronOverride: { nosuch: '0 3 * * *' } })).field).toBe('REFRESH_CRON');
  });
});

describe('reload', () => {
  it('swaps definitions in place, reports credential changes, and keeps the old set on an error', () => {
    const file = writeProvidersFile({
      acme: { tokenUrl: 'https://a.test/t', clientId: 'id', clientSecret: 'old', concurrency: 2 },
    });
    const r = ProviderRegistry.load({ providersFile: file, env: {}, allowInsecure: true });
    const held = r.get('acme')!;
    const fp = held.credentialsFingerprint;
    const seen: unknown[] = [];
    r.onReload((x) => seen.push(x));
    writeFileSync(
      file,
      JSON.stringify({
        providers: {
          acme: { tokenUrl: 'https://a.test/t', clientId: 'id', clientSecret: 'new', concurrency: 4 },
          extra: { tokenUrl: 'https://b.test/t', clientId: 'x', clientSecret: 'y' },
        },
      }),
    );
    const res1 = r.reload({});
    expect(res1).toEqual({ changed: ['acme'], credentialsChanged: ['acme'], added: ['extra'], removed: [] });
    // Same object, new values: the refresher and BullMQ worker see them without re-lookup.
    expect(held.clientSecret).toBe('new');
    expect(held.concurrency).toBe(4);
    expect(held.credentialsFingerprint).not.toBe(fp);
    expect(r.get('extra')).toBeDefined();
    expect(seen).toHaveLength(1);
    // A broken file changes nothing.
    writeFileSync(file, JSON.stringify({ providers: { acme: { tokenUrl: 'https://a.test/t', clientAuth: 'nope' } } }));
    expect(() => r.reload({})).toThrow(ProviderConfigError);
    expect(held.clientSecret).toBe('new');
    expect(seen).toHaveLength(1);
    // Unchanged file: nothing reported as changed.
    writeFileSync(
      file,
      JSON.stringify({
        providers: {
          acme: { tokenUrl: 'https://a.test/t', clientId: 'id', clientSecret: 'new', concurrency: 4 },
          extra: { tokenUrl: 'https://b.test/t', clientId: 'x', clientSecret: 'y' },
        },
      }),
    );
    expect(r.reload({}).changed).toEqual([]);
  });
});

// What `why` and `report` know of a provider comes from its definition, so PROVIDERS_FILE can say it too.
describe('diagnosis facts in definitions', () => {
  it('built-ins carry the catalog facts (caps, idle limits, orgs) and Dropbox has no idle limit', () => {
    expect(P('salesforce').tokenCapPerUser).toBe(5);
    expect(P('salesforce-sandbox').tokenCapPerUser).toBe(5);
    expect(P('google').tokenCapPerUser).toBe(100);
    expect(P('docusign').tokenCapPerUser).toBe(5);
    expect(P('salesforce').org?.together).toBe('admin_policy');
    expect(P('slack').org?.together).toBe('app_removed');
    expect(P('google').fixedGrantLifetimes.map((g) => g.afterSec)).toEqual([7 * 86400]);
    expect(P('dropbox').idleLifetimeSec).toBeUndefined();
    expect(P('box').idleLifetimeSec).toBe(60 * 86400);
    expect(P('microsoft').errors.descriptionCodePattern).toBe('AADSTS(\\d+)');
    expect(P('salesforce').errors.descriptionReasons).toEqual([
      { contains: 'authentication failure', reason: 'authentication_failure' },
    ]);
  });

  it('PROVIDERS_FILE sets them on a custom provider and overrides single org fields of a built-in', () => {
    const r = loadWith({
      crm: {
        tokenUrl: 'https://crm.test/token',
        clientId: 'a',
        clientSecret: 'b',
        tokenCapPerUser: 3,
        userKeys: ['account.user', { path: 'id', pattern: '/u/(\\w+)$' }],
        org: {
          keys: [{ path: 'instance', host: true }],
          name: 'CRM tenant',
          together: 'admin_policy',
          advice: 'Ask the admin of {org}.',
        },
        fixedGrantLifetimes: [{ afterSec: 86400, cause: 'trial apps get one-day grants.' }],
        errors: {
          descriptionCodePattern: 'E(\\d{4})',
          descriptionReasons: [{ contains: 'user locked', reason: 'authentication_failure' }],
        },
      },
      sf2: {
        extends: 'salesforce',
        clientId: 'a',
        clientSecret: 'b',
        org: { advice: 'Call the CRM team about {org}.' },
      },
    });
    const crm = r.get('crm')!;
    expect(crm).toMatchObject({
      tokenCapPerUser: 3,
      userKeys: [{ path: 'account.user' }, { path: 'id', pattern: '/u/(\\w+)$' }],
      org: { name: 'CRM tenant', together: 'admin_policy' },
    });
    expect(crm.errors.descriptionReasons).toEqual([{ contains: 'user locked', reason: 'authentication_failure' }]);
    const sf2 = r.get('sf2')!;
    expect(sf2.org).toMatchObject({
      name: 'Salesforce org',
      together: 'admin_policy',
      advice: 'Call the CRM team about {org}.',
    });
    expect(sf2.org?.keys).toEqual(P('salesforce').org?.keys);
    expect(sf2.tokenCapPerUser).toBe(5);
  });
});
