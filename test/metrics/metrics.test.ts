// Observability on a running daemon: Prometheus series exist and move with real refreshes, no
// connection id or token in any label; one log line per attempt; the queue dashboard behind the
// API key (read-only unless enabled); /readyz.
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeProvider } from '../fakes/fake-provider.ts';
import {
  startDaemon,
  TEST_API_KEY,
  TEST_READ_KEY,
  waitFor,
  writeProvidersFile,
  type TestDaemon,
} from '../helpers/harness.ts';
import { MetricsExtension } from '../../worker/metrics/index.ts';
import { DashboardExtension } from '../../worker/dashboard/index.ts';

const fake = new FakeProvider({
  persona: 'standard',
  rotation: 'always',
  reuseDetection: true,
  accessTtlSeconds: 3600,
});
const logLines: Record<string, unknown>[] = [];
const rawLog: string[] = [];
const sink = new Writable({
  write(chunk, _enc, cb) {
    const text = chunk.toString();
    rawLog.push(text);
    for (const l of text.split('\n').filter(Boolean)) logLines.push(JSON.parse(l));
    cb();
  },
});
let d: TestDaemon;
let providersFile: string;
const issued: string[] = [];

/** Parses the exposition format into "name{labels}" -> value. */
function parse(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

async function scrape(
  key = TEST_READ_KEY,
): Promise<{ status: number; text: string; series: Map<string, number>; type: string | null }> {
  const res = await fetch(`${d.baseUrl}/metrics`, { headers: { authorization: `Bearer ${key}` } });
  const text = await res.text();
  return { status: res.status, text, series: parse(text), type: res.headers.get('content-type') };
}

async function register(externalId: string, expiresIn = 3600) {
  const g = fake.issueGrant();
  issued.push(g.accessToken, g.refreshToken);
  const res = await d.api('POST', '/v1/connections', {
    provider: 'metrics-acme',
    externalId,
    tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: expiresIn },
  });
  expect(res.status).toBe(201);
  return { id: res.body.id as string, grantId: g.grantId };
}

beforeAll(async () => {
  await fake.start();
  providersFile = writeProvidersFile({
    'metrics-acme': {
      tokenUrl: fake.tokenUrl,
      clientAuth: 'basic',
      clientId: 'client-id',
      clientSecret: 'client-secret',
      rotation: 'always',
      refreshLeadSec: 1,
    },
  });
  d = await startDaemon(
    { PROVIDERS_FILE: providersFile },
    {
      log: pino({ level: 'info' }, sink),
      extensions: [new MetricsExtension({ cacheMs: 0 }), new DashboardExtension()],
    },
  );
});

afterAll(async () => {
  await d?.stop();
  await fake.close();
});

const v = (s: Map<string, number>, key: string) => s.get(key) ?? 0;

describe('GET /metrics', () => {
  it('needs an API key; a read key is enough', async () => {
    const res = await fetch(`${d.baseUrl}/metrics`);
    expect(res.status).toBe(401);
    expect((await scrape('wrong-key-0123456789abcdef')).status).toBe(401);
    const r = await scrape(TEST_READ_KEY);
    expect(r.status).toBe(200);
    expect(r.type).toContain('text/plain');
  });

  it('exposes gauges for connections, queues, breakers and the outbox before any refresh', async () => {
    const { series } = await scrape();
    expect(series.get('oauth_refresher_connections{provider="metrics-acme",status="active"}')).toBe(0);
    expect(series.get('oauth_refresher_connections{provider="metrics-acme",status="needs_reauth"}')).toBe(0);
    expect(series.get('oauth_refresher_queue_jobs{queue="refresh-metrics-acme",state="delayed"}')).toBe(0);
    expect(series.has('oauth_refresher_queue_jobs{queue="maintenance",state="delayed"}')).toBe(true);
    expect(series.get('oauth_refresher_breaker_state{provider="metrics-acme",state="closed"}')).toBe(1);
    expect(series.get('oauth_refresher_breaker_state{provider="metrics-acme",state="open"}')).toBe(0);
    expect(series.has('oauth_refresher_outbox_events{state="pending"}')).toBe(true);
    expect(series.has('oauth_refresher_outbox_oldest_pending_seconds')).toBe(true);
    expect([...series.keys()].some((k) => k.startsWith('oauth_refresher_process_'))).toBe(true);
  });

  it('counters, histograms and gauges move with real refreshes', async () => {
    const before = (await scrape()).series;
    const a = await register('metrics-a');
    const b = await register('metrics-b');
    expect((await d.api('POST', `/v1/connections/${a.id}/refresh`)).body.outcome).toBe('rotated');
    fake.revokeGrant(b.grantId);
    expect((await d.api('POST', `/v1/connections/${b.id}/refresh`)).body.outcome).toBe('needs_reauth');
    fake.setFaults({ status: 503, count: 1 });
    const c = await register('metrics-c');
    expect((await d.api('POST', `/v1/connections/${c.id}/refresh`)).body.outcome).toBe('transient');
    const after = (await scrape()).series;
    const delta = (k: string) => v(after, k) - v(before, k);
    expect(delta('oauth_refresher_refreshes_total{provider="metrics-acme",trigger="forced",outcome="rotated"}')).toBe(
      1,
    );
    expect(
      delta('oauth_refresher_refreshes_total{provider="metrics-acme",trigger="forced",outcome="needs_reauth"}'),
    ).toBe(1);
    expect(delta('oauth_refresher_refreshes_total{provider="metrics-acme",trigger="forced",outcome="transient"}')).toBe(
      1,
    );
    expect(delta('oauth_refresher_needs_reauth_total{provider="metrics-acme",reason="revoked"}')).toBe(1);
    expect(
      delta(
        'oauth_refresher_refresh_failures_total{provider="metrics-acme",outcome="needs_reauth",code="invalid_grant"}',
      ),
    ).toBe(1);
    expect(
      delta(
        'oauth_refresher_refresh_failures_total{provider="metrics-acme",outcome="transient",code="temporarily_unavailable"}',
      ),
    ).toBe(1);
    expect(delta('oauth_refresher_refresh_duration_seconds_count{provider="metrics-acme",outcome="rotated"}')).toBe(1);
    expect(delta('oauth_refresher_commit_window_seconds_count{provider="metrics-acme"}')).toBe(1);
    expect(delta('oauth_refresher_connections{provider="metrics-acme",status="active"}')).toBe(2);
    expect(delta('oauth_refresher_connections{provider="metrics-acme",status="needs_reauth"}')).toBe(1);
    expect(v(after, 'oauth_refresher_connections_failing{provider="metrics-acme"}')).toBe(1);
    // needs_reauth wrote an outbox event (nobody delivers it in this daemon).
    expect(v(after, 'oauth_refresher_outbox_events{state="pending"}')).toBeGreaterThanOrEqual(1);
  });

  it('measures lateness of scheduled refreshes and counts queue depth', async () => {
    const before = (await scrape()).series;
    const e = await register('metrics-scheduled', 3);
    const mid = (await scrape()).series;
    expect(v(mid, 'oauth_refresher_queue_jobs{queue="refresh-metrics-acme",state="delayed"}')).toBeGreaterThanOrEqual(
      1,
    );
    await waitFor(
      async () => ((await d.daemon.db.connection.findUnique({ where: { id: e.id } }))?.version ?? 0) >= 2,
      20_000,
      'scheduled refresh',
    );
    const after = (await scrape()).series;
    expect(
      v(after, 'oauth_refresher_refresh_lateness_seconds_count{provider="metrics-acme"}') -
        v(before, 'oauth_refresher_refresh_lateness_seconds_count{provider="metrics-acme"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(
      v(after, 'oauth_refresher_refreshes_total{provider="metrics-acme",trigger="scheduled",outcome="rotated"}'),
    ).toBeGreaterThanOrEqual(1);
  });

  it('never puts a connection id, an externalId or a token in a label', async () => {
    const { text } = await scrape();
    const rows = await d.daemon.db.connection.findMany({
      where: { provider: 'metrics-acme' },
      select: { id: true, externalId: true },
    });
    expect(rows.length).toBeGreaterThan(0);
    const labelValues = new Set([...text.matchAll(/="([^"]*)"/g)].map((m) => m[1]));
    for (const r of rows) {
      expect(text).not.toContain(r.id);
      expect(labelValues.has(r.externalId)).toBe(false);
    }
    for (const t of issued) expect(text).not.toContain(t);
    expect(text).not.toMatch(/\brt_[A-Za-z0-9_-]{10}|\bat_g\d/);
  });
});

describe('logs', () => {
  it('one JSON line per attempt with id, provider, trigger, outcome, duration and versions; no token anywhere', async () => {
    const a = await register('log-a');
    expect((await d.api('POST', `/v1/connections/${a.id}/refresh`)).body.outcome).toBe('rotated');
    const lines = logLines.filter((l) => l.msg === 'refresh attempt' && l.connectionId === a.id);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      connectionId: a.id,
      provider: 'metrics-acme',
      trigger: 'forced',
      outcome: 'rotated',
      versionBefore: 1,
      versionAfter: 2,
    });
    expect(typeof lines[0].durationMs).toBe('number');
    const all = rawLog.join('');
    for (const t of issued) expect(all).not.toContain(t);
    expect(all).not.toContain(TEST_API_KEY);
  });
});

describe('queue dashboard at /admin/queues', () => {
  const basic = (pw: string) => `Basic ${Buffer.from(`ops:${pw}`).toString('base64')}`;

  it('asks a browser for credentials and accepts the API key as the Basic password', async () => {
    const none = await fetch(`${d.baseUrl}/admin/queues`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect(
      (await fetch(`${d.baseUrl}/admin/queues`, { headers: { authorization: basic('not-the-key-0123456789') } }))
        .status,
    ).toBe(401);
    const page = await fetch(`${d.baseUrl}/admin/queues`, { headers: { authorization: basic(TEST_READ_KEY) } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
  });

  it("shows a refresh job's plan from the row (nextRefreshAt), not the stale plannedAt it was queued with", async () => {
    const c = await register('dash-plan', 40); // inside the 60 s horizon: queued as a delayed job
    const q = d.daemon.queues.refreshQueueFor('metrics-acme', c.id);
    const job = await waitFor(() => q.getJob(c.id), 10_000, 'queued job');
    // What Redis holds after a few cycles: the plan the job was first queued with.
    const stale = Date.now() - 3600_000;
    await job.updateData({ ...job.data, plannedAt: stale });
    const planned = (await d.daemon.db.connection.findUnique({ where: { id: c.id } }))!.nextRefreshAt!;
    const res = await fetch(
      `${d.baseUrl}/admin/queues/api/queues?activeQueue=refresh-metrics-acme&status=delayed&page=1&jobsPerPage=50`,
      { headers: { authorization: `Bearer ${TEST_READ_KEY}` } },
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      queues: { name: string; jobs: { id: string; data: Record<string, unknown> }[] }[];
    };
    const shown = body.queues.find((x) => x.name === 'refresh-metrics-acme')!.jobs.find((j) => j.id === c.id)!;
    expect(shown.data).toMatchObject({
      connectionId: c.id,
      nextRefreshAt: planned.toISOString(),
      queuedPlannedAt: new Date(stale).toISOString(),
    });
    expect(shown.data).not.toHaveProperty('plannedAt');
  });

  it('lists the queues of the providers in use, read-only, and refuses changes', async () => {
    const res = await fetch(`${d.baseUrl}/admin/queues/api/queues`, {
      headers: { authorization: `Bearer ${TEST_API_KEY}` },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { queues: { name: string; readOnlyMode: boolean }[] };
    const names = body.queues.map((q) => q.name);
    expect(names).toEqual(expect.arrayContaining(['maintenance', 'refresh-metrics-acme']));
    // Providers in use only (configured, or with connections when the daemon started): not every built-in.
    const withConnections = new Set(
      (await d.daemon.db.connection.groupBy({ by: ['provider'] })).map((r) => r.provider),
    );
    const unused = d.daemon.providers.all().filter((p) => !p.configured && !withConnections.has(p.key));
    expect(unused.length).toBeGreaterThan(0);
    for (const p of unused) expect(names).not.toContain(`refresh-${p.key}`);
    expect(body.queues.every((q) => q.readOnlyMode)).toBe(true);
    const pause = await fetch(`${d.baseUrl}/admin/queues/api/queues/refresh-metrics-acme/pause`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TEST_API_KEY}` },
    });
    expect(pause.status).toBe(405);
    expect(await d.daemon.queues.refreshQueues('metrics-acme')[0].isPaused()).toBe(false);
  });

  it('when writable, changes need a token-scope key', async () => {
    const w = await startDaemon(
      { PROVIDERS_FILE: providersFile, ROLES: 'api', ADMIN_QUEUES_WRITABLE: 'true' },
      { extensions: [new DashboardExtension()] },
    );
    try {
      const url = `${w.baseUrl}/admin/queues/api/queues/refresh-metrics-acme/clean/failed`;
      expect((await fetch(url, { method: 'PUT', headers: { authorization: `Bearer ${TEST_READ_KEY}` } })).status).toBe(
        403,
      );
      const ok = await fetch(url, { method: 'PUT', headers: { authorization: `Bearer ${TEST_API_KEY}` } });
      expect(ok.status).toBeLessThan(300);
      const list = (await (
        await fetch(`${w.baseUrl}/admin/queues/api/queues`, { headers: { authorization: basic(TEST_READ_KEY) } })
      ).json()) as { queues: { readOnlyMode: boolean }[] };
      expect(list.queues.every((q) => !q.readOnlyMode)).toBe(true);
    } finally {
      await w.stop();
    }
  });
});

describe('/readyz', () => {
  it('reports Redis, PostgreSQL, the worker loop and the feeder; 503 when Redis is gone', async () => {
    const ok = await waitFor(
      async () => {
        const r = await d.api('GET', '/readyz');
        return r.status === 200 ? r : null;
      },
      10_000,
      'ready',
    );
    expect(ok.body).toMatchObject({
      ok: true,
      checks: { redis: { ok: true }, postgres: { ok: true }, worker: { ok: true }, feeder: { ok: true } },
    });
    d.daemon.redis.disconnect();
    const down = await d.api('GET', '/readyz');
    expect(down.status).toBe(503);
    expect(down.body.ok).toBe(false);
    expect(down.body.checks.redis.ok).toBe(false);
    expect(down.body.checks.postgres.ok).toBe(true);
  });
});
