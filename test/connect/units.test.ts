// Table-driven unit tests of the connect flow's pure parts: the authorize URL builder, state and
// PKCE values, the return-URL allowlist, the binding cookie, the exchange classification, and the
// provider definition's authorization fields.
import { describe, expect, it } from 'vitest';
import { buildAuthorizeUrl, requestedScopes } from '../../worker/connect/authorize-url.ts';
import { bindingCookie, clearedBindingCookie, readBindingCookie } from '../../worker/connect/cookie.ts';
import { classifyExchange } from '../../worker/connect/exchange.ts';
import { refusalPage } from '../../worker/connect/pages.ts';
import { checkReturnUrl, returnWith } from '../../worker/connect/return-url.ts';
import {
  challengeS256,
  hashToken,
  isValidVerifier,
  looksLikeToken,
  randomToken,
} from '../../worker/connect/secrets.ts';
import type { HttpAnswer } from '../../worker/oauth/answer.ts';
import { resolveProvider } from '../../worker/providers/registry.ts';
import type { ProviderInput } from '../../worker/providers/types.ts';

const provider = (extra: ProviderInput = {}) =>
  resolveProvider(
    'p',
    {
      tokenUrl: 'https://p.example/token',
      clientId: 'cid',
      clientSecret: 'sec',
      authorizeUrl: 'https://p.example/authorize',
      ...extra,
    },
    {},
    { allowInsecure: false },
  );
const REDIRECT = 'https://daemon.example/oauth/callback';

describe('authorize URL builder', () => {
  const cases: {
    name: string;
    def: ProviderInput;
    scopes?: string[];
    metadata?: Record<string, unknown>;
    expect: Record<string, string | null>;
  }[] = [
    {
      name: 'defaults: S256, space-separated default scopes',
      def: { scopes: ['a', 'b'] },
      expect: {
        response_type: 'code',
        client_id: 'cid',
        redirect_uri: REDIRECT,
        state: 'S',
        scope: 'a b',
        code_challenge: 'C',
        code_challenge_method: 'S256',
      },
    },
    {
      name: 'required scopes always come first, the session scopes replace the defaults',
      def: { scopes: ['a'], requiredScopes: ['offline_access'] },
      scopes: ['x', 'y'],
      expect: { scope: 'offline_access x y' },
    },
    {
      name: 'an offline scope among the defaults is kept when the session names its own',
      def: { scopes: ['offline_access', 'read'] },
      scopes: ['write'],
      expect: { scope: 'offline_access write' },
    },
    {
      name: 'no repeats',
      def: { requiredScopes: ['refresh_token'], scopes: ['api'] },
      scopes: ['refresh_token', 'api'],
      expect: { scope: 'refresh_token api' },
    },
    { name: 'comma separator', def: { scopes: ['a', 'b'], scopeSeparator: ',' }, expect: { scope: 'a,b' } },
    { name: 'no scopes: no scope parameter', def: {}, expect: { scope: null } },
    {
      name: 'authorizeParams always sent',
      def: { authorizeParams: { access_type: 'offline', prompt: 'consent' } },
      scopes: ['x'],
      expect: { access_type: 'offline', prompt: 'consent', scope: 'x' },
    },
    {
      name: 'pkce none: no challenge',
      def: { pkce: 'none' },
      expect: { code_challenge: null, code_challenge_method: null },
    },
    {
      name: 'template filled from metadata',
      def: { authorizeUrl: 'https://{subdomain}.p.example/authorize' },
      metadata: { subdomain: 'acme' },
      expect: { __host: 'acme.p.example' },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = buildAuthorizeUrl(provider(c.def), {
        redirectUri: REDIRECT,
        state: 'S',
        codeChallenge: 'C',
        scopes: c.scopes,
        metadata: c.metadata ?? {},
      });
      expect(r.ok).toBe(true);
      const u = new URL((r as { url: string }).url);
      for (const [k, v] of Object.entries(c.expect)) {
        if (k === '__host') expect(u.host).toBe(v);
        else expect(u.searchParams.get(k), k).toBe(v);
      }
    });
  }

  it('refuses a template whose metadata is missing or not host-safe, naming metadata', () => {
    for (const metadata of [{}, { subdomain: 'evil.com/x?' }, { subdomain: '' }]) {
      const r = buildAuthorizeUrl(provider({ authorizeUrl: 'https://{subdomain}.p.example/a' }), {
        redirectUri: REDIRECT,
        state: 'S',
        codeChallenge: 'C',
        scopes: undefined,
        metadata,
      });
      expect(r).toMatchObject({ ok: false, field: 'metadata' });
    }
  });

  it('refuses a provider without authorizeUrl', () => {
    expect(
      buildAuthorizeUrl(provider({ authorizeUrl: undefined }), {
        redirectUri: REDIRECT,
        state: 'S',
        codeChallenge: 'C',
        scopes: undefined,
        metadata: {},
      }),
    ).toMatchObject({ ok: false, field: 'provider' });
  });

  it('requestedScopes: table', () => {
    const table: [ProviderInput, string[] | undefined, string[]][] = [
      [{}, undefined, []],
      [{ scopes: ['a'] }, [], ['a']],
      [{ scopes: ['a'], requiredScopes: ['r'] }, undefined, ['r', 'a']],
      [{ scopes: ['offline', 'a'] }, ['b'], ['offline', 'b']],
    ];
    for (const [def, s, want] of table) expect(requestedScopes(provider(def), s)).toEqual(want);
  });
});

describe('state and PKCE values', () => {
  it('random tokens carry 256 bits, are distinct and look like tokens', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const t = randomToken();
      expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(t, 'base64url').length).toBe(32);
      expect(looksLikeToken(t)).toBe(true);
      seen.add(t);
    }
    expect(seen.size).toBe(200);
  });

  it('RFC 7636 appendix B test vector, verifier shape', () => {
    expect(challengeS256('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe(
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    );
    const table: [string, boolean][] = [
      ['a'.repeat(42), false],
      ['a'.repeat(43), true],
      ['a'.repeat(128), true],
      ['a'.repeat(129), false],
      [`${'a'.repeat(43)}+`, false],
      [randomToken(), true],
    ];
    for (const [v, ok] of table) expect(isValidVerifier(v), v).toBe(ok);
  });

  it('only hashes are stored: a hash is stable, hex, and not the value', () => {
    const t = randomToken();
    expect(hashToken(t)).toBe(hashToken(t));
    expect(hashToken(t)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashToken(t)).not.toContain(t);
  });

  it('forged states are refused before any lookup', () => {
    for (const v of ['', 'short', 'a b', 'x'.repeat(200), '<script>', undefined, 42, ['a'.repeat(43)]])
      expect(looksLikeToken(v)).toBe(false);
  });
});

describe('return URL allowlist', () => {
  const allow = ['https://app.example/connect', 'http://127.0.0.1:5173/', 'https://other.example:8443/cb/'];
  const table: [string, boolean][] = [
    ['https://app.example/connect', true],
    ['https://app.example/connect/done?x=1#frag', true],
    ['https://app.example/connected', false],
    ['https://app.example/other', false],
    ['https://APP.example/connect', true], // host names are case-insensitive (URL normalises them)
    ['http://app.example/connect', false],
    ['https://app.example:444/connect', false],
    ['https://app.example:443/connect', true], // the default port is the same port
    ['https://user@app.example/connect', false],
    ['https://user:pw@app.example/connect', false],
    ['https://app.example.evil.com/connect', false],
    ['https://evil.com/https://app.example/connect', false],
    ['https://app.example/connect/../admin', false],
    ['https://app.example/connect/%2e%2e/admin', false],
    ['http://localhost:5173/', false],
    ['http://127.0.0.1:5173/anything', true],
    ['https://other.example:8443/cb/x', true],
    ['https://other.example:8443/cb', false],
    ['javascript:alert(1)', false],
    ['data:text/html,x', false],
    ['//app.example/connect', false],
    ['/connect', false],
    ['https://app.example\\@evil.com/connect', false],
    ['https://app.example/connect x', false],
  ];
  for (const [url, ok] of table) {
    it(`${ok ? 'allows' : 'refuses'} ${url}`, () => expect(checkReturnUrl(url, allow).ok).toBe(ok));
  }

  it('refuses everything when nothing is configured', () => {
    expect(checkReturnUrl('https://app.example/connect', [])).toMatchObject({
      ok: false,
      message: expect.stringMatching(/CONNECT_RETURN_URLS/),
    });
  });

  it("adds the result parameters, keeping the app's own", () => {
    const u = new URL(
      returnWith('https://app.example/connect?tab=1', { status: 'connected', session_id: 's', error: undefined }),
    );
    expect([...u.searchParams]).toEqual([
      ['tab', '1'],
      ['status', 'connected'],
      ['session_id', 's'],
    ]);
  });
});

describe('binding cookie', () => {
  it('says HttpOnly and SameSite=Lax explicitly, Secure only for https, on the callback path', () => {
    for (const secure of [true, false]) {
      for (const c of [bindingCookie('v', { secure, maxAgeSec: 60 }), clearedBindingCookie(secure)]) {
        expect(c).toMatch(/; HttpOnly/);
        expect(c).toMatch(/; SameSite=Lax/);
        expect(c).toMatch(/; Path=\/oauth\/callback/);
        expect(/; Secure/.test(c)).toBe(secure);
      }
    }
    expect(clearedBindingCookie(false)).toMatch(/Max-Age=0/);
  });

  it('reads the binding among other cookies', () => {
    const table: [string | undefined, string | undefined][] = [
      [undefined, undefined],
      ['a=1', undefined],
      ['a=1; ort_connect=xyz; b=2', 'xyz'],
      ['ort_connect=', undefined],
      ['ort_connect=a; ort_connect=b', 'b'],
    ];
    for (const [h, want] of table) expect(readBindingCookie(h)).toBe(want);
  });
});

describe('exchange classification', () => {
  const answer = (status: number, body: unknown): HttpAnswer => ({
    kind: 'response',
    status,
    headers: { 'content-type': 'application/json' },
    bodyText: JSON.stringify(body),
  });
  const slack = provider({
    errors: {
      bodyErrorWhen: [{ field: 'ok', equals: false }],
      terminal: ['invalid_refresh_token'],
      transient: ['internal_error'],
    },
    invalidCodeErrors: ['invalid_code'],
  });
  const table: { name: string; def?: ReturnType<typeof provider>; a: HttpAnswer; want: string }[] = [
    {
      name: 'tokens with refresh token',
      a: answer(200, { access_token: 'a', refresh_token: 'r', expires_in: 3600 }),
      want: 'tokens',
    },
    { name: 'invalid_grant', a: answer(400, { error: 'invalid_grant' }), want: 'invalid_grant' },
    { name: '503', a: answer(503, { error: 'temporarily_unavailable' }), want: 'provider_unavailable' },
    {
      name: 'timeout',
      a: { kind: 'network', code: 'timeout', message: 'x', sent: true },
      want: 'provider_unavailable',
    },
    {
      name: 'html page',
      a: { kind: 'response', status: 502, headers: {}, bodyText: '<html>bad gateway</html>' },
      want: 'provider_unavailable',
    },
    { name: 'invalid_client', a: answer(401, { error: 'invalid_client' }), want: 'misconfigured' },
    {
      name: 'Slack ok:false invalid_code',
      def: slack,
      a: answer(200, { ok: false, error: 'invalid_code' }),
      want: 'invalid_grant',
    },
    {
      name: 'Slack ok:false internal_error',
      def: slack,
      a: answer(200, { ok: false, error: 'internal_error' }),
      want: 'provider_unavailable',
    },
    {
      name: 'expiring token without refresh token',
      a: answer(200, { access_token: 'a', expires_in: 3600 }),
      want: 'no_refresh_token',
    },
    {
      name: 'expiry source none (Salesforce-like) without refresh token',
      def: provider({ expiry: { source: 'none', defaultLifetimeSec: 7200 } }),
      a: answer(200, { access_token: 'a' }),
      want: 'no_refresh_token',
    },
    {
      name: 'token without expiry nor refresh token: non-expiring',
      a: answer(200, { access_token: 'a' }),
      want: 'tokens',
    },
  ];
  for (const c of table) {
    it(c.name, () => {
      const r = classifyExchange(c.def ?? provider(), c.a, Date.now(), REDIRECT);
      expect(r.kind === 'tokens' ? 'tokens' : r.error).toBe(c.want);
      if (r.kind === 'failed') expect(r.description.length).toBeGreaterThan(10);
    });
  }

  it('the invalid_grant description names the redirect URI when that is likely', () => {
    const r = classifyExchange(
      provider(),
      answer(400, { error: 'invalid_grant', error_description: 'redirect_uri mismatch' }),
      Date.now(),
      REDIRECT,
    );
    expect(r).toMatchObject({ kind: 'failed', error: 'invalid_grant', description: expect.stringContaining(REDIRECT) });
  });
});

describe('provider definitions: authorization fields', () => {
  const bad: [ProviderInput, string][] = [
    [{ authorizeUrl: 'http://p.example/a' }, 'authorizeUrl'],
    [{ authorizeUrl: 'not a url' }, 'authorizeUrl'],
    [{ revocationUrl: 'ftp://p.example/r' }, 'revocationUrl'],
    [{ scopes: ['a b'] as string[] }, 'scopes[0]'],
    [{ scopes: 'a' as unknown as string[] }, 'scopes'],
    [{ pkce: 'plain' as 'none' }, 'pkce'],
    [{ scopeSeparator: ';' }, 'scopeSeparator'],
    [{ authorizeParams: { state: 'x' } }, 'authorizeParams.state'],
    [{ authorizeParams: { x: 1 as unknown as string } }, 'authorizeParams.x'],
  ];
  for (const [input, field] of bad) {
    it(`refuses ${JSON.stringify(input)} naming ${field}`, () => {
      expect(() => provider(input)).toThrow(`field "${field}"`);
    });
  }

  it('defaults', () => {
    expect(provider()).toMatchObject({
      pkce: 'S256',
      scopeSeparator: ' ',
      scopes: [],
      authorizeParams: {},
      invalidCodeErrors: ['invalid_grant'],
    });
  });
});

describe('pages', () => {
  it('say in words what happened and what to do', () => {
    for (const why of ['unknown', 'used', 'expired', 'other_browser', 'bad_request'] as const) {
      const p = refusalPage(why, 'Fake <Cloud>');
      expect(p.html).toMatch(/Go back to the app/);
      expect(p.html).not.toContain('<Cloud>');
    }
  });
});

describe('built-in providers: authorization facts', () => {
  it('every built-in has a valid authorization side, with the quirks that decide whether a refresh token comes back', async () => {
    const { ProviderRegistry } = await import('../../worker/providers/registry.ts');
    const reg = ProviderRegistry.load({ allowInsecure: false, env: {} });
    for (const p of reg.all()) expect(p.authorizeUrl, p.key).toMatch(/^https:\/\//);
    const g = reg.get('google')!;
    expect(g.authorizeParams).toMatchObject({ access_type: 'offline', prompt: 'consent' });
    expect(reg.get('microsoft')!.requiredScopes).toContain('offline_access');
    expect(reg.get('salesforce')!.requiredScopes).toContain('refresh_token');
    expect(reg.get('salesforce-sandbox')!.authorizeUrl).toMatch(/test\.salesforce\.com/);
    expect(reg.get('atlassian')!.authorizeParams).toMatchObject({ audience: 'api.atlassian.com', prompt: 'consent' });
    expect(reg.get('notion')!.authorizeParams).toMatchObject({ owner: 'user' });
    expect(reg.get('dropbox')!.authorizeParams).toMatchObject({ token_access_type: 'offline' });
    expect(reg.get('slack')!).toMatchObject({ scopeSeparator: ',', pkce: 'none' });
    // The offline scope survives a session's own scopes.
    const u = buildAuthorizeUrl(reg.get('microsoft')!, {
      redirectUri: REDIRECT,
      state: 'S',
      codeChallenge: 'C',
      scopes: ['User.Read'],
      metadata: {},
    });
    expect(new URL((u as { url: string }).url).searchParams.get('scope')).toBe('offline_access User.Read');
    expect(new URL((u as { url: string }).url).pathname).toBe('/common/oauth2/v2.0/authorize');
  });
});
