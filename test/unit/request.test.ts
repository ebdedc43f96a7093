import { describe, expect, it } from 'vitest';
import { buildRefreshRequest } from '../../worker/oauth/request.ts';
import { fillTokenUrl, resolveProvider } from '../../worker/providers/registry.ts';
import type { ProviderInput } from '../../worker/providers/types.ts';

const def = (input: ProviderInput) =>
  resolveProvider(
    'x',
    { tokenUrl: 'https://auth.example.com/token', clientId: 'my id', clientSecret: 's:cr&t', ...input },
    {},
    { allowInsecure: false },
  );

describe('buildRefreshRequest', () => {
  it('form body with client credentials in the body', () => {
    const r = buildRefreshRequest(def({ clientAuth: 'body', paramsIn: 'form' }), 'rt1', {});
    expect(r.kind === 'request' && r.request.headers['content-type']).toBe('application/x-www-form-urlencoded');
    const body = new URLSearchParams(r.kind === 'request' ? r.request.body : '');
    expect(Object.fromEntries(body)).toEqual({
      grant_type: 'refresh_token',
      refresh_token: 'rt1',
      client_id: 'my id',
      client_secret: 's:cr&t',
    });
    expect(r.kind === 'request' && r.request.headers.authorization).toBeUndefined();
  });
  it('basic auth form-encodes id and secret (RFC 6749 2.3.1)', () => {
    const r = buildRefreshRequest(def({ clientAuth: 'basic' }), 'rt1', {});
    const auth = r.kind === 'request' ? r.request.headers.authorization : '';
    expect(Buffer.from(auth.replace('Basic ', ''), 'base64').toString()).toBe('my%20id:s%3Acr%26t');
    expect(new URLSearchParams(r.kind === 'request' ? r.request.body : '').get('client_secret')).toBeNull();
  });
  it('query parameters with an empty body (Gong)', () => {
    const r = buildRefreshRequest(def({ clientAuth: 'basic', paramsIn: 'query' }), 'rt1', {});
    expect(r.kind === 'request' && r.request.body).toBeUndefined();
    const u = new URL(r.kind === 'request' ? r.request.url : 'http://x');
    expect(u.searchParams.get('grant_type')).toBe('refresh_token');
    expect(u.searchParams.get('refresh_token')).toBe('rt1');
  });
  it('JSON body with extra params and headers', () => {
    const r = buildRefreshRequest(
      def({
        paramsIn: 'json',
        extraParams: { scope: 'offline_access' },
        headers: { Accept: 'application/json', 'X-Api': '1' },
      }),
      'rt1',
      {},
    );
    expect(r.kind === 'request' && JSON.parse(r.request.body!)).toMatchObject({
      grant_type: 'refresh_token',
      refresh_token: 'rt1',
      scope: 'offline_access',
    });
    expect(r.kind === 'request' && r.request.headers['x-api']).toBe('1');
  });
  it('fills the token URL from metadata', () => {
    const r = buildRefreshRequest(def({ tokenUrl: 'https://{subdomain}.zendesk.com/oauth/tokens' }), 'rt', {
      subdomain: 'acme',
    });
    expect(r.kind === 'request' && r.request.url).toBe('https://acme.zendesk.com/oauth/tokens');
  });
  it('refuses a URL when metadata is missing', () => {
    const r = buildRefreshRequest(def({ tokenUrl: 'https://{subdomain}.zendesk.com/oauth/tokens' }), 'rt', {});
    expect(r).toMatchObject({ kind: 'missing_metadata' });
  });
});

describe('fillTokenUrl', () => {
  it.each([
    ['https://{shop}.myshopify.com/t', { shop: 'acme' }, 'https://acme.myshopify.com/t'],
    [
      '{instance_url}/services/oauth2/token',
      { instance_url: 'https://na1.salesforce.com/some/path' },
      'https://na1.salesforce.com/services/oauth2/token',
    ],
    [
      '{instance_url|https://login.salesforce.com}/services/oauth2/token',
      {},
      'https://login.salesforce.com/services/oauth2/token',
    ],
    [
      'https://login.microsoftonline.com/{tenant|common}/oauth2/v2.0/token',
      { tenant: 'contoso.onmicrosoft.com' },
      'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token',
    ],
  ])('%s', (tpl, md, expected) => {
    expect(fillTokenUrl(tpl, md)).toEqual({ ok: true, url: expected });
  });
  it.each([
    ['https://{shop}.myshopify.com/t', { shop: 'evil.com/x?' }],
    ['https://{shop}.myshopify.com/t', { shop: '' }],
    ['https://{subdomain}.zendesk.com', { subdomain: 'a b' }],
  ])('rejects unsafe or missing values: %s %j', (tpl, md) => {
    expect(fillTokenUrl(tpl, md).ok).toBe(false);
  });
});
