// The ops commands against real data: a daemon (real PostgreSQL and Redis) refreshing through fake
// providers over HTTP produces the histories; the commands run through the same CLI entry point as
// `npm run ops`, with a daemon that is constructed but not started (as in scripts/ops.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeProvider } from '../fakes/fake-provider.ts';
import { sleep, startDaemon, testDb, waitFor, writeProvidersFile, type TestDaemon } from '../helpers/harness.ts';
import { runCli } from '../../worker/ops/cli.ts';
import { createOpsContext, createOpsDaemon } from '../../worker/ops/context.ts';
import { Daemon } from '../../worker/daemon.ts';
import pino from 'pino';

const acme = new FakeProvider({
  persona: 'standard',
  rotation: 'always',
  reuseDetection: true,
  accessTtlSeconds: 3600,
});
const storm = new FakeProvider({
  persona: 'standard',
  rotation: 'always',
  reuseDetection: true,
  accessTtlSeconds: 3600,
});
const sf = new FakeProvider({ persona: 'salesforce', rotation: 'optional-off' });
// The daemon is configured with a client secret this provider does not accept.
const bad = new FakeProvider({ persona: 'standard', clientSecret: 'the-real-secret' });
const db = testDb();
let d: TestDaemon;
let opsDaemon: Daemon;
const crashOnce = new Set<string>();

const ORG_CAP = '00DCAPCAPCAPCAPCAP';
const ORG_POLICY = '00DPOLPOLPOLPOLPOL';
const CAP_USER = '005CAPUSERCAPUSERC';
const sfId = (org: string, user: string) => `https://login.salesforce.com/id/${org}/${user}`;

async function ops(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l), tty: false };
  const code = await runCli(args, io, (json) => createOpsContext(d.config, io, json, opsDaemon));
  const text = out.join('\n');
  return { code, out: text, err: err.join('\n'), json: () => JSON.parse(text) };
}

async function register(
  provider: string,
  fake: FakeProvider,
  externalId: string,
  opts: { expiresIn?: number; extra?: Record<string, unknown> } = {},
) {
  const g = fake.issueGrant({ extra: opts.extra });
  const res = await d.api('POST', '/v1/connections', {
    provider,
    externalId,
    tokens: {
      ...g.raw,
      access_token: g.accessToken,
      refresh_token: g.refreshToken,
      expires_in: opts.expiresIn ?? 3600,
      token_type: 'Bearer',
    },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.id as string, grantId: g.grantId, accessToken: g.accessToken, refreshToken: g.refreshToken };
}

const forceRefresh = (id: string) => d.api('POST', `/v1/connections/${id}/refresh`);
const row = async (id: string) => (await db.connection.findUnique({ where: { id } }))!;

beforeAll(async () => {
  await Promise.all([acme.start(), storm.start(), sf.start(), bad.start()]);
  const providersFile = writeProvidersFile({
    'acme-ops': {
      displayName: 'Acme',
      tokenUrl: acme.tokenUrl,
      clientAuth: 'basic',
      clientId: 'client-id',
      clientSecret: 'client-secret',
      rotation: 'always',
      refreshLeadSec: 1,
    },
    'storm-ops': {
      displayName: 'Storm',
      tokenUrl: storm.tokenUrl,
      clientAuth: 'basic',
      clientId: 'client-id',
      clientSecret: 'client-secret',
      rotation: 'always',
      refreshLeadSec: 1,
    },
    'salesforce-ops': {
      extends: 'salesforce',
      displayName: 'Salesforce',
      tokenUrl: sf.tokenUrl,
      clientId: 'client-id',
      clientSecret: 'client-secret',
    },
    'badcreds-ops': {
      displayName: 'Badcreds',
      tokenUrl: bad.tokenUrl,
      clientAuth: 'basic',
      clientId: 'client-id',
      clientSecret: 'client-secret',
      rotation: 'always',
    },
  });
  // No scheduler role: no feeder, so what `reconcile` adds is its own doing. Retries after a
  // transient failure wait at least 5 minutes, so only a replay brings a connection back in a test.
  d = await startDaemon(
    {
      PROVIDERS_FILE: providersFile,
      ROLES: 'api,worker',
      RETRY_BASE_MS: '600000',
      RETRY_MAX_MS: '1200000',
      REQUEST_TIMEOUT_MS: '8000',
      LOCK_TTL_MS: '30000',
    },
    {
      faultPoint: (point: string, c?: { connectionId: string }) => {
        if (point === 'after_answer' && c && crashOnce.delete(c.connectionId))
          throw new Error('simulated crash after the provider answered');
      },
    },
  );
  opsDaemon = createOpsDaemon(d.config, pino({ level: 'silent' }));
});

afterAll(async () => {
  await opsDaemon?.close();
  await d?.stop();
  await Promise.all([acme.close(), storm.close(), sf.close(), bad.close()]);
  await db.$disconnect();
});

describe('cli', () => {
  it('prints usage, per-command help, and usage errors with exit code 2', async () => {
    const top = await ops('--help');
    expect(top.code).toBe(0);
    for (const c of ['failed', 'connections', 'why', 'report', 'refresh', 'reconcile', 'providers'])
      expect(top.out).toContain(`  ${c}`);
    const help = await ops('failed', '--help');
    expect(help.code).toBe(0);
    expect(help.out).toContain('ops failed replay');
    const bad1 = await ops('failed', 'list', '--since', 'yesterday');
    expect(bad1.code).toBe(2);
    expect(bad1.err).toContain('--since must be a duration');
    const bad2 = await ops('nope');
    expect(bad2.code).toBe(2);
    expect(bad2.err).toContain('unknown command "nope"');
    const nf = await ops('why', 'no-such-connection');
    expect(nf.code).toBe(1);
    expect(nf.err).toContain('no connection with id or externalId "no-such-connection"');
  });
});

describe('failed list / failed replay after a provider outage', () => {
  let ids: string[] = [];
  let revokedId = '';

  it('lists the connections that failed during the outage, grouped by provider and error', async () => {
    storm.setFaults({ status: 503 });
    const regs = await Promise.all(
      [0, 1, 2, 3, 4].map((i) => register('storm-ops', storm, `storm-${i}`, { expiresIn: 2 })),
    );
    ids = regs.map((r) => r.id);
    await waitFor(
      async () => (await db.connection.count({ where: { id: { in: ids }, consecutiveFailures: { gte: 1 } } })) === 5,
      30_000,
      'all five failing',
    );
    // One grant is revoked during the outage: it needs re-authorization and is never replayed.
    const victim = await register('storm-ops', storm, 'storm-revoked');
    revokedId = victim.id;
    storm.clearFaults();
    storm.revokeGrant(victim.grantId);
    expect((await forceRefresh(victim.id)).body.outcome).toBe('needs_reauth');
    storm.setFaults({ status: 503 });

    const list = await ops('failed', 'list', '--since', '1h', '--json');
    expect(list.code).toBe(0);
    const g = list.json().groups.find((x: { provider: string }) => x.provider === 'storm-ops');
    expect(g).toMatchObject({ provider: 'storm-ops', errorCode: 'temporarily_unavailable', count: 5 });
    const human = await ops('failed', 'list', '--provider', 'storm-ops');
    expect(human.out).toMatch(/storm-ops\s+temporarily_unavailable\s+5/);
    expect(human.out).toContain('5 failed refreshes in 1 group');
    expect(
      (await ops('failed', 'list', '--provider', 'storm-ops', '--error', 'invalid_client', '--json')).json().total,
    ).toBe(0);
  });

  it('replay --dry-run changes nothing', async () => {
    const before = await db.connection.findMany({ where: { id: { in: ids } }, orderBy: { id: 'asc' } });
    const dry = await ops('failed', 'replay', '--provider', 'storm-ops', '--dry-run', '--json');
    expect(dry.json()).toMatchObject({ dryRun: true, selected: 5 });
    const after = await db.connection.findMany({ where: { id: { in: ids } }, orderBy: { id: 'asc' } });
    expect(after.map((r) => r.nextRefreshAt?.getTime())).toEqual(before.map((r) => r.nextRefreshAt?.getTime()));
    // Still waiting minutes for their retry.
    expect(after.every((r) => r.nextRefreshAt!.getTime() > Date.now() + 60_000)).toBe(true);
  });

  it('replay after the provider is back brings every connection back, once, through the queue', async () => {
    storm.clearFaults();
    const successesBefore = storm.stats().successes;
    const r = await ops('failed', 'replay', '--provider', 'storm-ops');
    expect(r.code).toBe(0);
    expect(r.out).toContain('Replayed 5 connections');
    // The retry was beyond the queue horizon, so the worker had completed the job: replay adds it.
    expect(r.out).toContain('5 added');
    expect(r.out).toContain('by provider: storm-ops 5');
    expect(r.out).toContain('1 connection in this window need re-authorization and were not replayed');
    expect(r.err).toContain('replay progress: 5/5');
    const rows = await waitFor(
      async () => {
        const rs = await db.connection.findMany({ where: { id: { in: ids } } });
        return rs.every((x) => x.consecutiveFailures === 0 && x.lastErrorCode === null && x.version === 2) ? rs : null;
      },
      20_000,
      'all replayed connections refreshed',
    );
    expect(rows.every((x) => x.status === 'active')).toBe(true);
    // Exactly one provider refresh per connection: no double refresh, no reuse of a spent token.
    expect(storm.stats().successes - successesBefore).toBe(5);
    expect(storm.stats().reuseEvents).toBe(0);
    const attempts = await db.refreshAttempt.findMany({ where: { connectionId: { in: ids }, outcome: 'rotated' } });
    expect(attempts).toHaveLength(5);
    expect((await row(revokedId)).status).toBe('needs_reauth');
    expect(new Set(attempts.map((a) => a.trigger))).toEqual(new Set(['replay']));
  });

  it('a second replay finds nothing failed and changes nothing', async () => {
    const before = await db.connection.findMany({ where: { provider: 'storm-ops' }, orderBy: { id: 'asc' } });
    const r = await ops('failed', 'replay', '--provider', 'storm-ops', '--json');
    expect(r.json()).toMatchObject({ selected: 0, replayed: 0, needsReauthNotReplayed: 1 });
    const human = await ops('failed', 'replay', '--provider', 'storm-ops');
    expect(human.out).toContain('Nothing to replay');
    expect((await ops('failed', 'list', '--provider', 'storm-ops', '--json')).json().total).toBe(0);
    const after = await db.connection.findMany({ where: { provider: 'storm-ops' }, orderBy: { id: 'asc' } });
    expect(after.map((x) => [x.version, x.nextRefreshAt?.getTime()])).toEqual(
      before.map((x) => [x.version, x.nextRefreshAt?.getTime()]),
    );
  });

  it('replaying while a refresh is queued re-moves the same job (no second job, no double refresh)', async () => {
    const c = await register('storm-ops', storm, 'storm-twice', { expiresIn: 3600 });
    storm.setFaults({ status: 503, count: 1 });
    expect((await forceRefresh(c.id)).body.outcome).toBe('transient');
    // Put the retry inside the horizon so a delayed job exists, then replay twice in a row.
    await db.connection.update({ where: { id: c.id }, data: { nextRefreshAt: new Date(Date.now() + 45_000) } });
    await d.daemon.scheduler.ensure(c.id, 'storm-ops', new Date(Date.now() + 45_000));
    storm.setFaults({ delayMs: 2000, count: 1 }); // keep the replayed refresh in flight for a moment
    const successes = storm.stats().successes;
    const first = (await ops('failed', 'replay', '--provider', 'storm-ops', '--json')).json();
    expect(first.connections).toEqual([expect.objectContaining({ id: c.id, queue: 'moved' })]);
    const second = (await ops('failed', 'replay', '--provider', 'storm-ops', '--json')).json();
    // In flight: the same job is kept (or moved); already committed: nothing left to replay.
    expect(second.replayed + second.skipped).toBeLessThanOrEqual(1);
    for (const x of second.connections) expect(['moved', 'kept']).toContain(x.queue);
    await waitFor(async () => (await row(c.id)).version === 2, 15_000, 'replayed refresh');
    expect(storm.stats().successes - successes).toBe(1);
    // The moved job ran as a replay (recorded as such), not as the old scheduled plan.
    const last = await db.refreshAttempt.findFirst({ where: { connectionId: c.id }, orderBy: { startedAt: 'desc' } });
    expect(last).toMatchObject({ trigger: 'replay', outcome: 'rotated' });
    expect(storm.stats().reuseEvents).toBe(0);
  });
});

describe('why: each diagnosis from a real history', () => {
  const why = async (ref: string) => {
    const r = await ops('why', ref, '--json');
    expect(r.code, r.err).toBe(0);
    return r.json().diagnosis as {
      code: string;
      headline: string;
      details: string[];
      nextStep: string;
      handled?: boolean;
    };
  };

  it('revoked by the user or an admin', async () => {
    const c = await register('acme-ops', acme, 'why-revoked');
    acme.revokeGrant(c.grantId);
    expect((await forceRefresh(c.id)).body.outcome).toBe('needs_reauth');
    const dgn = await why('why-revoked');
    expect(dgn.code).toBe('revoked');
    const human = await ops('why', c.id);
    expect(human.out).toContain('Diagnosis: Revoked by the user or an admin');
    expect(human.out).toContain('invalid_grant');
    expect(human.out).toMatch(/Next step: Ask the user to reconnect/);
  });

  it('refresh token expired', async () => {
    const c = await register('salesforce-ops', sf, 'why-expired');
    sf.revokeGrant(c.grantId); // Salesforce answers "expired access/refresh token"
    expect((await forceRefresh(c.id)).body.outcome).toBe('needs_reauth');
    const dgn = await why('why-expired');
    expect(dgn.code).toBe('expired');
    expect(dgn.details.join(' ')).toContain('expired access/refresh token');
  });

  it('rotation lost in a whole-fleet pause: the status, the event and why say it is ours', async () => {
    const c = await register('acme-ops', acme, 'why-pause');
    expect((await forceRefresh(c.id)).body.outcome).toBe('rotated');
    const late = (await db.refreshAttempt.findFirst({ where: { connectionId: c.id, outcome: 'rotated' } }))!;
    // While that rotation waited to commit (every process frozen), another refresh presented the
    // previous token: the provider's reuse detection revoked the grant, and that refresh's
    // needs_reauth mark lost the race to the late commit.
    const reused = await fetch(acme.tokenUrl, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from('client-id:client-secret').toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: c.refreshToken }),
    });
    expect(reused.status).toBe(400);
    await db.refreshAttempt.create({
      data: {
        connectionId: c.id,
        provider: 'acme-ops',
        trigger: 'scheduled',
        workerId: 'host-b:202',
        versionBefore: 1,
        startedAt: new Date(late.startedAt.getTime() + 1),
        finishedAt: late.finishedAt,
        outcome: 'lost_race',
        httpStatus: 400,
        errorCode: 'invalid_grant',
        errorDescription: 'token reused',
      },
    });
    const out = await forceRefresh(c.id);
    expect(out.body).toMatchObject({ outcome: 'needs_reauth', reauthReason: 'rotation_lost_in_pause' });
    expect((await row(c.id)).reauthReason).toBe('rotation_lost_in_pause');
    const event = await db.outboxEvent.findFirst({ where: { connectionId: c.id, type: 'connection.needs_reauth' } });
    expect(event?.payload).toMatchObject({ reason: 'rotation_lost_in_pause' });
    const dgn = await why('why-pause');
    expect(dgn.code).toBe('rotation_lost_in_pause');
    expect(dgn.details.join(' ')).toContain('presented version 1 and read invalid_grant');
  });

  it('lost race, and that it was handled', async () => {
    const c = await register('acme-ops', acme, 'why-race');
    acme.setFaults({ delayMs: 3000, count: 1 });
    const inflight = forceRefresh(c.id);
    await waitFor(
      async () => (await db.refreshAttempt.count({ where: { connectionId: c.id } })) === 1,
      10_000,
      'refresh in flight',
    );
    // The app reconnects meanwhile: new tokens, version bump; the in-flight commit is fenced out.
    const g2 = acme.issueGrant();
    const put = await d.api('PUT', `/v1/connections/${c.id}/tokens`, {
      access_token: g2.accessToken,
      refresh_token: g2.refreshToken,
      expires_in: 3600,
    });
    expect(put.status).toBe(200);
    expect((await inflight).body.outcome).toBe('lost_race');
    const dgn = await why('why-race');
    expect(dgn.code).toBe('lost_race_handled');
    expect(dgn.handled).toBe(true);
    expect((await ops('why', 'why-race')).out).toContain('Handled: yes');
    expect(d.daemon.keyring.decrypt((await row(c.id)).refreshTokenEnc)).toBe(g2.refreshToken);
  });

  it('rotation lost in a crash', async () => {
    const c = await register('acme-ops', acme, 'why-crash');
    crashOnce.add(c.id);
    expect((await forceRefresh(c.id)).status).toBe(500); // died after the provider rotated
    expect((await db.refreshAttempt.findFirst({ where: { connectionId: c.id } }))!.finishedAt).toBeNull();
    // A dead process's unfinished attempt holds the connection for a lock TTL (like its Redis lock
    // would): the crash happened a minute ago.
    await db.$executeRaw`UPDATE "RefreshAttempt" SET "startedAt" = "startedAt" - interval '1 minute' WHERE "connectionId" = ${c.id}::uuid`;
    // The next refresh presents the spent token: the provider refuses (reuse detection).
    expect((await forceRefresh(c.id)).body).toMatchObject({
      outcome: 'needs_reauth',
      reauthReason: 'rotation_lost_in_crash',
    });
    const dgn = await why('why-crash');
    expect(dgn.code).toBe('rotation_lost_in_crash');
    expect(dgn.details.join(' ')).toContain(`Worker ${d.config.workerId}`);
  });

  it('credentials wrong for the whole provider', async () => {
    const a = await register('badcreds-ops', bad, 'why-creds-a');
    const b = await register('badcreds-ops', bad, 'why-creds-b');
    for (const id of [a.id, b.id]) expect((await forceRefresh(id)).body.outcome).toBe('misconfigured');
    const dgn = await why('why-creds-a');
    expect(dgn.code).toBe('credentials');
    expect(dgn.headline).toContain('wrong for the whole provider');
    expect(dgn.details.join(' ')).toContain('2 active connections of Badcreds fail the same way');
    expect(dgn.nextStep).toContain('BADCREDS_OPS_CLIENT_ID');
    expect((await row(a.id)).status).toBe('active');
    // They count as failed refreshes too.
    expect((await ops('failed', 'list', '--provider', 'badcreds-ops', '--json')).json().groups[0]).toMatchObject({
      errorCode: 'invalid_client',
      count: 2,
    });
  });

  it('too many tokens for one Salesforce user after a reconnect', async () => {
    const first = await register('salesforce-ops', sf, 'why-cap-1', { extra: { id: sfId(ORG_CAP, CAP_USER) } });
    await register('salesforce-ops', sf, 'why-cap-2', { extra: { id: sfId(ORG_CAP, CAP_USER) } });
    await register('salesforce-ops', sf, 'why-cap-3', { extra: { id: sfId(ORG_CAP, CAP_USER) } });
    sf.revokeGrant(first.grantId); // what Salesforce does to the oldest when a user exceeds the cap
    expect((await forceRefresh(first.id)).body.outcome).toBe('needs_reauth');
    const dgn = await why('why-cap-1');
    expect(dgn.code).toBe('token_cap');
    expect(dgn.headline).toContain('at most 5 refresh tokens per user');
    expect(dgn.details.join(' ')).toContain(
      '2 other connections for the same Salesforce user were authorized after this one',
    );
  });

  it('admin policy when every connection of one Salesforce org fails together', async () => {
    const users = ['005POLUSERAAAAAAAA', '005POLUSERBBBBBBBB', '005POLUSERCCCCCCCC'];
    const cs = [];
    for (const [i, u] of users.entries())
      cs.push(await register('salesforce-ops', sf, `why-org-${i}`, { extra: { id: sfId(ORG_POLICY, u) } }));
    for (const c of cs) sf.revokeGrant(c.grantId);
    for (const c of cs) expect((await forceRefresh(c.id)).body.outcome).toBe('needs_reauth');
    const dgn = await why('why-org-1');
    expect(dgn.code).toBe('org_policy');
    expect(dgn.headline).toContain(`Every connection of Salesforce org ${ORG_POLICY} failed together`);
    expect(dgn.details.join(' ')).toContain('Immediately expire refresh token');
    expect(dgn.nextStep).toContain('Refresh Token Policy');
  });

  it('a failing (not disconnected) connection and a healthy one', async () => {
    const ok = await register('acme-ops', acme, 'why-healthy');
    expect((await why(ok.id)).code).toBe('healthy');
    const f = await register('acme-ops', acme, 'why-failing');
    acme.setFaults({ status: 503, count: 1 });
    expect((await forceRefresh(f.id)).body.outcome).toBe('transient');
    const dgn = await why('why-failing');
    expect(dgn.code).toBe('failing');
    expect(dgn.nextStep).toContain('ops failed replay --provider acme-ops');
  });
});

describe('connections, refresh, reconcile, providers, report', () => {
  it('connections list filters by status and provider; show has schedule and attempts', async () => {
    const l = await ops('connections', 'list', '--status', 'needs_reauth', '--provider', 'salesforce-ops', '--json');
    const ext = l
      .json()
      .connections.map((c: { externalId: string }) => c.externalId)
      .sort();
    expect(ext).toEqual(['why-cap-1', 'why-expired', 'why-org-0', 'why-org-1', 'why-org-2']);
    const human = await ops('connections', 'list', '--provider', 'storm-ops');
    expect(human.out).toMatch(/storm-revoked\s+needs_reauth/);
    expect(human.out).toContain('7 connections shown of 7');
    const show = await ops('connections', 'show', 'storm-0');
    expect(show.code).toBe(0);
    expect(show.out).toMatch(/Status:\s+active/);
    // Next refresh ~1 h away, beyond the 60 s horizon: no job yet.
    expect(show.out).toMatch(/Next refresh:\s+\S+ \S+ \(in \d+ min\)/);
    expect(show.out).toMatch(/Queue job:\s+none yet/);
    expect(show.out).toMatch(/replay\s+rotated\s+200\s+-\s+1->2/);
    expect(show.out).toMatch(/scheduled\s+transient\s+503\s+temporarily_unavailable\s+1/);
    const js = (await ops('connections', 'show', 'storm-0', '--json')).json();
    expect(js.queue.state).toBe('none');
    expect(js.attempts.map((a: { outcome: string }) => a.outcome)).toEqual(['rotated', 'transient']);
    expect(JSON.stringify(js)).not.toMatch(/TokenEnc|rt_|at_g/);
  });

  it('refresh <id> refreshes through the single-flight path; refuses a needs_reauth connection', async () => {
    const c = await register('acme-ops', acme, 'ops-refresh');
    const r = await ops('refresh', 'ops-refresh');
    expect(r.code).toBe(0);
    expect(r.out).toContain('rotated');
    expect(r.out).toContain('version 1 -> 2');
    expect((await row(c.id)).version).toBe(2);
    const js = await ops('refresh', c.id, '--json');
    expect(js.code).toBe(0);
    expect(js.json()).toMatchObject({ id: c.id, outcome: 'rotated', versionBefore: 2, version: 3 });
    const dead = await ops('refresh', 'why-revoked');
    expect(dead.code).toBe(1);
    expect(dead.out).toContain('Not refreshed');
  });

  it('refresh obeys the credential breaker; --force bypasses it and says so', async () => {
    const c = await register('acme-ops', acme, 'ops-gated');
    const fp = d.daemon.providers.get('acme-ops')!.credentialsFingerprint;
    // Open with our current credentials, and no probe due for an hour.
    const open = {
      breakerState: 'open' as const,
      openedAt: new Date(),
      lastProbeAt: new Date(Date.now() + 3600_000),
      lastErrorCode: 'invalid_client',
      credentialsFingerprint: fp,
    };
    await db.providerState.upsert({
      where: { provider: 'acme-ops' },
      create: { provider: 'acme-ops', ...open },
      update: open,
    });
    await sleep(1100); // the ops process's gate caches a provider's breaker state briefly
    try {
      const r = await ops('refresh', 'ops-gated');
      expect(r.code).toBe(1);
      expect(r.out).toContain('skipped');
      expect(r.out).toContain('the credential breaker of acme-ops is open');
      expect((await row(c.id)).version).toBe(1);
      const f = await ops('refresh', 'ops-gated', '--force');
      expect(f.code).toBe(0);
      expect(f.err).toContain('--force: bypassing the credential breaker of acme-ops (open)');
      expect(f.out).toContain('rotated');
      expect((await row(c.id)).version).toBe(2);
    } finally {
      await db.providerState.deleteMany({ where: { provider: 'acme-ops' } });
    }
  });

  it('reconcile rebuilds missing queue jobs from PostgreSQL and reports them', async () => {
    const cs = await Promise.all([0, 1].map((i) => register('acme-ops', acme, `reconcile-${i}`, { expiresIn: 40 })));
    for (const c of cs) {
      const job = await d.daemon.queues.refreshQueueFor('acme-ops', c.id).getJob(c.id);
      expect(job).toBeTruthy();
      await job!.remove();
    }
    const r = await ops('reconcile', '--json');
    expect(r.code).toBe(0);
    expect(r.json().added).toBeGreaterThanOrEqual(2);
    expect(
      r.json().providers.find((p: { provider: string }) => p.provider === 'acme-ops').added,
    ).toBeGreaterThanOrEqual(2);
    for (const c of cs) expect(await d.daemon.queues.refreshQueueFor('acme-ops', c.id).getJob(c.id)).toBeTruthy();
    const again = await ops('reconcile');
    expect(again.out).toContain('added 0 missing jobs');
    const show = await ops('connections', 'show', 'reconcile-0');
    expect(show.out).toMatch(/Queue job:\s+delayed, runs \S+ \S+ \(in \d+ s\), trigger feeder/);
  });

  it('providers shows definitions and breaker state from ProviderState', async () => {
    await db.providerState.upsert({
      where: { provider: 'badcreds-ops' },
      create: {
        provider: 'badcreds-ops',
        breakerState: 'open',
        openedAt: new Date(),
        lastErrorCode: 'invalid_client',
        lastErrorDescription: 'Client authentication failed.',
      },
      update: { breakerState: 'open', openedAt: new Date(), lastErrorCode: 'invalid_client' },
    });
    const since = new Date();
    await db.providerState.create({
      data: { provider: 'gong', holdState: 'holding', holdSince: since, holdNextProbeAt: since, holdProbes: 2 },
    });
    const r = await ops('providers', '--json');
    const p = r.json().providers;
    expect(p.find((x: { key: string }) => x.key === 'gong').outage).toEqual({
      state: 'holding',
      since: since.toISOString(),
      nextProbeAt: since.toISOString(),
      probes: 2,
    });
    expect(p.find((x: { key: string }) => x.key === 'badcreds-ops').breaker).toMatchObject({
      state: 'open',
      lastErrorCode: 'invalid_client',
    });
    expect(p.find((x: { key: string }) => x.key === 'acme-ops')).toMatchObject({
      configured: true,
      rotation: 'always',
      breaker: { state: 'closed' },
    });
    expect(p.find((x: { key: string }) => x.key === 'gong').configured).toBe(false);
    expect(r.out).not.toContain('client-secret');
    const human = await ops('providers');
    expect(human.out).toMatch(/badcreds-ops\s+yes\s+always.*open/);
    expect(human.out).toContain('Breaker open for badcreds-ops');
    expect(human.out).toMatch(/Outage hold holding for gong since .*2 probe\(s\) sent/);
    // `why` on a credentials failure mentions the open breaker.
    expect((await ops('why', 'why-creds-b')).out).toContain('credential breaker is open');
  });

  it('report: refreshes, failures and needs_reauth by provider and reason; flags the org spike', async () => {
    const r = await ops('report', '--since', '1h', '--json');
    expect(r.code).toBe(0);
    const j = r.json();
    const storm = j.providers.find((p: { provider: string }) => p.provider === 'storm-ops');
    expect(storm.rotated).toBe(6); // five replayed after the outage, one replayed twice
    expect(storm.transient).toBeGreaterThanOrEqual(6);
    expect(storm.needsReauth).toBe(1);
    const reasons = j.needsReauth.map(
      (x: { provider: string; reason: string; count: number }) => `${x.provider}:${x.reason}:${x.count}`,
    );
    expect(reasons).toEqual(
      expect.arrayContaining([
        'acme-ops:revoked:1',
        'acme-ops:rotation_lost_in_crash:1',
        'salesforce-ops:expired:5',
        'storm-ops:revoked:1',
      ]),
    );
    const groups = j.spikes.map((s: { group: string }) => s.group);
    expect(groups).toContain(`salesforce org ${ORG_POLICY} (salesforce-ops)`);
    expect(groups).toContain('provider salesforce-ops');
    expect(groups).not.toContain(`salesforce org ${ORG_CAP} (salesforce-ops)`);
    // Move those dead-grant answers into the previous period: no longer a spike against it.
    const human = await ops('report', '--since', '1h');
    expect(human.out).toContain('invalid_grant spikes (vs the previous 1 h):');
    expect(human.out).toContain(
      `! salesforce org ${ORG_POLICY} (salesforce-ops): 3 dead-grant answers, previous period 0`,
    );
    await db.$executeRaw`UPDATE "RefreshAttempt" SET "startedAt" = "startedAt" - interval '1 hour' WHERE "provider" = 'salesforce-ops' AND "outcome" = 'needs_reauth'`;
    await db.$executeRaw`INSERT INTO "RefreshAttempt" ("id", "connectionId", "provider", "trigger", "workerId", "startedAt", "finishedAt", "outcome", "errorCode", "versionBefore")
      SELECT gen_random_uuid(), "connectionId", "provider", "trigger", "workerId", "startedAt" + interval '1 hour', "finishedAt" + interval '1 hour', "outcome", "errorCode", "versionBefore"
      FROM "RefreshAttempt" WHERE "provider" = 'salesforce-ops' AND "outcome" = 'needs_reauth'`;
    const steady = (await ops('report', '--since', '1h', '--json')).json();
    expect(steady.spikes.map((s: { group: string }) => s.group)).not.toContain(
      `salesforce org ${ORG_POLICY} (salesforce-ops)`,
    );
  });
});
