// Xero / Atlassian: rotating refresh tokens with a grace window for the old one. A retry of the old
// token inside the window (after a crash, or after an answer lost in flight) succeeds; without a
// window (Gong) the same crash loses the grant, and we say so.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeProvider } from '../fakes/fake-provider.ts';
import { startDaemon, testDb, waitFor, writeProvidersFile, type TestDaemon } from '../helpers/harness.ts';

const creds = { clientId: 'client-id', clientSecret: 'client-secret' };
// Xero's 30-minute window shrunk to 4 s (fake and definition alike).
const xero = new FakeProvider({ persona: 'xero', graceSeconds: 4 });
const atlassian = new FakeProvider({ persona: 'atlassian' });
const gong = new FakeProvider({ persona: 'gong' });
let d: TestDaemon;
const db = testDb();
const crashOnce = new Set<string>();

beforeAll(async () => {
  await Promise.all([xero.start(), atlassian.start(), gong.start()]);
  const providersFile = writeProvidersFile({
    'g-xero': { extends: 'xero', tokenUrl: xero.tokenUrl, ...creds, oldTokenGrace: 4 },
    'g-atlassian': { extends: 'atlassian', tokenUrl: atlassian.tokenUrl, ...creds, refreshLeadSec: 1 },
    'g-gong': { extends: 'gong', tokenUrl: gong.tokenUrl, ...creds, refreshLeadSec: 1 },
  });
  d = await startDaemon(
    // Ordinary retries are slow here (10-20 s): longer than the 4 s grace window.
    {
      PROVIDERS_FILE: providersFile,
      RETRY_BASE_MS: '20000',
      RETRY_MAX_MS: '60000',
      REQUEST_TIMEOUT_MS: '2000',
      LOCK_TTL_MS: '8000',
    },
    {
      // "Crash" between the provider's answer and the commit, once per chosen connection.
      faultPoint: (point, ctx) => {
        if (point === 'after_answer' && ctx && crashOnce.delete(ctx.connectionId))
          throw new Error('simulated crash after the provider answered');
      },
    },
  );
});

afterAll(async () => {
  await d?.stop();
  await Promise.all([xero.close(), atlassian.close(), gong.close()]);
  await db.$disconnect();
});

async function register(provider: string, f: FakeProvider, externalId: string, expiresIn: number) {
  const g = f.issueGrant();
  const res = await d.api('POST', '/v1/connections', {
    provider,
    externalId,
    tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: expiresIn },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.id as string, grantId: g.grantId };
}

const row = async (id: string) => (await db.connection.findUnique({ where: { id } }))!;

describe('rotation with a grace window', () => {
  it('atlassian: a crash after the provider rotated; the retry with the old token inside the 10-min window succeeds', async () => {
    const g = atlassian.issueGrant();
    const res = await d.api('POST', '/v1/connections', {
      provider: 'g-atlassian',
      externalId: 'atl-crash',
      tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: 3600 },
    });
    const id = res.body.id as string;
    crashOnce.add(id);
    // Make it due now: the scheduled job runs, crashes after the answer, and is retried.
    await db.connection.update({ where: { id }, data: { nextRefreshAt: new Date() } });
    await d.daemon.scheduler.ensure(id, 'g-atlassian', new Date());
    const r = await waitFor(
      async () => {
        const x = await row(id);
        return x.version >= 2 || x.status !== 'active' ? x : null;
      },
      30_000,
      'the retry after the crash',
    );
    expect(r.status).toBe('active');
    expect(d.daemon.keyring.decrypt(r.refreshTokenEnc)).toBe(atlassian.currentRefreshToken(g.grantId));
    const attempts = await db.refreshAttempt.findMany({ where: { connectionId: id }, orderBy: { startedAt: 'asc' } });
    expect(attempts[0].finishedAt).toBeNull(); // the crashed one
    expect(attempts.some((a) => a.outcome === 'rotated')).toBe(true);
    // The provider rotated twice: once for the lost answer, once for the retry with the old token.
    expect(atlassian.ledger().grants.find((x) => x.grantId === g.grantId)!.issued).toHaveLength(3);
    expect(atlassian.stats().reuseEvents).toBe(0);
  });

  it('control: the same crash on a provider without a window (Gong) loses the grant and says why', async () => {
    const { id } = await register('g-gong', gong, 'gong-crash', 3600);
    crashOnce.add(id);
    await db.connection.update({ where: { id }, data: { nextRefreshAt: new Date() } });
    await d.daemon.scheduler.ensure(id, 'g-gong', new Date());
    const r = await waitFor(
      async () => {
        const x = await row(id);
        return x.status === 'needs_reauth' ? x : null;
      },
      30_000,
      'needs_reauth after the crash',
    );
    expect(r.reauthReason).toBe('rotation_lost_in_crash');
  });

  it('xero: an answer lost in flight (timeout) is retried inside the grace window, not after the ordinary backoff', async () => {
    const { id, grantId } = await register('g-xero', xero, 'xero-lost', 3600);
    // The provider rotates, then the answer never reaches us (request timeout is 2 s).
    xero.setFaults({ delayAfterRotateMs: 3000, count: 1 });
    const first = await d.api('POST', `/v1/connections/${id}/refresh`);
    expect(first.body).toMatchObject({ outcome: 'transient', code: 'timeout' });
    // Retried within the window (the ordinary retry would come after 10-20 s, past the window).
    expect(new Date(first.body.retryAt).getTime() - Date.now()).toBeLessThan(4000);
    const r = await waitFor(
      async () => {
        const x = await row(id);
        return x.version >= 2 || x.status !== 'active' ? x : null;
      },
      30_000,
      'retry inside the grace window',
    );
    expect(r.status).toBe('active');
    expect(d.daemon.keyring.decrypt(r.refreshTokenEnc)).toBe(xero.currentRefreshToken(grantId));
    expect(xero.stats().reuseEvents).toBe(0);
  });

  it('atlassian: a dead token answers 403 invalid_grant, which is terminal', async () => {
    const { id, grantId } = await register('g-atlassian', atlassian, 'atl-dead', 3600);
    atlassian.revokeGrant(grantId);
    const res = await d.api('POST', `/v1/connections/${id}/refresh`);
    expect(res.body).toMatchObject({ outcome: 'needs_reauth', code: 'invalid_grant' });
    const a = await db.refreshAttempt.findFirst({ where: { connectionId: id }, orderBy: { startedAt: 'desc' } });
    expect(a?.httpStatus).toBe(403);
  });
});
