import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeProvider, PERSONAS, type FakeProviderOptions, type Persona } from './fakes/fake-provider.js';

const started: FakeProvider[] = [];

async function start(opts: FakeProviderOptions = {}): Promise<FakeProvider> {
  const p = new FakeProvider(opts);
  await p.start();
  started.push(p);
  return p;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => p.close()));
});

const basic = (id = 'client-id', secret = 'client-secret') =>
  `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

interface Answer {
  status: number;
  headers: Headers;
  contentType: string;
  text: string;
  body: Record<string, unknown>;
}

async function toAnswer(res: Response): Promise<Answer> {
  const text = await res.text();
  const contentType = res.headers.get('content-type') ?? '';
  let body: Record<string, unknown> = {};
  if (contentType.includes('json')) {
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      body = {};
    }
  } else if (contentType.includes('x-www-form-urlencoded')) {
    body = Object.fromEntries(new URLSearchParams(text));
  }
  return { status: res.status, headers: res.headers, contentType, text, body };
}

/** A correct refresh request for each persona (what a well-configured client sends). */
function refreshRequest(
  p: FakeProvider,
  refreshToken: string,
  creds = { id: 'client-id', secret: 'client-secret' },
  extraHeaders: Record<string, string> = {},
): { url: string; init: RequestInit } {
  const form = (o: Record<string, string>) => new URLSearchParams(o).toString();
  const formHeaders = { 'content-type': 'application/x-www-form-urlencoded' };
  const jsonHeaders = { 'content-type': 'application/json' };
  const b = basic(creds.id, creds.secret);
  const both = { grant_type: 'refresh_token', refresh_token: refreshToken };
  const withClient = { ...both, client_id: creds.id, client_secret: creds.secret };
  let url = p.tokenUrl;
  let init: RequestInit;
  switch (p.persona) {
    case 'gong':
      url = `${p.tokenUrl}?${form(both)}`;
      init = { method: 'POST', headers: { authorization: b } };
      break;
    case 'xero':
    case 'zoom':
      init = { method: 'POST', headers: { ...formHeaders, authorization: b }, body: form(both) };
      break;
    case 'notion':
      init = { method: 'POST', headers: { ...jsonHeaders, authorization: b }, body: JSON.stringify(both) };
      break;
    case 'atlassian':
    case 'shopify':
      init = { method: 'POST', headers: jsonHeaders, body: JSON.stringify(withClient) };
      break;
    default:
      init = { method: 'POST', headers: formHeaders, body: form(withClient) };
  }
  init.headers = { ...(init.headers as Record<string, string>), ...extraHeaders };
  return { url, init };
}

async function refresh(
  p: FakeProvider,
  refreshToken: string,
  creds?: { id: string; secret: string },
  extraHeaders?: Record<string, string>,
): Promise<Answer> {
  const { url, init } = refreshRequest(p, refreshToken, creds, extraHeaders);
  return toAnswer(await fetch(url, init));
}

// ---------------------------------------------------------------------------------------------

describe('standard persona: rotation and reuse detection', () => {
  it('rotates on every refresh and a reuse revokes the whole family', async () => {
    const p = await start();
    const g = p.issueGrant({ userId: 'alice' });
    expect(g.refreshToken).toMatch(/^rt_[A-Za-z0-9_-]{32,}$/);
    expect(g.raw).toMatchObject({
      access_token: g.accessToken,
      refresh_token: g.refreshToken,
      token_type: 'Bearer',
      expires_in: 3600,
    });

    const a1 = await refresh(p, g.refreshToken);
    expect(a1.status).toBe(200);
    expect(a1.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: expect.any(String) });
    const rt2 = a1.body.refresh_token as string;
    expect(rt2).toMatch(/^rt_/);
    expect(rt2).not.toBe(g.refreshToken);
    expect(a1.body.access_token).toMatch(new RegExp(`^at_${g.grantId}_2_`));
    expect(p.currentRefreshToken(g.grantId)).toBe(rt2);
    expect(p.grantIdOf(rt2)).toBe(g.grantId);

    const a2 = await refresh(p, rt2);
    expect(a2.status).toBe(200);
    const rt3 = a2.body.refresh_token as string;

    // Replay the first token: reuse -> family revoked.
    const reuse = await refresh(p, g.refreshToken);
    expect(reuse.status).toBe(400);
    expect(reuse.body).toEqual({ error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
    // The newest token is dead too.
    const after = await refresh(p, rt3);
    expect(after.status).toBe(400);
    expect(after.body.error).toBe('invalid_grant');
    expect(p.currentRefreshToken(g.grantId)).toBeUndefined();

    const ledger = p.ledger();
    expect(ledger.grants).toHaveLength(1);
    expect(ledger.grants[0]).toMatchObject({
      grantId: g.grantId,
      status: 'revoked',
      revokedBy: 'reuse',
      current: rt3,
      issued: [g.refreshToken, rt2, rt3],
    });
    expect(ledger.reuses).toEqual([{ grantId: g.grantId, token: g.refreshToken, at: expect.any(Number) }]);

    const s = p.stats();
    expect(s).toMatchObject({ refreshRequests: 4, successes: 2, reuseEvents: 1, revokedByReuse: 1 });
    expect(s.perGrant[g.grantId]).toEqual({ refreshes: 2, reuses: 1 });
  });

  it('with reuseDetection=false a reuse is refused but the grant survives', async () => {
    const p = await start({ reuseDetection: false });
    const g = p.issueGrant();
    const a1 = await refresh(p, g.refreshToken);
    const reuse = await refresh(p, g.refreshToken);
    expect(reuse.status).toBe(400);
    expect(reuse.body.error).toBe('invalid_grant');
    const a2 = await refresh(p, a1.body.refresh_token as string);
    expect(a2.status).toBe(200);
    expect(p.stats()).toMatchObject({ reuseEvents: 1, revokedByReuse: 0 });
    expect(p.ledger().grants[0].status).toBe('active');
  });

  it('rotation=never keeps the refresh token and never counts reuse', async () => {
    const p = await start({ rotation: 'never' });
    const g = p.issueGrant();
    for (let i = 0; i < 3; i++) {
      const a = await refresh(p, g.refreshToken);
      expect(a.status).toBe(200);
      expect(a.body.refresh_token).toBeUndefined();
    }
    expect(p.stats()).toMatchObject({ successes: 3, reuseEvents: 0 });
    expect(p.ledger().grants[0].issued).toEqual([g.refreshToken]);
  });

  it('accepts client auth by Basic or in the body, and rejects wrong credentials', async () => {
    const p = await start();
    const g = p.issueGrant();
    const viaBasic = await toAnswer(
      await fetch(p.tokenUrl, {
        method: 'POST',
        headers: { authorization: basic(), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: g.refreshToken }).toString(),
      }),
    );
    expect(viaBasic.status).toBe(200);
    const viaBody = await refresh(p, viaBasic.body.refresh_token as string);
    expect(viaBody.status).toBe(200);

    const wrongBody = await refresh(p, viaBody.body.refresh_token as string, { id: 'client-id', secret: 'nope' });
    expect(wrongBody.status).toBe(400);
    expect(wrongBody.body.error).toBe('invalid_client');
    const wrongBasic = await toAnswer(
      await fetch(p.tokenUrl, {
        method: 'POST',
        headers: { authorization: basic('client-id', 'nope'), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: viaBody.body.refresh_token as string,
        }).toString(),
      }),
    );
    expect(wrongBasic.status).toBe(401);
    expect(wrongBasic.body.error).toBe('invalid_client');
    // A credential failure does not touch the grant.
    expect(p.currentRefreshToken(g.grantId)).toBe(viaBody.body.refresh_token);
  });

  it('unknown refresh token -> invalid_grant; wrong grant type -> unsupported_grant_type; missing params -> invalid_request', async () => {
    const p = await start();
    const unknown = await refresh(p, 'rt_never_issued');
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toBe('invalid_grant');
    const gt = await toAnswer(
      await fetch(p.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials&client_id=client-id&client_secret=client-secret',
      }),
    );
    expect(gt.body.error).toBe('unsupported_grant_type');
    const missing = await toAnswer(
      await fetch(p.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=refresh_token&client_id=client-id&client_secret=client-secret',
      }),
    );
    expect(missing.status).toBe(400);
    expect(missing.body.error).toBe('invalid_request');
    expect((await fetch(p.tokenUrl)).status).toBe(405);
    expect((await fetch(`${p.url}/nope`, { method: 'POST' })).status).toBe(404);
  });

  it('exposes access-token validity (checkAccessToken and GET /api/me)', async () => {
    let now = 1_000_000;
    const p = await start({ accessTtlSeconds: 5, now: () => now });
    const g = p.issueGrant({ userId: 'bob' });
    expect(p.checkAccessToken(g.accessToken)).toMatchObject({ active: true, grantId: g.grantId });
    const me = await fetch(`${p.url}/api/me`, { headers: { authorization: `Bearer ${g.accessToken}` } });
    expect(me.status).toBe(200);
    expect(await me.json()).toEqual({ grantId: g.grantId, userId: 'bob' });
    now += 5_000;
    expect(p.checkAccessToken(g.accessToken)).toMatchObject({ active: false, reason: 'expired' });
    expect((await fetch(`${p.url}/api/me`, { headers: { authorization: `Bearer ${g.accessToken}` } })).status).toBe(
      401,
    );
    expect(p.checkAccessToken('at_nope').reason).toBe('unknown');
  });

  it('calls onRequest with the grant id', async () => {
    const p = await start();
    const g = p.issueGrant();
    const seen: Array<{ grantId?: string; at: number }> = [];
    p.onRequest = (info) => seen.push(info);
    await refresh(p, g.refreshToken);
    await refresh(p, 'rt_unknown');
    expect(seen).toEqual([
      { grantId: g.grantId, at: expect.any(Number) },
      { grantId: undefined, at: expect.any(Number) },
    ]);
  });

  it('revokeGrant: later refreshes get the terminal answer, revokedBy user', async () => {
    const p = await start();
    const g = p.issueGrant();
    p.revokeGrant(g.grantId);
    const a = await refresh(p, g.refreshToken);
    expect(a.status).toBe(400);
    expect(a.body.error).toBe('invalid_grant');
    expect(p.ledger().grants[0]).toMatchObject({ status: 'revoked', revokedBy: 'user' });
    expect(p.stats().reuseEvents).toBe(0);
    expect(() => p.revokeGrant('g-missing')).toThrow();
  });
});

describe('grace window', () => {
  it('xero: reuse inside 1800 s returns a fresh pair and is not a reuse event; after grace it revokes', async () => {
    let now = 10_000_000;
    const p = await start({ persona: 'xero', now: () => now });
    expect(p.graceSeconds).toBe(1800);
    const g = p.issueGrant();
    const a1 = await refresh(p, g.refreshToken);
    expect(a1.status).toBe(200);
    const rt2 = a1.body.refresh_token as string;

    now += 1_799_000;
    const again = await refresh(p, g.refreshToken); // lost answer, client retries with the old token
    expect(again.status).toBe(200);
    const rt3 = again.body.refresh_token as string;
    expect(rt3).not.toBe(rt2);
    expect(p.currentRefreshToken(g.grantId)).toBe(rt3);
    expect(p.stats().reuseEvents).toBe(0);

    now += 2_000; // the first token's grace is over
    const late = await refresh(p, g.refreshToken);
    expect(late.status).toBe(400);
    expect(late.body).toEqual({ error: 'invalid_grant' });
    expect(p.stats()).toMatchObject({ reuseEvents: 1, revokedByReuse: 1 });
    expect((await refresh(p, rt3)).status).toBe(400);
    expect(p.ledger().grants[0].issued).toEqual([g.refreshToken, rt2, rt3]);
  });

  it('atlassian: 600 s grace by default, overridable with graceSeconds', async () => {
    let now = 0;
    const p = await start({ persona: 'atlassian', now: () => now });
    const g = p.issueGrant();
    await refresh(p, g.refreshToken);
    now += 599_000;
    expect((await refresh(p, g.refreshToken)).status).toBe(200);
    now += 2_000;
    const dead = await refresh(p, g.refreshToken);
    expect(dead.status).toBe(403);
    expect(dead.body).toEqual({ error: 'invalid_grant', error_description: 'Unknown or invalid refresh token.' });
    expect(p.ledger().grants[0]).toMatchObject({ status: 'revoked', revokedBy: 'reuse' });

    const q = await start({ persona: 'atlassian', graceSeconds: 0, now: () => now });
    const g2 = q.issueGrant();
    await refresh(q, g2.refreshToken);
    expect((await refresh(q, g2.refreshToken)).status).toBe(403);
    expect(q.stats().revokedByReuse).toBe(1);
  });

  it('standard with graceSeconds: a superseded (never delivered) token gets its own grace', async () => {
    let now = 0;
    const p = await start({ graceSeconds: 10, now: () => now });
    const g = p.issueGrant();
    const a1 = await refresh(p, g.refreshToken);
    const a2 = await refresh(p, g.refreshToken); // retry inside grace supersedes rt2
    expect(a2.status).toBe(200);
    expect((await refresh(p, a1.body.refresh_token as string)).status).toBe(200); // rt2 still within its grace
    now += 11_000;
    expect((await refresh(p, g.refreshToken)).status).toBe(400);
    expect(p.stats().reuseEvents).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------

interface PersonaExpectation {
  path: RegExp;
  success: (b: Record<string, unknown>) => void;
  rotates: boolean;
  dead: { status: number; body: (b: Record<string, unknown>) => void };
  badSecret: { status: number; body: (b: Record<string, unknown>) => void };
}

const rfcInvalidGrant = (desc?: string) => (b: Record<string, unknown>) => {
  expect(b.error).toBe('invalid_grant');
  if (desc) expect(b.error_description).toBe(desc);
};
const invalidClient = (b: Record<string, unknown>) => expect(b.error).toBe('invalid_client');

const EXPECT: Record<Persona, PersonaExpectation> = {
  standard: {
    path: /\/oauth2\/token$/,
    rotates: true,
    success: (b) => expect(b).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: expect.any(String) }),
    dead: { status: 400, body: rfcInvalidGrant('Token has been expired or revoked.') },
    badSecret: { status: 400, body: invalidClient },
  },
  gong: {
    path: /\/oauth2\/generate-customer-token$/,
    rotates: true,
    success: (b) =>
      expect(b).toMatchObject({
        token_type: 'bearer',
        expires_in: 3600,
        api_base_url_for_customer: expect.stringMatching(/^https:\/\/us-\d+\.api\.gong\.io$/),
      }),
    dead: { status: 400, body: rfcInvalidGrant('Token has been expired or revoked.') },
    badSecret: { status: 401, body: invalidClient },
  },
  salesforce: {
    path: /\/services\/oauth2\/token$/,
    rotates: false,
    success: (b) => {
      expect(b).not.toHaveProperty('expires_in');
      expect(b).not.toHaveProperty('refresh_token');
      expect(b).toMatchObject({
        token_type: 'Bearer',
        issued_at: expect.stringMatching(/^\d{13}$/),
        instance_url: expect.stringMatching(/^https:\/\/.+\.my\.salesforce\.com$/),
        id: expect.stringMatching(/^https:\/\/login\.salesforce\.com\/id\/00D\w+\/005\w+$/),
        signature: expect.any(String),
        scope: expect.any(String),
      });
    },
    dead: { status: 400, body: rfcInvalidGrant('expired access/refresh token') },
    badSecret: {
      status: 400,
      body: (b) => expect(b).toEqual({ error: 'invalid_client', error_description: 'invalid client credentials' }),
    },
  },
  slack: {
    path: /\/api\/oauth\.v2\.access$/,
    rotates: true,
    success: (b) =>
      expect(b).toMatchObject({
        ok: true,
        token_type: 'bot',
        expires_in: 43200,
        scope: expect.any(String),
        bot_user_id: expect.any(String),
        app_id: expect.any(String),
        team: { id: expect.any(String), name: expect.any(String) },
      }),
    dead: { status: 200, body: (b) => expect(b).toEqual({ ok: false, error: 'invalid_refresh_token' }) },
    badSecret: { status: 200, body: (b) => expect(b).toEqual({ ok: false, error: 'bad_client_secret' }) },
  },
  google: {
    path: /\/token$/,
    rotates: false,
    success: (b) => {
      expect(b).toMatchObject({ token_type: 'Bearer', expires_in: 3599 });
      expect(b).not.toHaveProperty('refresh_token');
    },
    dead: { status: 400, body: rfcInvalidGrant('Token has been expired or revoked.') },
    badSecret: { status: 401, body: invalidClient },
  },
  microsoft: {
    path: /\/common\/oauth2\/v2\.0\/token$/,
    rotates: true,
    success: (b) =>
      expect(b).toMatchObject({
        token_type: 'Bearer',
        expires_in: 3600,
        ext_expires_in: 3600,
        scope: expect.stringContaining('offline_access'),
      }),
    dead: {
      status: 400,
      body: (b) => {
        expect(b.error).toBe('invalid_grant');
        expect(b.error_description).toMatch(/^AADSTS700082: The refresh token has expired due to inactivity/);
        expect(b.error_codes).toEqual([700082]);
      },
    },
    badSecret: {
      status: 401,
      body: (b) => expect(b).toMatchObject({ error: 'invalid_client', error_codes: [7000215] }),
    },
  },
  hubspot: {
    path: /\/oauth\/v1\/token$/,
    rotates: false,
    success: (b) => expect(b).toMatchObject({ token_type: 'bearer', expires_in: 1800 }),
    dead: {
      status: 400,
      body: (b) =>
        expect(b).toEqual({
          status: 'BAD_REFRESH_TOKEN',
          message: 'missing or invalid refresh token',
          correlationId: expect.any(String),
        }),
    },
    badSecret: { status: 400, body: (b) => expect(b.status).toBe('BAD_CLIENT_SECRET') },
  },
  github: {
    path: /\/login\/oauth\/access_token$/,
    rotates: true,
    success: (b) =>
      expect(b).toMatchObject({
        expires_in: '28800',
        refresh_token_expires_in: '15897600',
        scope: '',
        token_type: 'bearer',
      }),
    dead: {
      status: 200,
      body: (b) => expect(b).toMatchObject({ error: 'bad_refresh_token', error_description: expect.any(String) }),
    },
    badSecret: { status: 200, body: (b) => expect(b.error).toBe('incorrect_client_credentials') },
  },
  atlassian: {
    path: /\/oauth\/token$/,
    rotates: true,
    success: (b) => expect(b).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: expect.any(String) }),
    dead: { status: 403, body: rfcInvalidGrant('Unknown or invalid refresh token.') },
    badSecret: { status: 401, body: invalidClient },
  },
  xero: {
    path: /\/connect\/token$/,
    rotates: true,
    success: (b) => expect(b).toMatchObject({ token_type: 'Bearer', expires_in: 1800 }),
    dead: { status: 400, body: (b) => expect(b).toEqual({ error: 'invalid_grant' }) },
    badSecret: { status: 400, body: invalidClient },
  },
  zoom: {
    path: /\/oauth\/token$/,
    rotates: true,
    success: (b) => expect(b).toMatchObject({ token_type: 'bearer', expires_in: 3600, api_url: 'https://api.zoom.us' }),
    dead: { status: 400, body: (b) => expect(b).toEqual({ reason: 'Invalid Token!', error: 'invalid_request' }) },
    badSecret: { status: 401, body: invalidClient },
  },
  notion: {
    path: /\/v1\/oauth\/token$/,
    rotates: true,
    success: (b) => {
      expect(b).toMatchObject({
        token_type: 'bearer',
        bot_id: expect.any(String),
        workspace_id: expect.any(String),
        owner: { type: 'user' },
      });
      expect(b).not.toHaveProperty('expires_in');
    },
    dead: { status: 400, body: rfcInvalidGrant() },
    badSecret: { status: 401, body: invalidClient },
  },
  shopify: {
    path: /\/admin\/oauth\/access_token$/,
    rotates: true,
    success: (b) =>
      expect(b).toMatchObject({ expires_in: 3600, refresh_token_expires_in: 7776000, scope: expect.any(String) }),
    dead: { status: 400, body: rfcInvalidGrant() },
    badSecret: { status: 400, body: invalidClient },
  },
};

describe('every persona: success, dead-token and bad-client answers', () => {
  it('covers all personas', () => {
    expect(Object.keys(EXPECT).sort()).toEqual([...PERSONAS].sort());
  });

  for (const persona of PERSONAS) {
    it(persona, async () => {
      const e = EXPECT[persona];
      const p = await start({ persona });
      expect(p.tokenUrl).toMatch(e.path);
      expect(p.tokenUrl.startsWith(p.url)).toBe(true);
      const g = p.issueGrant();
      expect(g.raw.access_token).toBe(g.accessToken);

      const ok = await refresh(p, g.refreshToken);
      expect(ok.status, ok.text).toBe(200);
      e.success(ok.body);
      expect(ok.body.access_token).toMatch(/^at_/);
      if (e.rotates) {
        expect(ok.body.refresh_token).toMatch(/^rt_/);
        expect(ok.body.refresh_token).not.toBe(g.refreshToken);
      } else if (persona === 'hubspot') {
        expect(ok.body.refresh_token).toBe(g.refreshToken);
      }
      const current = p.currentRefreshToken(g.grantId)!;
      expect(current).toBe(e.rotates ? ok.body.refresh_token : g.refreshToken);

      const bad = await refresh(p, current, { id: 'client-id', secret: 'wrong' });
      expect(bad.status, bad.text).toBe(e.badSecret.status);
      e.badSecret.body(bad.body);

      p.revokeGrant(g.grantId);
      const dead = await refresh(p, current);
      expect(dead.status, dead.text).toBe(e.dead.status);
      e.dead.body(dead.body);
      expect(p.stats()).toMatchObject({ successes: 1, reuseEvents: 0 });
    });
  }
});

describe('persona specifics', () => {
  it('gong requires Basic and the parameters in the query string', async () => {
    const p = await start({ persona: 'gong' });
    const g = p.issueGrant();
    const inBody = await toAnswer(
      await fetch(p.tokenUrl, {
        method: 'POST',
        headers: { authorization: basic(), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: g.refreshToken }).toString(),
      }),
    );
    expect(inBody.status).toBe(400);
    expect(inBody.body.error).toBe('invalid_request');
    expect(String(inBody.body.error_description)).toMatch(/query/);
    const noBasic = await toAnswer(
      await fetch(
        `${p.tokenUrl}?grant_type=refresh_token&refresh_token=${g.refreshToken}&client_id=client-id&client_secret=client-secret`,
        { method: 'POST' },
      ),
    );
    expect(noBasic.status).toBe(401);
    expect(noBasic.body.error).toBe('invalid_client');
    expect(p.currentRefreshToken(g.grantId)).toBe(g.refreshToken); // nothing rotated
    const ok = await refresh(p, g.refreshToken);
    expect(ok.status).toBe(200);
    expect(ok.body.api_base_url_for_customer).toBe(g.raw.api_base_url_for_customer);
    // single-use
    expect((await refresh(p, g.refreshToken)).body.error).toBe('invalid_grant');
    expect(p.stats().revokedByReuse).toBe(1);
  });

  it('github answers form-encoded unless Accept: application/json', async () => {
    const p = await start({ persona: 'github' });
    const g = p.issueGrant();
    const asForm = await refresh(p, g.refreshToken);
    expect(asForm.contentType).toMatch(/application\/x-www-form-urlencoded/);
    expect(asForm.text).toMatch(
      /^access_token=at_.*&expires_in=28800&refresh_token=rt_.*&refresh_token_expires_in=15897600&scope=&token_type=bearer$/,
    );
    const asJson = await refresh(p, asForm.body.refresh_token as string, undefined, { accept: 'application/json' });
    expect(asJson.contentType).toMatch(/application\/json/);
    expect(asJson.body).toMatchObject({
      expires_in: 28800,
      refresh_token_expires_in: 15897600,
      token_type: 'bearer',
      refresh_token: expect.stringMatching(/^rt_/),
    });

    const p2 = await start({ persona: 'github' });
    const g2 = p2.issueGrant();
    p2.revokeGrant(g2.grantId);
    const errForm = await refresh(p2, g2.refreshToken);
    expect(errForm.status).toBe(200);
    expect(errForm.text).toMatch(/^error=bad_refresh_token&error_description=/);
    const errJson = await refresh(p2, g2.refreshToken, undefined, { accept: 'application/json' });
    expect(errJson.status).toBe(200);
    expect(errJson.body.error).toBe('bad_refresh_token');
  });

  it('atlassian rejects a form body', async () => {
    const p = await start({ persona: 'atlassian' });
    const g = p.issueGrant();
    const a = await toAnswer(
      await fetch(p.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: g.refreshToken,
          client_id: 'client-id',
          client_secret: 'client-secret',
        }).toString(),
      }),
    );
    expect(a.status).toBe(400);
    expect(a.body.error).toBe('invalid_request');
    expect(p.currentRefreshToken(g.grantId)).toBe(g.refreshToken);
  });

  it('zoom accepts parameters in the query string too', async () => {
    const p = await start({ persona: 'zoom' });
    const g = p.issueGrant();
    const a = await toAnswer(
      await fetch(`${p.tokenUrl}?grant_type=refresh_token&refresh_token=${g.refreshToken}`, {
        method: 'POST',
        headers: { authorization: basic() },
      }),
    );
    expect(a.status).toBe(200);
    expect((await refresh(p, g.refreshToken)).body).toEqual({ reason: 'Invalid Token!', error: 'invalid_request' });
  });

  it('slack: authed_user is its own grant; client errors; slackError fault', async () => {
    const p = await start({ persona: 'slack' });
    const g = p.issueGrant({ userId: 'U123' });
    const au = g.raw.authed_user as Record<string, unknown>;
    expect(g.raw).toMatchObject({ ok: true, token_type: 'bot', expires_in: 43200 });
    expect(au).toMatchObject({
      id: 'U123',
      token_type: 'user',
      access_token: expect.stringMatching(/^at_/),
      refresh_token: expect.stringMatching(/^rt_/),
      expires_in: 43200,
      scope: expect.any(String),
    });
    expect(g.userGrantId).toBeDefined();
    expect(p.grantIdOf(au.refresh_token as string)).toBe(g.userGrantId);
    expect(g.userGrantId).not.toBe(g.grantId);

    const user = await refresh(p, au.refresh_token as string);
    expect(user.status).toBe(200);
    expect(user.body).toMatchObject({ ok: true, token_type: 'user' });
    expect(p.currentRefreshToken(g.grantId)).toBe(g.refreshToken); // the bot grant is untouched

    const wrongId = await refresh(p, g.refreshToken, { id: 'someone-else', secret: 'client-secret' });
    expect(wrongId).toMatchObject({ status: 200, body: { ok: false, error: 'invalid_client_id' } });

    p.setFaults({ slackError: 'ratelimited', count: 1 });
    const rl = await refresh(p, g.refreshToken);
    expect(rl).toMatchObject({ status: 200, body: { ok: false, error: 'ratelimited' } });
    p.setFaults({ status: 500, count: 1 });
    const ie = await refresh(p, g.refreshToken);
    expect(ie).toMatchObject({ status: 500, body: { ok: false, error: 'internal_error' } });
    expect((await refresh(p, g.refreshToken)).body.ok).toBe(true);

    p.revokeGrant(g.userGrantId!, 'token_revoked');
    expect((await refresh(p, user.body.refresh_token as string)).body).toEqual({ ok: false, error: 'token_revoked' });
  });

  it('salesforce: optional-on rotation, signature, authentication failure, invalid_client_id', async () => {
    const p = await start({ persona: 'salesforce', rotation: 'optional-on' });
    const g = p.issueGrant();
    expect(g.raw).toMatchObject({
      refresh_token: g.refreshToken,
      instance_url: expect.any(String),
      issued_at: expect.any(String),
    });
    expect(g.raw).not.toHaveProperty('expires_in');
    const a = await refresh(p, g.refreshToken);
    expect(a.body.refresh_token).toMatch(/^rt_/);
    expect(a.body.instance_url).toBe(g.raw.instance_url);
    const { createHmac } = await import('node:crypto');
    expect(a.body.signature).toBe(
      createHmac('sha256', 'client-secret')
        .update(String(a.body.id) + String(a.body.issued_at))
        .digest('base64'),
    );
    expect((await refresh(p, g.refreshToken)).body.error).toBe('invalid_grant'); // dies at once

    const q = await start({ persona: 'salesforce' });
    const h = q.issueGrant({ extra: { instance_url: 'https://acme.my.salesforce.com' } });
    expect((await refresh(q, h.refreshToken)).body.instance_url).toBe('https://acme.my.salesforce.com');
    expect((await refresh(q, h.refreshToken, { id: 'other', secret: 'client-secret' })).body).toEqual({
      error: 'invalid_client_id',
      error_description: 'client identifier invalid',
    });
    q.revokeGrant(h.grantId, 'authentication failure');
    expect((await refresh(q, h.refreshToken)).body).toEqual({
      error: 'invalid_grant',
      error_description: 'authentication failure',
    });
  });

  it('microsoft: any tenant path; old refresh token stays valid; AADSTS reasons', async () => {
    const p = await start({ persona: 'microsoft' });
    const g = p.issueGrant();
    const a1 = await refresh(p, g.refreshToken);
    expect(a1.body.refresh_token).not.toBe(g.refreshToken);
    const again = await refresh(p, g.refreshToken);
    expect(again.status).toBe(200);
    expect(p.stats().reuseEvents).toBe(0);
    const other = refreshRequest(p, again.body.refresh_token as string);
    const viaTenant = await toAnswer(
      await fetch(other.url.replace('/common/', '/contoso.onmicrosoft.com/'), other.init),
    );
    expect(viaTenant.status).toBe(200);
    p.revokeGrant(g.grantId, '50076');
    const mfa = await refresh(p, g.refreshToken);
    expect(mfa.status).toBe(400);
    expect(mfa.body).toMatchObject({
      error: 'invalid_grant',
      error_codes: [50076],
      suberror: 'basic_action',
      error_description: expect.stringMatching(/^AADSTS50076: /),
    });
  });

  it('google: revoke with invalid_rapt adds error_subtype', async () => {
    const p = await start({ persona: 'google' });
    const g = p.issueGrant();
    p.revokeGrant(g.grantId, 'invalid_rapt');
    const a = await refresh(p, g.refreshToken);
    expect(a.status).toBe(400);
    expect(a.body).toMatchObject({ error: 'invalid_grant', error_subtype: 'invalid_rapt' });
  });

  it('shopify: the old refresh token stays valid until the new one is used', async () => {
    const p = await start({ persona: 'shopify' });
    const g = p.issueGrant();
    const a1 = await refresh(p, g.refreshToken);
    const rt2 = a1.body.refresh_token as string;
    const retry = await refresh(p, g.refreshToken); // rt2 not used yet -> old still good
    expect(retry.status).toBe(200);
    const rt3 = retry.body.refresh_token as string;
    expect(p.stats().reuseEvents).toBe(0);
    const a3 = await refresh(p, rt3); // the new one is used -> old dies
    expect(a3.status).toBe(200);
    const late = await refresh(p, g.refreshToken);
    expect(late.status).toBe(400);
    expect(late.body.error).toBe('invalid_grant');
    expect(p.stats()).toMatchObject({ reuseEvents: 1, revokedByReuse: 1 });
    expect(p.ledger().grants[0].issued).toEqual([g.refreshToken, rt2, rt3, a3.body.refresh_token]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('faults', () => {
  it('status 503 / 500: JSON error body, no rotation', async () => {
    const p = await start();
    const g = p.issueGrant();
    p.setFaults({ status: 503 });
    const a = await refresh(p, g.refreshToken);
    expect(a.status).toBe(503);
    expect(a.body.error).toBe('temporarily_unavailable');
    p.setFaults({ status: 500 });
    expect((await refresh(p, g.refreshToken)).body.error).toBe('server_error');
    p.clearFaults();
    expect(p.currentRefreshToken(g.grantId)).toBe(g.refreshToken);
    expect((await refresh(p, g.refreshToken)).status).toBe(200);
    expect(p.stats()).toMatchObject({ refreshRequests: 3, faulted: 2, successes: 1 });
  });

  it('429 with Retry-After', async () => {
    const p = await start();
    const g = p.issueGrant();
    p.setFaults({ status: 429, retryAfterSeconds: 7 });
    const a = await refresh(p, g.refreshToken);
    expect(a.status).toBe(429);
    expect(a.headers.get('retry-after')).toBe('7');
    expect(p.currentRefreshToken(g.grantId)).toBe(g.refreshToken);
  });

  it('delayMs: a client that gives up before processing causes no rotation', async () => {
    const p = await start();
    const g = p.issueGrant();
    p.setFaults({ delayMs: 300 });
    const { url, init } = refreshRequest(p, g.refreshToken);
    await expect(fetch(url, { ...init, signal: AbortSignal.timeout(50) })).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 400));
    expect(p.currentRefreshToken(g.grantId)).toBe(g.refreshToken);
    expect(p.stats()).toMatchObject({ successes: 0, abortedBeforeProcessing: 1 });
    // A patient client gets its answer after the delay.
    const t0 = Date.now();
    const a = await refresh(p, g.refreshToken);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(a.status).toBe(200);
  });

  it('delayAfterRotateMs: the answer is lost but the provider rotated', async () => {
    const p = await start();
    const g = p.issueGrant();
    p.setFaults({ delayAfterRotateMs: 300, count: 1 });
    const { url, init } = refreshRequest(p, g.refreshToken);
    await expect(fetch(url, { ...init, signal: AbortSignal.timeout(100) })).rejects.toThrow();
    const rotated = p.currentRefreshToken(g.grantId);
    expect(rotated).not.toBe(g.refreshToken);
    expect(p.ledger().grants[0].issued).toHaveLength(2);
    // The client, not knowing, retries with the old token: a reuse -> family revoked.
    const retry = await refresh(p, g.refreshToken);
    expect(retry.body.error).toBe('invalid_grant');
    expect(p.stats()).toMatchObject({ successes: 1, reuseEvents: 1, revokedByReuse: 1 });
  });

  it('malformed: 200 with truncated JSON, no rotation', async () => {
    const p = await start();
    const g = p.issueGrant();
    p.setFaults({ malformed: true });
    const a = await refresh(p, g.refreshToken);
    expect(a.status).toBe(200);
    expect(a.contentType).toMatch(/json/);
    expect(() => JSON.parse(a.text)).toThrow();
    expect(p.currentRefreshToken(g.grantId)).toBe(g.refreshToken);
  });

  it('html: 502 (or chosen status) text/html, no rotation', async () => {
    const p = await start();
    const g = p.issueGrant();
    p.setFaults({ html: true });
    const a = await refresh(p, g.refreshToken);
    expect(a.status).toBe(502);
    expect(a.contentType).toMatch(/text\/html/);
    expect(a.text).toMatch(/<html>/);
    p.setFaults({ html: true, htmlStatus: 200 });
    const b = await refresh(p, g.refreshToken);
    expect(b.status).toBe(200);
    expect(b.contentType).toMatch(/text\/html/);
    expect(p.currentRefreshToken(g.grantId)).toBe(g.refreshToken);
  });

  it('omitRefreshToken: access token issued, refresh token not rotated', async () => {
    const p = await start();
    const g = p.issueGrant();
    p.setFaults({ omitRefreshToken: true, count: 1 });
    const a = await refresh(p, g.refreshToken);
    expect(a.status).toBe(200);
    expect(a.body.access_token).toMatch(/^at_/);
    expect(a.body).not.toHaveProperty('refresh_token');
    expect(p.currentRefreshToken(g.grantId)).toBe(g.refreshToken);
    // Carrying the old refresh token forward works.
    expect((await refresh(p, g.refreshToken)).status).toBe(200);
    expect(p.stats().reuseEvents).toBe(0);
  });

  it('invalidClient: persona credential error', async () => {
    const p = await start({ persona: 'slack' });
    const g = p.issueGrant();
    p.setFaults({ invalidClient: true, count: 1 });
    expect((await refresh(p, g.refreshToken)).body).toEqual({ ok: false, error: 'bad_client_secret' });
    expect((await refresh(p, g.refreshToken)).body.ok).toBe(true);
  });

  it('count: faults apply to the next N requests then clear', async () => {
    const p = await start();
    const g = p.issueGrant();
    p.setFaults({ status: 503, count: 2 });
    expect((await refresh(p, g.refreshToken)).status).toBe(503);
    expect(p.currentFaults()).toMatchObject({ status: 503, count: 1 });
    expect((await refresh(p, g.refreshToken)).status).toBe(503);
    expect(p.currentFaults()).toBeUndefined();
    expect((await refresh(p, g.refreshToken)).status).toBe(200);
  });

  it('concurrent refreshes with the same token: one wins, the other is a reuse', async () => {
    const p = await start({ reuseDetection: false });
    const g = p.issueGrant();
    const [a, b] = await Promise.all([refresh(p, g.refreshToken), refresh(p, g.refreshToken)]);
    expect([a.status, b.status].sort()).toEqual([200, 400]);
    expect(p.stats()).toMatchObject({ successes: 1, reuseEvents: 1 });
  });
});

// ---------------------------------------------------------------------------------------------

describe('admin API', () => {
  it('is off by default and on with admin: true', async () => {
    const off = await start();
    expect((await fetch(`${off.url}/_admin/stats`)).status).toBe(404);

    const p = await start({ admin: true });
    const post = (path: string, body?: unknown) =>
      fetch(`${p.url}/_admin${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const g = (await (await post('/grants', { userId: 'carol' })).json()) as { grantId: string; refreshToken: string };
    expect(p.ledger().grants[0]).toMatchObject({ grantId: g.grantId, userId: 'carol' });

    expect((await post('/faults', { status: 503, count: 1 })).status).toBe(200);
    expect((await refresh(p, g.refreshToken)).status).toBe(503);
    await post('/faults', { status: 500 });
    expect((await fetch(`${p.url}/_admin/faults`, { method: 'DELETE' })).status).toBe(200);
    expect((await refresh(p, g.refreshToken)).status).toBe(200);

    expect((await post(`/grants/${g.grantId}/revoke`, { reason: 'x' })).status).toBe(200);
    expect((await post('/grants/nope/revoke')).status).toBe(404);
    const ledger = (await (await fetch(`${p.url}/_admin/ledger`)).json()) as {
      grants: Array<{ status: string; revokedBy: string }>;
    };
    expect(ledger.grants[0]).toMatchObject({ status: 'revoked', revokedBy: 'user' });
    const stats = (await (await fetch(`${p.url}/_admin/stats`)).json()) as { refreshRequests: number };
    expect(stats.refreshRequests).toBe(2);
  });

  it('CLI server prints one ready line, serves the admin API and exits on SIGTERM', async () => {
    const script = fileURLToPath(new URL('./fakes/fake-provider-server.ts', import.meta.url));
    const tsxCli = fileURLToPath(new URL('../node_modules/tsx/dist/cli.mjs', import.meta.url));
    const child = spawn(
      process.execPath,
      [
        tsxCli,
        script,
        '--port',
        '0',
        '--persona',
        'hubspot',
        '--access-ttl',
        '5',
        '--client-id',
        'X',
        '--client-secret',
        'Y',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    try {
      const rl = createInterface({ input: child.stdout });
      const line = await new Promise<string>((resolve, reject) => {
        rl.once('line', resolve);
        child.once('exit', (code) => reject(new Error(`exited early: ${code}`)));
      });
      const ready = JSON.parse(line) as { ready: boolean; url: string; tokenUrl: string };
      expect(ready.ready).toBe(true);
      expect(ready.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(ready.tokenUrl).toBe(`${ready.url}/oauth/v1/token`);

      const g = (await (await fetch(`${ready.url}/_admin/grants`, { method: 'POST', body: '{}' })).json()) as {
        refreshToken: string;
        expiresIn: number;
      };
      expect(g.expiresIn).toBe(5);
      const body = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: g.refreshToken,
        client_id: 'X',
        client_secret: 'Y',
      }).toString();
      const a = await toAnswer(
        await fetch(ready.tokenUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body,
        }),
      );
      expect(a.status).toBe(200);
      expect(a.body).toMatchObject({ expires_in: 5, refresh_token: g.refreshToken });
      const stats = (await (await fetch(`${ready.url}/_admin/stats`)).json()) as { successes: number };
      expect(stats.successes).toBe(1);
    } finally {
      const exited = new Promise<number | null>((resolve) => {
        if (child.exitCode !== null) resolve(child.exitCode);
        else child.once('exit', (code) => resolve(code));
      });
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  }, 20_000);
});
