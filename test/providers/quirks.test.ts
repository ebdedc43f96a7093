// Built-in definitions against fake providers that behave like the real ones (over HTTP on
// 127.0.0.1): PROVIDERS_FILE adds q-<builtin> providers that extend the built-in and only change
// the token URL and client credentials, so every quirk below is handled by the built-in definition
// itself. (Own keys, so daemons of other test files sharing the database never pick these up.) Each test fails if the quirk
// is ignored (wrong parameter place or auth -> the fake refuses; wrong error form -> no needs_reauth;
// a dropped rotation -> the fake detects reuse).
import { CronExpressionParser } from 'cron-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeProvider, type IssuedGrant } from '../fakes/fake-provider.ts';
import { startDaemon, testDb, waitFor, writeProvidersFile, type TestDaemon } from '../helpers/harness.ts';
import { providerGateExtension } from '../../worker/gate/breaker.ts';

const creds = { clientId: 'client-id', clientSecret: 'client-secret' };
const fakes = {
  gong: new FakeProvider({ persona: 'gong', accessTtlSeconds: 3 }),
  sfOff: new FakeProvider({ persona: 'salesforce', rotation: 'optional-off' }),
  sfOn: new FakeProvider({ persona: 'salesforce', rotation: 'optional-on' }),
  slack: new FakeProvider({ persona: 'slack', accessTtlSeconds: 3 }),
  // Error forms on their own fake, so that injected faults meet only the request they are meant for.
  slackErr: new FakeProvider({ persona: 'slack' }),
  microsoft: new FakeProvider({ persona: 'microsoft' }),
  hubspot: new FakeProvider({ persona: 'hubspot' }),
  github: new FakeProvider({ persona: 'github' }),
  githubForm: new FakeProvider({ persona: 'github' }),
  google: new FakeProvider({ persona: 'google', accessTtlSeconds: 3600 }),
  plain: new FakeProvider({ persona: 'standard', accessTtlSeconds: 3600 }),
  zoom: new FakeProvider({ persona: 'zoom' }),
  notion: new FakeProvider({ persona: 'notion' }),
};
let d: TestDaemon;
const db = testDb();

beforeAll(async () => {
  await Promise.all(Object.values(fakes).map((f) => f.start()));
  const providersFile = writeProvidersFile({
    'q-gong': { extends: 'gong', tokenUrl: fakes.gong.tokenUrl, ...creds, refreshLeadSec: 1 },
    'q-salesforce': { extends: 'salesforce', tokenUrl: fakes.sfOff.tokenUrl, ...creds },
    'q-salesforce-sandbox': { extends: 'salesforce-sandbox', tokenUrl: fakes.sfOn.tokenUrl, ...creds },
    'q-slack': { extends: 'slack', tokenUrl: fakes.slack.tokenUrl, ...creds, refreshLeadSec: 1 },
    'q-slack-err': { extends: 'slack', tokenUrl: fakes.slackErr.tokenUrl, ...creds },
    // A wrong client secret: Salesforce answers invalid_client.
    'q-salesforce-cred': {
      extends: 'salesforce',
      tokenUrl: fakes.sfOff.tokenUrl,
      clientId: 'client-id',
      clientSecret: 'not-the-secret',
    },
    'q-microsoft': {
      extends: 'microsoft',
      tokenUrl: `${fakes.microsoft.url}/{tenant|common}/oauth2/v2.0/token`,
      ...creds,
    },
    'q-hubspot': { extends: 'hubspot', tokenUrl: fakes.hubspot.tokenUrl, ...creds },
    'q-github-app': { extends: 'github-app', tokenUrl: fakes.github.tokenUrl, ...creds },
    // Same definition without asking for JSON: GitHub then answers form-encoded.
    'q-github-form': {
      extends: 'github-app',
      tokenUrl: fakes.githubForm.tokenUrl,
      ...creds,
      headers: { Accept: '*/*' },
    },
    // Idle keep-alive: a 4 s idle lifetime with access tokens living an hour.
    'q-google': { extends: 'google', tokenUrl: fakes.google.tokenUrl, ...creds, idleLifetimeSec: 4 },
    'q-plain': { tokenUrl: fakes.plain.tokenUrl, ...creds, rotation: 'always' },
    'q-zoom': { extends: 'zoom', tokenUrl: fakes.zoom.tokenUrl, ...creds },
    'q-notion': { extends: 'notion', tokenUrl: fakes.notion.tokenUrl, ...creds },
  });
  // Generous request timeout: a loaded CI machine must not turn answers into timeouts (lost rotations).
  d = await startDaemon(
    { PROVIDERS_FILE: providersFile, REQUEST_TIMEOUT_MS: '8000', LOCK_TTL_MS: '25000' },
    { extensions: [providerGateExtension({ probeIntervalMs: 1000 })] },
  );
});

afterAll(async () => {
  await d?.stop();
  await Promise.all(Object.values(fakes).map((f) => f.close()));
  await db.$disconnect();
});

async function register(
  provider: string,
  externalId: string,
  tokens: Record<string, unknown>,
  metadata?: Record<string, unknown>,
) {
  const res = await d.api('POST', '/v1/connections', {
    provider,
    externalId,
    tokens,
    ...(metadata ? { metadata } : {}),
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; linked?: { id: string; externalId: string }[] };
}

function tokensOf(g: IssuedGrant, drop: string[] = []): Record<string, unknown> {
  const t: Record<string, unknown> = { ...g.raw, access_token: g.accessToken, refresh_token: g.refreshToken };
  for (const k of drop) delete t[k];
  return t;
}

const row = async (id: string) => (await db.connection.findUnique({ where: { id } }))!;
const storedRefresh = async (id: string) => d.daemon.keyring.decrypt((await row(id)).refreshTokenEnc);
const force = (id: string) => d.api('POST', `/v1/connections/${id}/refresh`);

describe('Gong', () => {
  it('Basic auth + query-string parameters, single-use rotation, api_base_url_for_customer persisted', async () => {
    const g = fakes.gong.issueGrant();
    // Registered WITHOUT the metadata field: it must come from a refresh answer.
    const { id } = await register('q-gong', 'gong-1', tokensOf(g, ['api_base_url_for_customer']));
    expect((await row(id)).metadata).toEqual({});
    await waitFor(async () => (await row(id)).version >= 4, 30_000, 'three scheduled rotations');
    const r = await row(id);
    expect(r.status).toBe('active');
    expect(await storedRefresh(id)).toBe(fakes.gong.currentRefreshToken(g.grantId));
    expect(fakes.gong.stats().reuseEvents).toBe(0);
    expect((r.metadata as Record<string, unknown>).api_base_url_for_customer).toBe(g.raw.api_base_url_for_customer);
    expect(fakes.gong.ledger().grants.find((x) => x.grantId === g.grantId)!.issued.length).toBeGreaterThanOrEqual(4);
  });

  it('a dead Gong token is terminal', async () => {
    const g = fakes.gong.issueGrant();
    const { id } = await register('q-gong', 'gong-dead', { ...tokensOf(g), expires_in: 3600 });
    fakes.gong.revokeGrant(g.grantId);
    const res = await force(id);
    expect(res.body).toMatchObject({ outcome: 'needs_reauth', code: 'invalid_grant' });
  });
});

describe('Salesforce', () => {
  it('no expires_in: default lifetime; instance_url re-stored on every refresh; next refresh follows the daily cron', async () => {
    const g = fakes.sfOff.issueGrant();
    const { id } = await register('q-salesforce', 'sf-1', tokensOf(g), {
      instance_url: 'https://stale.my.salesforce.com',
    });
    // A stale value (explicit metadata wins at registration) must be replaced by the answer's.
    expect((await row(id)).metadata).toMatchObject({ instance_url: 'https://stale.my.salesforce.com' });
    const before = Date.now();
    const res = await force(id);
    expect(res.body.outcome).toBe('rotated');
    const r = await row(id);
    const md = r.metadata as Record<string, string>;
    expect(md.instance_url).toBe(g.raw.instance_url);
    expect(md.id).toBe(g.raw.id);
    expect(Number(md.issued_at)).toBeGreaterThanOrEqual(before);
    // issued_at is in ms, not an expiry: the lifetime is the configured 2 h.
    expect(r.expiresAt!.getTime()).toBeGreaterThanOrEqual(before + 7200_000);
    expect(r.expiresAt!.getTime()).toBeLessThanOrEqual(Date.now() + 7200_000);
    const tick = CronExpressionParser.parse('0 3 * * *', { currentDate: new Date(before), tz: 'UTC' })
      .next()
      .getTime();
    expect(r.nextRefreshAt!.getTime()).toBeGreaterThanOrEqual(tick);
    expect(r.nextRefreshAt!.getTime()).toBeLessThan(tick + 3600_000);
    // Rotation off for this app: no refresh_token in the answer, ours is kept (and still works).
    expect(await storedRefresh(id)).toBe(g.refreshToken);
    expect((await force(id)).body.outcome).toBe('rotated');
  });

  it('rotation on for the app: the new refresh token in the answer wins', async () => {
    const g = fakes.sfOn.issueGrant();
    const { id } = await register('q-salesforce-sandbox', 'sf-rot', tokensOf(g));
    for (let i = 0; i < 3; i++) expect((await force(id)).body.outcome).toBe('rotated');
    expect(await storedRefresh(id)).toBe(fakes.sfOn.currentRefreshToken(g.grantId));
    expect(await storedRefresh(id)).not.toBe(g.refreshToken);
    expect(fakes.sfOn.stats().reuseEvents).toBe(0);
  });

  it('invalid_client (a wrong client secret) is a credential error: the connection stays active', async () => {
    const g = fakes.sfOff.issueGrant();
    const { id } = await register('q-salesforce-cred', 'sf-cred', tokensOf(g));
    const res = await force(id);
    expect(res.body).toMatchObject({ outcome: 'misconfigured', code: 'invalid_client' });
    const r = await row(id);
    expect(r.status).toBe('active');
    expect(r.consecutiveFailures).toBe(0);
    expect(fakes.sfOff.currentRefreshToken(g.grantId)).toBe(g.refreshToken);
  });

  it.each([
    ['expired access/refresh token', 'expired'],
    ['authentication failure', 'authentication_failure'],
  ])('"%s" is terminal (reason %s)', async (description, reason) => {
    const g = fakes.sfOff.issueGrant();
    const { id } = await register('q-salesforce', `sf-dead-${reason}`, tokensOf(g));
    fakes.sfOff.revokeGrant(g.grantId, description);
    const res = await force(id);
    expect(res.body).toMatchObject({ outcome: 'needs_reauth', reauthReason: reason, code: 'invalid_grant' });
  });
});

describe('Slack', () => {
  it('bot and user (authed_user) refresh tokens are distinct connections and both kept fresh', async () => {
    const g = fakes.slack.issueGrant();
    const created = await register('q-slack', 'T123', tokensOf(g));
    expect(created.linked).toHaveLength(1);
    expect(created.linked![0].externalId).toBe('T123#user');
    const userId = created.linked![0].id;
    expect((await row(userId)).parentId).toBe(created.id);
    await waitFor(
      async () => (await row(created.id)).version >= 3 && (await row(userId)).version >= 3,
      30_000,
      'both tokens rotated twice',
    );
    expect(await storedRefresh(created.id)).toBe(fakes.slack.currentRefreshToken(g.grantId));
    expect(await storedRefresh(userId)).toBe(fakes.slack.currentRefreshToken(g.userGrantId!));
    expect(await storedRefresh(userId)).not.toBe(await storedRefresh(created.id));
    expect(fakes.slack.stats().reuseEvents).toBe(0);
    // Killing the user token does not touch the bot token.
    fakes.slack.revokeGrant(g.userGrantId!, 'token_revoked');
    const u = await waitFor(
      async () => ((await row(userId)).status === 'needs_reauth' ? row(userId) : null),
      20_000,
      'user token needs_reauth',
    );
    expect(u.lastErrorCode).toBe('token_revoked');
    expect((await row(created.id)).status).toBe('active');
  });

  it.each(['invalid_refresh_token', 'invalid_grant'])(
    'HTTP 200 {"ok":false,"error":"%s"} is terminal',
    async (error) => {
      const g = fakes.slackErr.issueGrant();
      const { id } = await register('q-slack-err', `T-dead-${error}`, {
        ...tokensOf(g),
        expires_in: 3600,
        authed_user: undefined,
      });
      fakes.slackErr.revokeGrant(g.grantId, error);
      const res = await force(id);
      expect(res.body).toMatchObject({ outcome: 'needs_reauth', code: error });
    },
  );

  it.each(['internal_error', 'fatal_error', 'ratelimited'])(
    'HTTP 200 {"ok":false,"error":"%s"} is transient and the next refresh works',
    async (error) => {
      const g = fakes.slackErr.issueGrant();
      const { id } = await register('q-slack-err', `T-transient-${error}`, {
        ...tokensOf(g),
        expires_in: 3600,
        authed_user: undefined,
      });
      fakes.slackErr.setFaults({ slackError: error, count: 1 });
      const res = await force(id);
      expect(res.body).toMatchObject({ outcome: 'transient', code: error });
      expect((await row(id)).status).toBe('active');
      // The retry (ours, or the scheduled one planned by the transient answer) succeeds.
      expect(['rotated', 'lost_race']).toContain((await force(id)).body.outcome);
      const r = await row(id);
      expect(r.status).toBe('active');
      expect(r.version).toBeGreaterThanOrEqual(2);
      expect(await storedRefresh(id)).toBe(fakes.slackErr.currentRefreshToken(g.grantId));
    },
  );
});

describe('Microsoft', () => {
  it('tenant from metadata; the old refresh token is not revoked but the new one is stored', async () => {
    const g = fakes.microsoft.issueGrant();
    const { id } = await register('q-microsoft', 'ms-1', tokensOf(g), { tenant: 'contoso.onmicrosoft.com' });
    expect((await force(id)).body.outcome).toBe('rotated');
    const current = fakes.microsoft.currentRefreshToken(g.grantId);
    expect(current).not.toBe(g.refreshToken);
    expect(await storedRefresh(id)).toBe(current);
  });

  it.each([
    ['700082', 'expired'],
    ['70008', 'expired'],
    ['700084', 'revoked'],
    ['50173', 'revoked'],
    ['50076', 'interaction_required'],
    ['50079', 'interaction_required'],
  ])('AADSTS%s decides: needs_reauth (%s)', async (code, reason) => {
    const g = fakes.microsoft.issueGrant();
    const { id } = await register('q-microsoft', `ms-${code}`, tokensOf(g));
    fakes.microsoft.revokeGrant(g.grantId, code);
    const res = await force(id);
    expect(res.body).toMatchObject({ outcome: 'needs_reauth', reauthReason: reason });
    expect((await row(id)).reauthReason).toBe(reason);
  });
});

describe('HubSpot', () => {
  it('refreshes (same refresh token echoed) and {"status":"BAD_REFRESH_TOKEN"} is terminal', async () => {
    const g = fakes.hubspot.issueGrant();
    const { id } = await register('q-hubspot', 'hs-1', tokensOf(g));
    expect((await force(id)).body.outcome).toBe('rotated');
    expect(await storedRefresh(id)).toBe(g.refreshToken);
    fakes.hubspot.revokeGrant(g.grantId);
    const res = await force(id);
    expect(res.body).toMatchObject({ outcome: 'needs_reauth', code: 'BAD_REFRESH_TOKEN' });
  });
});

describe('GitHub App', () => {
  it.each([
    ['q-github-app', 'JSON (Accept: application/json)'],
    ['q-github-form', 'form-encoded (no Accept: application/json)'],
  ])('%s: rotation works with %s answers, and HTTP 200 error=bad_refresh_token is terminal', async (provider) => {
    const fake = provider === 'q-github-app' ? fakes.github : fakes.githubForm;
    const g = fake.issueGrant();
    const { id } = await register(provider, `gh-${provider}`, tokensOf(g));
    expect((await force(id)).body.outcome).toBe('rotated');
    expect((await force(id)).body.outcome).toBe('rotated');
    expect(await storedRefresh(id)).toBe(fake.currentRefreshToken(g.grantId));
    const r = await row(id);
    // refresh_token_expires_in (6 months) is kept as the refresh token's own expiry.
    expect(r.refreshExpiresAt!.getTime()).toBeGreaterThan(Date.now() + 150 * 86400_000);
    fake.revokeGrant(g.grantId);
    const res = await force(id);
    expect(res.body).toMatchObject({ outcome: 'needs_reauth', code: 'bad_refresh_token' });
  });
});

describe('Zoom and Notion', () => {
  it('zoom: Basic auth, rotation, and reason "Invalid Token!" is terminal', async () => {
    const g = fakes.zoom.issueGrant();
    const { id } = await register('q-zoom', 'zoom-1', tokensOf(g));
    expect((await force(id)).body.outcome).toBe('rotated');
    expect(await storedRefresh(id)).toBe(fakes.zoom.currentRefreshToken(g.grantId));
    fakes.zoom.revokeGrant(g.grantId);
    expect((await force(id)).body).toMatchObject({ outcome: 'needs_reauth' });
  });

  it('notion: Basic auth with a JSON body; no expiry in the answer -> 1 h assumed', async () => {
    const g = fakes.notion.issueGrant();
    const { id } = await register('q-notion', 'notion-1', tokensOf(g));
    const before = Date.now();
    expect((await force(id)).body.outcome).toBe('rotated');
    expect(await storedRefresh(id)).toBe(fakes.notion.currentRefreshToken(g.grantId));
    const r = await row(id);
    expect(r.expiresAt!.getTime()).toBeGreaterThanOrEqual(before + 3600_000);
    expect((r.metadata as Record<string, unknown>).workspace_id).toBe(g.raw.workspace_id);
  });
});

describe('idle keep-alive', () => {
  it('a provider with a refresh-token idle lifetime is refreshed inside it even with hour-long access tokens', async () => {
    const g = fakes.google.issueGrant();
    const p = fakes.plain.issueGrant();
    const t0 = Date.now();
    const { id } = await register('q-google', 'idle-1', tokensOf(g));
    const { id: plainId } = await register('q-plain', 'no-idle-1', tokensOf(p));
    // Planned inside the idle lifetime (4 s), not ~45 min ahead like the provider without one.
    expect((await row(id)).nextRefreshAt!.getTime()).toBeLessThanOrEqual(Date.now() + 4000);
    expect((await row(plainId)).nextRefreshAt!.getTime()).toBeGreaterThan(t0 + 30 * 60_000);
    await waitFor(async () => (await row(id)).version >= 3, 30_000, 'two keep-alive refreshes');
    const r = await row(id);
    expect(r.status).toBe('active');
    expect(r.expiresAt!.getTime()).toBeGreaterThan(Date.now() + 3000_000);
    expect(fakes.google.stats().perGrant[g.grantId].refreshes).toBeGreaterThanOrEqual(2);
    // The provider without an idle lifetime was left alone.
    expect((await row(plainId)).version).toBe(1);
    expect(fakes.plain.stats().perGrant[p.grantId].refreshes).toBe(0);
  });
});
