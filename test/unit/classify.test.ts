// The classifier decides whether a connection lives or dies: every row here is a real answer shape.
import { describe, expect, it } from 'vitest';
import { classifyAnswer, parseBody, parseRetryAfter, type HttpAnswer } from '../../worker/oauth/answer.ts';
import { resolveProvider } from '../../worker/providers/registry.ts';
import { BUILTIN_PROVIDERS } from '../../worker/providers/builtin.ts';
import type { ProviderInput } from '../../worker/providers/types.ts';

const env = { X_CLIENT_ID: 'id', X_CLIENT_SECRET: 'secret' };
const def = (input: ProviderInput = {}) =>
  resolveProvider(
    'x',
    { tokenUrl: 'https://auth.example.com/token', clientId: 'id', clientSecret: 'secret', ...input },
    env,
    { allowInsecure: false },
  );
const builtin = (key: string) => {
  const raw = BUILTIN_PROVIDERS[key];
  const base = raw.extends ? { ...BUILTIN_PROVIDERS[raw.extends], ...raw } : raw;
  return resolveProvider(key, { ...base, clientId: 'id', clientSecret: 'secret' }, env, { allowInsecure: false });
};
const res = (status: number, body: unknown, headers: Record<string, string> = {}): HttpAnswer => ({
  kind: 'response',
  status,
  headers: { 'content-type': 'application/json', ...headers },
  bodyText: typeof body === 'string' ? body : JSON.stringify(body),
});
const NOW = 1_700_000_000_000;

describe('classifyAnswer', () => {
  const rotating = def({ rotation: 'always' });
  const optional = def({ rotation: 'optional' });
  const cases: {
    name: string;
    d: ReturnType<typeof def>;
    a: HttpAnswer;
    kind: string;
    extra?: Record<string, unknown>;
  }[] = [
    {
      name: 'success with rotation',
      d: rotating,
      a: res(200, { access_token: 'a', refresh_token: 'r', expires_in: 3600 }),
      kind: 'tokens',
    },
    {
      name: 'rotating provider without refresh_token is transient (uncertain)',
      d: rotating,
      a: res(200, { access_token: 'a', expires_in: 60 }),
      kind: 'transient',
      extra: { code: 'missing_refresh_token', uncertain: true },
    },
    {
      name: 'optional rotation without refresh_token keeps the old one',
      d: optional,
      a: res(200, { access_token: 'a', expires_in: 60 }),
      kind: 'tokens',
    },
    {
      name: '200 without access_token is transient',
      d: optional,
      a: res(200, { token_type: 'bearer' }),
      kind: 'transient',
      extra: { code: 'missing_access_token' },
    },
    {
      name: 'invalid_grant is terminal',
      d: optional,
      a: res(400, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' }),
      kind: 'terminal',
      extra: { reason: 'revoked' },
    },
    {
      name: 'invalid_grant "expired" says expired',
      d: optional,
      a: res(400, { error: 'invalid_grant', error_description: 'Refresh token has expired' }),
      kind: 'terminal',
      extra: { reason: 'expired' },
    },
    {
      name: 'invalid_client is a credential error',
      d: optional,
      a: res(401, { error: 'invalid_client' }),
      kind: 'credentials',
    },
    {
      name: 'unauthorized_client is a credential error',
      d: optional,
      a: res(400, { error: 'unauthorized_client' }),
      kind: 'credentials',
    },
    {
      name: 'bare 401 with an empty body is transient (nothing to read)',
      d: optional,
      a: res(401, ''),
      kind: 'transient',
    },
    {
      name: '401 JSON without code is a credential error',
      d: optional,
      a: res(401, { message: 'nope' }),
      kind: 'credentials',
    },
    {
      name: '503 is transient',
      d: optional,
      a: res(503, { error: 'temporarily_unavailable' }),
      kind: 'transient',
      extra: { httpStatus: 503 },
    },
    {
      name: '500 with invalid_grant body is still transient',
      d: optional,
      a: res(500, { error: 'invalid_grant' }),
      kind: 'transient',
    },
    {
      name: '429 honours Retry-After',
      d: optional,
      a: res(429, { error: 'rate_limited' }, { 'retry-after': '7' }),
      kind: 'transient',
      extra: { retryAfterMs: 7000 },
    },
    {
      name: 'HTML page is transient',
      d: optional,
      a: {
        kind: 'response',
        status: 502,
        headers: { 'content-type': 'text/html' },
        bodyText: '<html><body>Bad gateway</body></html>',
      },
      kind: 'transient',
    },
    {
      name: 'HTML 200 is transient, uncertain',
      d: optional,
      a: {
        kind: 'response',
        status: 200,
        headers: { 'content-type': 'text/html' },
        bodyText: '<!DOCTYPE html><p>maintenance</p>',
      },
      kind: 'transient',
      extra: { code: 'html_answer', uncertain: true },
    },
    {
      name: 'truncated JSON is transient',
      d: optional,
      a: {
        kind: 'response',
        status: 200,
        headers: { 'content-type': 'application/json' },
        bodyText: '{"access_token":"a","refr',
      },
      kind: 'transient',
      extra: { code: 'unparseable_answer' },
    },
    {
      name: 'unknown 400 code is transient, never terminal',
      d: optional,
      a: res(400, { error: 'invalid_request' }),
      kind: 'transient',
      extra: { code: 'invalid_request' },
    },
    {
      name: 'timeout after send is uncertain',
      d: optional,
      a: { kind: 'network', code: 'timeout', message: 'no answer', sent: true },
      kind: 'transient',
      extra: { uncertain: true },
    },
    {
      name: 'connection refused is certain',
      d: optional,
      a: { kind: 'network', code: 'ECONNREFUSED', message: 'ECONNREFUSED', sent: false },
      kind: 'transient',
      extra: { uncertain: false },
    },
    {
      name: 'interaction_required needs re-auth with that reason',
      d: optional,
      a: res(400, { error: 'interaction_required' }),
      kind: 'terminal',
      extra: { reason: 'interaction_required' },
    },
    {
      name: 'slack ok:false invalid_refresh_token (HTTP 200) is terminal',
      d: builtin('slack'),
      a: res(200, { ok: false, error: 'invalid_refresh_token' }),
      kind: 'terminal',
    },
    {
      name: 'slack ok:false token_revoked is terminal',
      d: builtin('slack'),
      a: res(200, { ok: false, error: 'token_revoked' }),
      kind: 'terminal',
    },
    {
      name: 'slack ok:false bad_client_secret is a credential error',
      d: builtin('slack'),
      a: res(200, { ok: false, error: 'bad_client_secret' }),
      kind: 'credentials',
    },
    {
      name: 'slack ok:false invalid_client_id is a credential error',
      d: builtin('slack'),
      a: res(200, { ok: false, error: 'invalid_client_id' }),
      kind: 'credentials',
    },
    {
      name: 'slack ok:false internal_error is transient',
      d: builtin('slack'),
      a: res(200, { ok: false, error: 'internal_error' }),
      kind: 'transient',
    },
    {
      name: 'slack ok:false ratelimited is transient',
      d: builtin('slack'),
      a: res(200, { ok: false, error: 'ratelimited' }),
      kind: 'transient',
    },
    {
      name: 'slack ok:true is tokens',
      d: builtin('slack'),
      a: res(200, { ok: true, access_token: 'xoxe', refresh_token: 'r2', expires_in: 43200 }),
      kind: 'tokens',
    },
    {
      name: 'salesforce authentication failure',
      d: builtin('salesforce'),
      a: res(400, { error: 'invalid_grant', error_description: 'authentication failure' }),
      kind: 'terminal',
      extra: { reason: 'authentication_failure' },
    },
    {
      name: 'salesforce expired access/refresh token',
      d: builtin('salesforce'),
      a: res(400, { error: 'invalid_grant', error_description: 'expired access/refresh token' }),
      kind: 'terminal',
      extra: { reason: 'expired' },
    },
    {
      name: 'salesforce invalid_client',
      d: builtin('salesforce'),
      a: res(400, { error: 'invalid_client', error_description: 'invalid client credentials' }),
      kind: 'credentials',
    },
    // Provider error rules: Microsoft's AADSTS text and Salesforce's wording are data of those definitions.
    {
      name: 'microsoft AADSTS code only in the description is terminal',
      d: builtin('microsoft'),
      a: res(400, {
        error: 'invalid_grant',
        error_description: 'AADSTS700082: The refresh token has expired due to inactivity.',
      }),
      kind: 'terminal',
      extra: { reason: 'expired' },
    },
    {
      name: 'microsoft AADSTS interaction code in the description',
      d: builtin('microsoft'),
      a: res(400, {
        error: 'invalid_grant',
        error_description: 'AADSTS50076: Due to a configuration change ... you must use multi-factor authentication',
      }),
      kind: 'terminal',
      extra: { reason: 'interaction_required' },
    },
    {
      name: 'microsoft unknown AADSTS code is retried',
      d: builtin('microsoft'),
      a: res(400, { error: 'invalid_grant', error_description: 'AADSTS9999999: something new' }),
      kind: 'transient',
    },
    {
      name: 'a generic provider does not read AADSTS text',
      d: def({ errors: { terminal: ['700082'] } }),
      a: res(400, { error: 'invalid_request', error_description: 'AADSTS700082: expired' }),
      kind: 'transient',
    },
    {
      name: 'a custom description code pattern',
      d: def({ errors: { terminal: ['4711'], descriptionCodePattern: 'code (\\d+)' } }),
      a: res(400, { error: 'invalid_request', error_description: 'failed with code 4711' }),
      kind: 'terminal',
    },
    {
      name: 'a generic provider: "authentication failure" alone names no reason',
      d: optional,
      a: res(400, { error: 'invalid_grant', error_description: 'authentication failure' }),
      kind: 'terminal',
      extra: { reason: 'revoked' },
    },
    {
      name: 'a custom description reason',
      d: def({ errors: { descriptionReasons: [{ contains: 'User Locked', reason: 'authentication_failure' }] } }),
      a: res(400, { error: 'invalid_grant', error_description: 'user locked out' }),
      kind: 'terminal',
      extra: { reason: 'authentication_failure' },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const out = classifyAnswer(c.d, c.a, NOW);
      expect(out.kind).toBe(c.kind);
      if (c.extra) expect(out).toMatchObject(c.extra);
    });
  }

  it('parses tokens, expiry and metadata fields', () => {
    const d = def({ rotation: 'optional', metadataFields: ['instance_url'] });
    const out = classifyAnswer(
      d,
      res(200, {
        access_token: 'a',
        refresh_token: 'r',
        expires_in: '120',
        token_type: 'Bearer',
        scope: 'x y',
        instance_url: 'https://na1.example.com',
        extra: 1,
      }),
      NOW,
    );
    expect(out).toMatchObject({
      kind: 'tokens',
      tokens: {
        accessToken: 'a',
        refreshToken: 'r',
        tokenType: 'Bearer',
        scope: 'x y',
        metadata: { instance_url: 'https://na1.example.com' },
      },
    });
    if (out.kind === 'tokens') expect(out.tokens.expiresAt?.getTime()).toBe(NOW + 120_000);
  });

  it('uses the default lifetime when no expiry is given', () => {
    const d = def({ rotation: 'optional', expiry: { source: 'none', defaultLifetimeSec: 7200 } });
    const out = classifyAnswer(d, res(200, { access_token: 'a', issued_at: String(NOW) }), NOW);
    expect(out.kind === 'tokens' && out.tokens.expiresAt?.getTime()).toBe(NOW + 7_200_000);
  });

  it('reads expires_in in milliseconds and expires_at', () => {
    const ms = classifyAnswer(
      def({ expiry: { source: 'expires_in_ms' } }),
      res(200, { access_token: 'a', expires_in: 5000 }),
      NOW,
    );
    expect(ms.kind === 'tokens' && ms.tokens.expiresAt?.getTime()).toBe(NOW + 5000);
    const at = classifyAnswer(
      def({ expiry: { source: 'expires_at' } }),
      res(200, { access_token: 'a', expires_at: NOW / 1000 + 60 }),
      NOW,
    );
    expect(at.kind === 'tokens' && at.tokens.expiresAt?.getTime()).toBe(NOW + 60_000);
  });

  it('never puts a token into an error description', () => {
    const out = classifyAnswer(
      def(),
      res(400, { error: 'weird', error_description: 'bad refresh_token=rt_SECRETSECRET and Bearer abc.def' }),
      NOW,
    );
    expect(JSON.stringify(out)).not.toContain('rt_SECRETSECRET');
    expect(JSON.stringify(out)).not.toContain('abc.def');
  });
});

describe('parseBody and parseRetryAfter', () => {
  it.each([
    ['{"a":1}', 'application/json', 'auto', { a: 1 }],
    [
      'access_token=x&expires_in=5',
      'application/x-www-form-urlencoded',
      'auto',
      { access_token: 'x', expires_in: '5' },
    ],
    [
      'error=bad_refresh_token&error_description=x',
      'text/plain',
      'form',
      { error: 'bad_refresh_token', error_description: 'x' },
    ],
    ['<html></html>', 'text/html', 'auto', null],
    ['[1,2]', 'application/json', 'auto', null],
    ['', 'application/json', 'auto', null],
  ] as const)('%s', (text, ct, fmt, expected) => {
    expect(parseBody(text, ct, fmt)).toEqual(expected);
  });
  it.each([
    ['10', 10_000],
    [undefined, undefined],
    ['garbage', undefined],
    [new Date(NOW + 5000).toUTCString(), 5000],
  ])('Retry-After %s', (v, ms) => {
    expect(parseRetryAfter(v, NOW)).toBe(ms);
  });
});
