// `npm run test:chaos`: the multi-process fault suite. Real daemons (`node --import tsx test/chaos/daemon-entry.ts`,
// one process each, own port) on one Redis (the suite's own redis-server) and one fresh PostgreSQL
// database (through a TCP proxy the suite can cut), against fake OAuth providers over HTTP with
// single-use rotation and reuse detection. Each scenario injects faults, quiesces, then the invariant
// checker compares the providers' ledgers with the database. Exit code 1 on any violation.
//
//   npm run test:chaos                      all scenarios (about 6 minutes)
//   CHAOS_SCENARIOS=redis,postgres npm run test:chaos
//   CHAOS_CONNECTIONS=120 CHAOS_KEEP=1 (keep the database and logs)
import { inspect } from 'node:util';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn, type ChildProcess } from 'node:child_process';
import type { Redis } from 'ioredis';
import { createSingleRedis } from '../../worker/redis/connect.ts';
import { applyMigrations, dropDatabase } from '../../scripts/lib/migrations.ts';
import { Keyring } from '../../worker/crypto/keyring.ts';
import { jobKeyOf } from '../../worker/redis/keys.ts';
import { createDb, type Db } from '../../worker/store/db.ts';
import { judge, type Ledger, type TrackedConnection, type Verdict } from './checker.ts';
import { DaemonFleet, installCleanup, sleep, spawnReady, track } from './procs.ts';
import { TcpProxy } from './tcp-proxy.ts';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const T0 = Date.now();
const progress = (s: string) =>
  process.stdout.write(`[chaos ${((Date.now() - T0) / 1000).toFixed(1).padStart(6)}s] ${s}\n`);

const API_KEY = 'chaos-api-key-0123456789abcdef';
const ENC_KEY = randomBytes(32).toString('base64');
const N_DAEMONS = 3;
const N_CONN = Number(process.env.CHAOS_CONNECTIONS ?? 100);
const N_GRACE = Math.max(10, Math.floor(N_CONN / 5));
const TOKEN_TTL_S = 6;
// Long enough for the retry after a crash (lock TTL + stall detection, ~8 s here; ~15 s when a second
// process dies holding the same connection's lock) to land inside it, short enough that a token put
// back by an unfenced late commit (pause scenario) is past it.
const GRACE_S = 20;
const TIMINGS = {
  // Timeouts a little above the design guidance: on a loaded 2-core machine an event loop can lag
  // more than a second, and a request timeout that fires late turns an answered rotation into an
  // uncertain one (rotation_lost_in_flight), which would be the test's fault, not the daemon's.
  REQUEST_TIMEOUT_MS: 4000,
  LOCK_TTL_MS: 6000,
  FEEDER_INTERVAL_MS: 1000,
  STALLED_INTERVAL_MS: 2000,
  JOB_LOCK_MS: 5000,
  RETRY_BASE_MS: 300,
  RETRY_MAX_MS: 3000,
  REFRESH_LEAD_MS: 1000,
  REFRESH_JITTER_MS: 200,
  HORIZON_MS: 60000,
  COMMIT_RETRY_MS: 60000,
  SHUTDOWN_TIMEOUT_MS: 8000,
  BREAKER_PROBE_INTERVAL_MS: 1000,
  // Pool size is WORKER_CONCURRENCY + 5 (min 10): keep 3 daemons well under max_connections (100).
  WORKER_CONCURRENCY: 5,
};

interface FakeHandle {
  name: string;
  url: string;
  tokenUrl: string;
  countsUrl: string;
  child: ChildProcess;
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const r = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  if (!r.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

// ---------------------------------------------------------------------------------------------
// The world: database, redis, proxy, fakes, daemons, connections.
// ---------------------------------------------------------------------------------------------

class World {
  runId = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  dir = join(tmpdir(), `ort-chaos-${this.runId}`);
  dbUrl = `postgresql://postgres@127.0.0.1:5432/ort_chaos_${this.runId}`;
  proxy = new TcpProxy('127.0.0.1', 5432);
  redisPort = 0;
  redisChild?: ChildProcess;
  redis!: Redis;
  db!: Db;
  keyring = new Keyring([{ id: 'k1', key: Buffer.from(ENC_KEY, 'base64') }]);
  fakes = new Map<string, FakeHandle>();
  fleet!: DaemonFleet;
  prefix = `{ort-chaos-${randomBytes(3).toString('hex')}}`;
  connections: TrackedConnection[] = [];
  revokedByUs = new Set<string>();
  /** Connections lost (explained) in an earlier scenario: no longer judged. */
  retired = new Set<string>();
  /** Grants whose loss was explained: their reuse events are accounted for. */
  explainedGrants = new Set<string>();
  /** Reuse events already counted in an earlier scenario (per provider). */
  reusesSeen = new Map<string, number>();
  onDemand = { calls: 0, ok: 0, failed: 0, statuses: new Map<string, number>() };
  private onDemandTimer?: NodeJS.Timeout;

  async startRedis(): Promise<void> {
    const child = track(
      spawn(
        'redis-server',
        [
          '--port',
          String(this.redisPort),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--daemonize',
          'no',
          '--loglevel',
          'warning',
        ],
        { stdio: 'ignore' },
      ),
    );
    this.redisChild = child;
    const probe = createSingleRedis(`redis://127.0.0.1:${this.redisPort}`, {
      role: 'general',
      lazyConnect: true,
      node: { maxRetriesPerRequest: 0, retryStrategy: () => null },
    });
    probe.on('error', () => undefined);
    for (let i = 0; i < 100; i++) {
      try {
        await probe.connect();
        await probe.ping();
        probe.disconnect();
        return;
      } catch {
        probe.disconnect();
        await sleep(100);
      }
    }
    throw new Error('redis-server did not start');
  }

  async stopRedis(): Promise<void> {
    const c = this.redisChild;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  }

  async startFake(name: string, opts: Record<string, unknown>): Promise<FakeHandle> {
    const { child, ready } = await spawnReady<{ url: string; tokenUrl: string; countsUrl: string }>(
      process.execPath,
      ['--import', 'tsx', 'test/chaos/provider-process.ts', JSON.stringify(opts)],
      { cwd: ROOT, log: join(this.dir, `fake-${name}.log`) },
    );
    const h = { name, child, ...ready };
    this.fakes.set(name, h);
    return h;
  }

  async setup(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    progress(`run ${this.runId}: logs in ${this.dir}`);
    await applyMigrations(this.dbUrl);
    this.db = createDb(this.dbUrl, { poolSize: 4 });
    progress(`database ${new URL(this.dbUrl).pathname.slice(1)} migrated`);
    await this.proxy.start();
    this.redisPort = await freePort();
    await this.startRedis();
    this.redis = createSingleRedis(`redis://127.0.0.1:${this.redisPort}`, {
      role: 'general',
      node: { maxRetriesPerRequest: 1 },
    });
    this.redis.on('error', () => undefined);
    progress(`redis-server on port ${this.redisPort}, PostgreSQL proxy on port ${this.proxy.port}`);
    await this.startFake('chaos', {
      rotation: 'always',
      reuseDetection: true,
      graceSeconds: 0,
      accessTtlSeconds: TOKEN_TTL_S,
    });
    await this.startFake('chaos-grace', {
      rotation: 'always',
      reuseDetection: true,
      graceSeconds: GRACE_S,
      accessTtlSeconds: TOKEN_TTL_S,
    });
    const providersFile = join(this.dir, 'providers.json');
    const provider = (tokenUrl: string, grace: number) => ({
      tokenUrl,
      clientAuth: 'basic',
      clientId: 'client-id',
      clientSecret: 'client-secret',
      rotation: 'always',
      oldTokenGrace: grace,
      refreshLeadSec: 1,
      concurrency: 5,
    });
    writeFileSync(
      providersFile,
      JSON.stringify(
        {
          providers: {
            chaos: provider(this.fakes.get('chaos')!.tokenUrl, 0),
            'chaos-grace': provider(this.fakes.get('chaos-grace')!.tokenUrl, GRACE_S),
          },
        },
        null,
        2,
      ),
    );
    const ports = [];
    for (let i = 0; i < N_DAEMONS; i++) ports.push(await freePort());
    const baseEnv: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_ENV: 'test',
      DATABASE_URL: `postgresql://postgres@127.0.0.1:${this.proxy.port}/ort_chaos_${this.runId}`,
      REDIS_URL: `redis://127.0.0.1:${this.redisPort}`,
      API_KEY,
      ENCRYPTION_KEY: ENC_KEY,
      ALLOW_INSECURE_TOKEN_URLS: 'true',
      PROVIDERS_FILE: providersFile,
      QUEUE_PREFIX: this.prefix,
      HOST: '127.0.0.1',
      LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? 'warn',
      LOG_PRETTY: 'false',
      ORT_ENABLE_FAULT_INJECTION: '1',
      ...Object.fromEntries(Object.entries(TIMINGS).map(([k, v]) => [k, String(v)])),
    };
    this.fleet = new DaemonFleet(ROOT, this.dir, baseEnv, ports, progress);
    for (let i = 0; i < N_DAEMONS; i++) {
      writeFileSync(this.controlFile(i), '{}');
      this.fleet.setEnv(i, { ORT_FAULT_CONTROL_FILE: this.controlFile(i) });
      this.fleet.start(i);
    }
    await this.fleet.waitAllHealthy(60_000);
    progress(`${N_DAEMONS} daemons up (ports ${ports.join(', ')})`);
  }

  async register(): Promise<void> {
    const plan: { provider: string; fake: string }[] = [];
    for (let i = 0; i < N_CONN; i++)
      plan.push(i < N_GRACE ? { provider: 'chaos-grace', fake: 'chaos-grace' } : { provider: 'chaos', fake: 'chaos' });
    const one = async (p: { provider: string; fake: string }, i: number) => {
      const fake = this.fakes.get(p.fake)!;
      const g = await getJson<{ grantId: string; accessToken: string; refreshToken: string }>(
        `${fake.url}/_admin/grants`,
        { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' },
      );
      const daemon = this.fleet.url(i % N_DAEMONS);
      const res = await getJson<{ id: string }>(`${daemon}/v1/connections`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          provider: p.provider,
          externalId: g.grantId,
          tokens: {
            access_token: g.accessToken,
            refresh_token: g.refreshToken,
            expires_in: 1 + Math.random() * TOKEN_TTL_S,
            token_type: 'Bearer',
          },
        }),
      });
      this.connections.push({ id: res.id, grantId: g.grantId, provider: p.provider });
    };
    for (let i = 0; i < plan.length; i += 10) await Promise.all(plan.slice(i, i + 10).map((p, j) => one(p, i + j)));
    progress(
      `registered ${this.connections.length} connections (${N_GRACE} on chaos-grace with a ${GRACE_S} s old-token grace, the rest single-use), tokens live ${TOKEN_TTL_S} s`,
    );
  }

  /**
   * Apps asking for tokens (GET /token), so on-demand refreshes race the scheduled ones: each tick,
   * one connection's token is asked of every running daemon at once (several app servers wanting
   * the same user's token), so refreshes of one connection also race across processes.
   */
  startOnDemandLoad(): void {
    const tick = () => {
      const up = this.fleet.upSlots();
      const live = this.connections.filter((c) => !this.retired.has(c.id) && !this.revokedByUs.has(c.grantId));
      const c = live[Math.floor(Math.random() * live.length)];
      for (const d of c ? up : []) {
        this.onDemand.calls++;
        fetch(`${this.fleet.url(d)}/v1/connections/${c.id}/token?min_valid_seconds=4`, {
          headers: { authorization: `Bearer ${API_KEY}` },
          signal: AbortSignal.timeout(10_000),
        })
          .then((r) => {
            if (r.ok) this.onDemand.ok++;
            else {
              this.onDemand.failed++;
              this.onDemandStatus(String(r.status));
            }
            return r.arrayBuffer();
          })
          .catch((e: Error) => {
            this.onDemand.failed++;
            this.onDemandStatus(e.name === 'TimeoutError' ? 'timeout' : 'network');
          });
      }
      this.onDemandTimer = setTimeout(tick, 200);
    };
    tick();
  }

  private onDemandStatus(s: string): void {
    this.onDemand.statuses.set(s, (this.onDemand.statuses.get(s) ?? 0) + 1);
  }

  stopOnDemandLoad(): void {
    if (this.onDemandTimer) clearTimeout(this.onDemandTimer);
  }

  async setFaults(f: Record<string, unknown> | null): Promise<void> {
    await Promise.all(
      [...this.fakes.values()].map((h) =>
        getJson(
          `${h.url}/_admin/faults`,
          f
            ? { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(f) }
            : { method: 'DELETE' },
        ),
      ),
    );
  }

  async ledgers(): Promise<Map<string, Ledger>> {
    const out = new Map<string, Ledger>();
    for (const [name, h] of this.fakes) out.set(name, await getJson<Ledger>(`${h.url}/_admin/ledger`));
    return out;
  }

  async stats(): Promise<{ successes: number; requests: number; reuses: number }> {
    let successes = 0,
      requests = 0,
      reuses = 0;
    for (const h of this.fakes.values()) {
      const s = await getJson<{ successes: number; refreshRequests: number; reuseEvents: number }>(
        `${h.url}/_admin/stats`,
      );
      successes += s.successes;
      requests += s.refreshRequests;
      reuses += s.reuseEvents;
    }
    return { successes, requests, reuses };
  }

  async counts(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const h of this.fakes.values())
      for (const [g, n] of Object.entries(await getJson<Record<string, number>>(h.countsUrl)))
        out.set(`${h.name}/${g}`, n);
    return out;
  }

  /** How many live connections have a job in Redis. */
  async jobsPresent(): Promise<{ present: number; of: number }> {
    const active = new Set(
      (await this.db.connection.findMany({ where: { status: 'active' }, select: { id: true } })).map((r) => r.id),
    );
    const live = this.connections.filter((c) => active.has(c.id));
    const pipe = this.redis.pipeline();
    for (const c of live) pipe.exists(jobKeyOf(this.prefix, `refresh-${c.provider}`, c.id));
    const res = (await pipe.exec()) ?? [];
    return { present: res.filter((r) => r[1] === 1).length, of: live.length };
  }

  /** Revokes a few grants at the provider (a user disconnecting): they must end needs_reauth/revoked. */
  async revokeSome(n: number): Promise<string[]> {
    const live = this.connections.filter(
      (c) => !this.retired.has(c.id) && !this.revokedByUs.has(c.grantId) && c.provider === 'chaos',
    );
    const picked = live.sort(() => Math.random() - 0.5).slice(0, n);
    for (const c of picked) {
      this.revokedByUs.add(c.grantId);
      await getJson(`${this.fakes.get('chaos')!.url}/_admin/grants/${c.grantId}/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
    }
    return picked.map((c) => c.id);
  }

  controlFile(slot: number): string {
    return join(this.dir, `faults-d${slot + 1}.json`);
  }

  /** Switches each daemon's fault injection (kill/pause points, clock skew) through its control file; no restart. */
  async applyFaults(per: FaultSettings[]): Promise<void> {
    for (let i = 0; i < N_DAEMONS; i++) writeFileSync(this.controlFile(i), JSON.stringify(per[i] ?? {}));
    await sleep(600); // the daemons re-read the file every 250 ms
  }

  async teardown(): Promise<void> {
    this.stopOnDemandLoad();
    await this.fleet?.stopAll().catch(() => undefined);
    for (const h of this.fakes.values()) h.child.kill('SIGTERM');
    await this.stopRedis().catch(() => undefined);
    this.redis?.disconnect();
    await this.proxy.close().catch(() => undefined);
    await this.db?.$disconnect().catch(() => undefined);
    if (!process.env.CHAOS_KEEP) {
      await dropDatabase(this.dbUrl).catch((e: unknown) => progress(`could not drop the database: ${String(e)}`));
      rmSync(this.dir, { recursive: true, force: true });
    } else progress(`kept database ${this.dbUrl} and logs in ${this.dir}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

interface ScenarioCtx {
  w: World;
  startedAt: number;
  /** When the scenario's fault settings were written (a fault may fire before startedAt). */
  faultsFrom: number;
  notes: string[];
  failures: string[];
  /** Run fn at ms after the scenario start. */
  at(ms: number, fn: () => Promise<void> | void): Promise<void>;
}

interface FaultSettings {
  killAt?: string;
  pauseAt?: string;
  pauseProviders?: string;
  clockSkewMs?: number;
}

interface Scenario {
  name: string;
  title: string;
  /** Fault injection per daemon slot while this scenario runs (test/chaos/faults.ts). */
  faults?: FaultSettings[];
  durationMs: number;
  allowedLossReasons: string[];
  /** When to revoke the scenario's two grants (default at the start). */
  revokeAtMs?: number;
  /** No connection may be lost at all, explained or not. */
  zeroLost: boolean;
  zeroReuse: boolean;
  run(ctx: ScenarioCtx): Promise<void>;
}

const KILL_POINTS = 'before_call:0.008,after_answer:0.008,after_commit:0.008,before_ack:0.008';

async function randomKills(ctx: ScenarioCtx, untilMs: number, everyMs: [number, number]): Promise<void> {
  const { w } = ctx;
  for (;;) {
    await sleep(everyMs[0] + Math.random() * (everyMs[1] - everyMs[0]));
    if (Date.now() - ctx.startedAt > untilMs) return;
    const up = w.fleet.upSlots();
    if (up.length < 2) continue; // keep at least one process running
    const victim = up[Math.floor(Math.random() * up.length)];
    w.fleet.signal(victim, 'SIGKILL');
  }
}

async function rollingRestarts(ctx: ScenarioCtx, untilMs: number, gapMs: number): Promise<number> {
  let n = 0;
  for (let round = 0; ; round++) {
    for (let i = 0; i < N_DAEMONS; i++) {
      if (Date.now() - ctx.startedAt > untilMs) return n;
      const r = await ctx.w.fleet.restart(i);
      n++;
      progress(
        `  daemon ${i + 1} restarted: stopped ${r.stopMs} ms after SIGTERM (exit ${r.code}), healthy ${r.startMs} ms later`,
      );
      if (!r.graceful)
        ctx.failures.push(`daemon ${i + 1} did not shut down gracefully on SIGTERM (exit code ${r.code})`);
      await sleep(gapMs);
    }
  }
}

/** slackMs: extra allowance where other faults run at the same time (skewed clocks time BullMQ's
 *  job scheduler, killed daemons take their watchdog with them). The dedicated redis scenario has none. */
async function redisFaults(
  ctx: ScenarioCtx,
  flushAtMs: number,
  restartAtMs: number | null,
  slackMs = 0,
): Promise<void> {
  const { w } = ctx;
  const tick = TIMINGS.FEEDER_INTERVAL_MS;
  const measure = async (what: string, limitMs: number) => {
    const t = Date.now();
    let first: string | undefined;
    for (;;) {
      const j = await w.jobsPresent().catch(() => ({ present: 0, of: 1 }));
      first ??= `${j.present}/${j.of}`;
      if (j.present >= j.of) {
        const ms = Date.now() - t;
        ctx.notes.push(
          `${what}: schedule rebuilt from PostgreSQL in ${ms} ms (jobs in Redis: ${first} right after, ${j.present}/${j.of} then)`,
        );
        if (ms > limitMs) ctx.failures.push(`${what}: schedule took ${ms} ms to rebuild (limit ${limitMs} ms)`);
        return;
      }
      if (Date.now() - t > 20_000) {
        ctx.failures.push(`${what}: schedule not rebuilt within 20 s (${j.present}/${j.of} jobs in Redis)`);
        return;
      }
      await sleep(100);
    }
  };
  await ctx.at(flushAtMs, async () => {
    await w.redis.flushall();
    progress('  FLUSHALL');
    // One feeder tick, plus one watchdog tick to re-create the wiped job scheduler itself.
    await measure('after FLUSHALL', 2 * tick + 1000 + slackMs);
  });
  if (restartAtMs === null) return;
  await ctx.at(restartAtMs, async () => {
    await w.stopRedis();
    progress('  redis-server killed (no persistence: a restart loses everything)');
    await sleep(2000);
    await w.startRedis();
    progress('  redis-server restarted');
    // Clients reconnect with backoff first.
    await measure('after Redis restart', 2 * tick + 4000 + slackMs);
  });
}

async function postgresOutage(ctx: ScenarioCtx, fromMs: number, forMs: number): Promise<void> {
  await ctx.at(fromMs, async () => {
    ctx.w.proxy.block();
    progress(`  PostgreSQL unavailable for ${forMs / 1000} s (proxy drops and refuses connections)`);
    await sleep(forMs);
    ctx.w.proxy.unblock();
    progress('  PostgreSQL back');
  });
}

/** Provider outage and misbehaviour; returns provider calls per connection during the 503 window. */
/**
 * A provider-wide outage of outageMs: token requests during it stay bounded (the hold lets one probe
 * through at a time), and after recovery every connection whose access token expired meanwhile is
 * refreshed within 10 s.
 */
async function providerOutage(ctx: ScenarioCtx, fromMs: number, outageMs: number): Promise<void> {
  const { w } = ctx;
  await ctx.at(fromMs, async () => {
    const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    const before = sum(await w.counts());
    await w.setFaults({ status: 503 });
    progress(`  provider-wide outage: 503 for ${outageMs / 1000} s`);
    await sleep(outageMs);
    const during = sum(await w.counts()) - before;
    await w.setFaults(null);
    const recoveredAt = Date.now();
    progress('  provider recovered');
    const live = new Set(
      w.connections.filter((c) => !w.retired.has(c.id) && !w.revokedByUs.has(c.grantId)).map((c) => c.id),
    );
    const expired = (
      await w.db.connection.findMany({
        where: { id: { in: [...live] }, status: 'active', expiresAt: { lt: new Date(recoveredAt) } },
        select: { id: true },
      })
    ).map((r) => r.id);
    const late = new Map<string, number>();
    const deadline = recoveredAt + 30_000;
    while (late.size < expired.length && Date.now() < deadline) {
      const rows = await w.db.connection.findMany({
        where: { id: { in: expired } },
        select: { id: true, lastRefreshedAt: true },
      });
      for (const r of rows)
        if (!late.has(r.id) && r.lastRefreshedAt && r.lastRefreshedAt.getTime() > recoveredAt)
          late.set(r.id, r.lastRefreshedAt.getTime() - recoveredAt);
      await sleep(200);
    }
    const ms = [...late.values()].sort((a, b) => a - b);
    const p50 = ms[Math.floor(ms.length / 2)] ?? 0;
    const max = ms[ms.length - 1] ?? 0;
    ctx.notes.push(
      `outage ${outageMs / 1000} s: ${during} token requests during it (${live.size} connections); ${expired.length} expired, refreshed after recovery p50 ${p50} ms, max ${max} ms, missing ${expired.length - late.size}`,
    );
    if (late.size < expired.length || max > 10_000)
      ctx.failures.push(
        `slow recovery: ${expired.length - late.size} of ${expired.length} expired connections not refreshed within 10 s (max ${max} ms)`,
      );
    if (during > live.size * 2 + outageMs / 1000)
      ctx.failures.push(`retry storm: ${during} token requests during a ${outageMs / 1000} s outage`);
  });
}

async function providerFaults(
  ctx: ScenarioCtx,
  fromMs: number,
  outageMs: number,
  eachMs: number,
  slackCalls = 0,
): Promise<void> {
  const { w } = ctx;
  await ctx.at(fromMs, async () => {
    const before = await w.counts();
    await w.setFaults({ status: 503 });
    progress(`  provider answers 503 for ${outageMs / 1000} s`);
    await sleep(outageMs);
    const after = await w.counts();
    await w.setFaults(null);
    const per = w.connections
      .filter((c) => !w.retired.has(c.id) && !w.revokedByUs.has(c.grantId))
      .map((c) => (after.get(`${c.provider}/${c.grantId}`) ?? 0) - (before.get(`${c.provider}/${c.grantId}`) ?? 0));
    const max = Math.max(...per);
    const mean = per.reduce((a, b) => a + b, 0) / per.length;
    // Back-off (RETRY_BASE_MS 300 doubling to RETRY_MAX_MS 3000, jittered) allows about 12 calls in
    // 20 s; a retry storm (every busy recheck, or no backoff) makes 20 to 60.
    const bound = Math.ceil(outageMs / (TIMINGS.RETRY_MAX_MS / 2)) + 6 + slackCalls;
    ctx.notes.push(
      `503 outage ${outageMs / 1000} s: provider calls per connection mean ${mean.toFixed(1)}, max ${max} (bound ${bound})`,
    );
    if (max > bound)
      ctx.failures.push(
        `retry storm: a connection called the provider ${max} times in ${outageMs / 1000} s of 503s (bound ${bound})`,
      );
    const steps: [string, Record<string, unknown>][] = [
      ['429 with Retry-After: 2', { status: 429, retryAfterSeconds: 2 }],
      [
        `answers slower than the request timeout (${TIMINGS.REQUEST_TIMEOUT_MS + 1000} ms, not processed once the client gave up)`,
        { delayMs: TIMINGS.REQUEST_TIMEOUT_MS + 1000 },
      ],
      ['malformed JSON (truncated 200)', { malformed: true }],
      ['HTML error pages (502)', { html: true }],
      ['200 without refresh_token from a rotating provider', { omitRefreshToken: true }],
    ];
    for (const [label, f] of steps) {
      await w.setFaults(f);
      progress(`  provider: ${label}`);
      await sleep(eachMs);
    }
    await w.setFaults(null);
    progress('  provider healthy again');
  });
}

const SCENARIOS: Scenario[] = [
  {
    name: 'sigterm',
    title: 'SIGTERM rolling restarts',
    durationMs: 24_000,
    allowedLossReasons: [],
    zeroLost: true,
    zeroReuse: true,
    async run(ctx) {
      const n = await rollingRestarts(ctx, 20_000, 1500);
      ctx.notes.push(`${n} graceful restarts`);
    },
  },
  {
    name: 'sigkill-random',
    title: 'SIGKILL of random processes at random moments',
    durationMs: 22_000,
    allowedLossReasons: ['rotation_lost_in_crash'],
    zeroLost: false,
    zeroReuse: false,
    async run(ctx) {
      await randomKills(ctx, 18_000, [2500, 4500]);
    },
  },
  {
    name: 'sigkill-points',
    title: 'SIGKILL at chosen moments (before_call, after_answer, after_commit, before_ack)',
    durationMs: 25_000,
    faults: [{ killAt: KILL_POINTS }, { killAt: KILL_POINTS }, { killAt: KILL_POINTS }],
    allowedLossReasons: ['rotation_lost_in_crash'],
    zeroLost: false,
    zeroReuse: false,
    async run() {
      /* the daemons kill themselves */
    },
  },
  {
    name: 'redis',
    title: 'Redis FLUSHALL, then a Redis restart',
    durationMs: 24_000,
    allowedLossReasons: [],
    zeroLost: true,
    zeroReuse: true,
    async run(ctx) {
      await redisFaults(ctx, 4000, 13_000);
    },
  },
  {
    name: 'postgres',
    title: 'PostgreSQL unavailable for 15 s',
    durationMs: 26_000,
    allowedLossReasons: [],
    zeroLost: true,
    zeroReuse: true,
    async run(ctx) {
      await postgresOutage(ctx, 4000, 15_000);
    },
  },
  {
    name: 'provider',
    title: 'Provider outage (503 20 s), 429, slow, malformed, HTML, missing refresh_token',
    durationMs: 46_000,
    allowedLossReasons: [],
    zeroLost: true,
    zeroReuse: true,
    async run(ctx) {
      // The faults start once the two revoked grants have had their refresh: an invalid_grant that
      // follows an unreadable 200 or a timeout after sending is diagnosed rotation_lost_in_flight
      // (rightly: the daemon cannot tell that from a revocation).
      await providerFaults(ctx, 6000, 20_000, 3000);
    },
  },
  {
    name: 'outage-short',
    title: 'Provider-wide outage (503 15 s): hold behind a probe, recovery within 10 s',
    durationMs: 40_000,
    allowedLossReasons: [],
    zeroLost: true,
    zeroReuse: true,
    async run(ctx) {
      await providerOutage(ctx, 6000, 15_000);
    },
  },
  {
    name: 'clock-skew',
    title: 'Clock skew of -2.5 s / 0 / +2.5 s between the processes',
    durationMs: 16_000,
    faults: [{ clockSkewMs: -2500 }, {}, { clockSkewMs: 2500 }],
    allowedLossReasons: [],
    zeroLost: true,
    zeroReuse: true,
    async run() {
      /* skewed clocks plan and pick up jobs */
    },
  },
  {
    // The frozen process holds a rotated token T1 of a grace-window connection. Its lock expires,
    // another process refreshes with the old token (inside the grace window) and stores T2; when the
    // frozen one wakes 40 s later its commit of T1 must be refused by the fence (without the fence
    // T1, by then past its grace, would be stored and the next refresh would be a reuse).
    name: 'pause',
    title: 'A process frozen 40 s holding a rotated token (grace-window provider): fenced stale commit',
    durationMs: 50_000,
    // One daemon (chosen at random) may freeze, once. With the setting on all three, two or three of
    // them could freeze before the withdrawal reached them: nobody is left to retry inside the grace
    // window, and the scenario no longer tests the fence but a whole-fleet pause.
    faults: ((slot) =>
      [0, 1, 2].map((i) => (i === slot ? { pauseAt: 'after_answer:0.3:40000:1', pauseProviders: 'chaos-grace' } : {})))(
      Math.floor(Math.random() * 3),
    ),
    // Strict-provider connections that the frozen process was refreshing at that moment die like in a crash.
    allowedLossReasons: ['rotation_lost_in_crash'],
    zeroLost: false,
    zeroReuse: false,
    async run(ctx) {
      // As soon as it has frozen, the setting is withdrawn (it would not freeze twice anyway).
      const deadline = ctx.startedAt + 20_000;
      // (It may have frozen while the settings were being applied, before startedAt.)
      while (Date.now() < deadline && !ctx.w.fleet.pauses.some((x) => x.at >= ctx.faultsFrom)) await sleep(50);
      await ctx.w.applyFaults([]);
      const p = ctx.w.fleet.pauses.filter((x) => x.at >= ctx.faultsFrom);
      if (p.length === 0) ctx.failures.push('no process froze within 20 s: the scenario proved nothing');
      else
        progress(
          `  ${p.map((x) => x.workerId).join(', ')} froze for 40 s holding the answer for connection ${p.map((x) => x.connectionId.slice(0, 8)).join(', ')}`,
        );
    },
  },
  {
    name: 'mixed',
    title:
      'Everything at once: kills at chosen and random moments, SIGTERM, FLUSHALL, PostgreSQL and provider outages, skew',
    durationMs: 44_000,
    faults: [
      { killAt: KILL_POINTS.replace(/0\.008/g, '0.003'), clockSkewMs: -1500 },
      { killAt: KILL_POINTS.replace(/0\.008/g, '0.003') },
      { killAt: KILL_POINTS.replace(/0\.008/g, '0.003'), clockSkewMs: 1500 },
    ],
    allowedLossReasons: ['rotation_lost_in_crash'],
    zeroLost: false,
    zeroReuse: false,
    async run(ctx) {
      await Promise.all([
        randomKills(ctx, 40_000, [6000, 9000]),
        ctx.at(10_000, async () => {
          const slot = Math.floor(Math.random() * N_DAEMONS);
          const r = await ctx.w.fleet.restart(slot, 20_000, 90_000);
          progress(
            `  daemon ${slot + 1} restarted (SIGTERM): stopped in ${r.stopMs} ms, healthy ${r.startMs} ms later`,
          );
        }),
        // Clocks here are skewed by up to 1.5 s and daemons are being killed: one more tick of slack.
        redisFaults(ctx, 5000, null, 1500 + TIMINGS.FEEDER_INTERVAL_MS),
        postgresOutage(ctx, 16_000, 8000),
        // Clocks skewed by up to 3 s between processes shorten the early backoff steps (150-600 ms)
        // as one process sees them, and kills restart attempts: two more calls of slack.
        providerFaults(ctx, 26_000, 6000, 1500, 2),
      ]);
    },
  },
];

/** Too long for the default run: only with CHAOS_SCENARIOS=<name>. */
const ON_REQUEST: Scenario[] = [
  {
    name: 'outage',
    title: 'Provider-wide outage (503 60 s): hold behind a probe, recovery within 10 s',
    durationMs: 90_000,
    allowedLossReasons: [],
    zeroLost: true,
    zeroReuse: true,
    async run(ctx) {
      await providerOutage(ctx, 6000, 60_000);
    },
  },
];

// ---------------------------------------------------------------------------------------------
// Running and judging
// ---------------------------------------------------------------------------------------------

interface Row {
  scenario: string;
  connections: number;
  refreshes: number;
  kills: number;
  explained: number;
  unexplained: number;
  reuse: number;
  falseReauth: number;
  revoked: number;
  result: 'PASS' | 'FAIL';
}

async function settleAndJudge(
  w: World,
  sc: Scenario,
  startedAt: number,
): Promise<{ verdicts: Map<string, Verdict>; waitedMs: number }> {
  const t = Date.now();
  let verdicts: Map<string, Verdict>;
  for (let dbErrors = 0; ;) {
    const judged = w.connections.filter((c) => !w.retired.has(c.id));
    const judging = judge({
      db: w.db,
      keyring: w.keyring,
      ledgers: await w.ledgers(),
      connections: judged,
      revokedByUs: w.revokedByUs,
      deaths: w.fleet.deaths,
      pauses: w.fleet.pauses,
      allowedLossReasons: new Set(sc.allowedLossReasons),
      nowMs: Date.now(),
    });
    try {
      verdicts = await judging;
    } catch (e) {
      // The machine's PostgreSQL is shared (other runs): a full connection table is not a verdict.
      if (++dbErrors > 10) throw e;
      progress(`  checker: database error, retrying (${String(e).split('\n').filter(Boolean).pop()?.slice(0, 120)})`);
      await sleep(2000);
      continue;
    }
    const pending = [...verdicts.values()].filter((v) => v.kind === 'pending').length;
    if (pending === 0 || Date.now() - t > 30_000) break;
    await sleep(1000);
  }
  void startedAt;
  return { verdicts, waitedMs: Date.now() - t };
}

async function runScenario(w: World, sc: Scenario): Promise<Row> {
  const faultsFrom = Date.now();
  if (sc.faults) await w.applyFaults(sc.faults);
  const statsBefore = await w.stats();
  const deathsBefore = w.fleet.deaths.length;
  const startedAt = Date.now();
  const revoked: string[] = [];
  const revoking = sleep(sc.revokeAtMs ?? 0).then(async () => {
    revoked.push(...(await w.revokeSome(2)));
  });
  progress(`${sc.name}: ${sc.title} (${sc.durationMs / 1000} s; 2 grants revoked by their users)`);
  const ctx: ScenarioCtx = {
    w,
    startedAt,
    faultsFrom,
    notes: [],
    failures: [],
    async at(ms, fn) {
      const wait = startedAt + ms - Date.now();
      if (wait > 0) await sleep(wait);
      await fn();
    },
  };
  const body = sc.run(ctx);
  await Promise.all([body, sleep(sc.durationMs), revoking]);
  // Quiesce: no faults, every process up, then let it settle.
  if (sc.faults) await w.applyFaults([]);
  await w.setFaults(null);
  w.proxy.unblock();
  for (const s of w.fleet.slots) if (!s.wanted) w.fleet.start(s.index);
  await w.fleet.waitAllHealthy(90_000);
  progress(`${sc.name}: quiescing and checking invariants`);
  const { verdicts, waitedMs } = await settleAndJudge(w, sc, startedAt);
  const statsAfter = await w.stats();
  const deaths = w.fleet.deaths.slice(deathsBefore);
  const kills = deaths.filter((d) => d.signal === 'SIGKILL');
  const byPoint = new Map<string, number>();
  for (const d of kills) byPoint.set(d.point ?? 'random', (byPoint.get(d.point ?? 'random') ?? 0) + 1);
  const vs = [...verdicts.entries()];
  const explained = vs.filter(([, v]) => v.kind === 'lost_explained');
  const violations = vs.filter(([, v]) => v.kind === 'violation' || v.kind === 'pending');
  const falseReauth = vs.filter(([, v]) => v.kind === 'violation' && v.falseReauth).length;
  const ledgers = await w.ledgers();
  const earlierLosses = new Set(w.explainedGrants);
  for (const [id] of explained) w.explainedGrants.add(w.connections.find((c) => c.id === id)!.grantId);
  // New reuse events since the last check; those of a loss explained earlier (its diagnosing
  // attempt presenting the old token) belong to that scenario.
  const reuses = [...ledgers]
    .flatMap(([name, l]) => l.reuses.slice(w.reusesSeen.get(name) ?? 0))
    .filter((r) => !earlierLosses.has(r.grantId));
  for (const [name, l] of ledgers) w.reusesSeen.set(name, l.reuses.length);
  const unexplainedReuse = reuses.filter((r) => !w.explainedGrants.has(r.grantId) && !w.revokedByUs.has(r.grantId));
  const failures = [...ctx.failures];
  for (const [id, v] of violations)
    failures.push(
      `connection ${id.slice(0, 8)}: ${v.kind === 'pending' ? `not settled after ${(waitedMs / 1000).toFixed(0)} s: ` : ''}${(v as { why: string }).why}`,
    );
  for (const r of unexplainedReuse) failures.push(`refresh token reused for grant ${r.grantId} with no explained loss`);
  if (sc.zeroLost && explained.length)
    failures.push(`${explained.length} connection(s) lost in a scenario that allows no loss`);
  if (sc.zeroReuse && reuses.length)
    failures.push(`${reuses.length} refresh-token reuse event(s) in a scenario that allows none`);
  for (const id of revoked)
    if (verdicts.get(id)?.kind !== 'revoked_ok')
      failures.push(`deliberately revoked ${id.slice(0, 8)} not marked needs_reauth/revoked`);
  for (const [id, v] of explained) {
    w.retired.add(id);
    const provider = w.connections.find((c) => c.id === id)!.provider;
    ctx.notes.push(
      `lost ${id.slice(0, 8)} [${provider}] (${(v as { reason: string }).reason}): ${(v as { why: string }).why}`,
    );
    // With an old-token grace window the retry after a crash (lock TTL + stall detection) lands
    // inside it: a crash must never cost a grace-provider connection.
    if (provider === 'chaos-grace' && sc.name.startsWith('sigkill'))
      failures.push(
        `grace-provider connection ${id.slice(0, 8)} lost: the retry after the crash missed the ${GRACE_S} s grace window`,
      );
  }
  // A lost or revoked connection is done; later scenarios judge the rest.
  for (const [id] of violations) w.retired.add(id);
  for (const id of revoked) w.retired.add(id);
  if (kills.length) ctx.notes.push(`kills: ${[...byPoint].map(([p, n]) => `${p} ${n}`).join(', ')}`);
  const row: Row = {
    scenario: sc.name,
    connections: verdicts.size,
    refreshes: statsAfter.successes - statsBefore.successes,
    kills: kills.length,
    explained: explained.length,
    unexplained: violations.length,
    reuse: reuses.length,
    falseReauth,
    revoked: revoked.length,
    result: failures.length ? 'FAIL' : 'PASS',
  };
  for (const n of ctx.notes) progress(`  ${n}`);
  for (const f of failures) progress(`  VIOLATION: ${f}`);
  progress(`${sc.name}: ${row.result} (settled in ${(waitedMs / 1000).toFixed(1)} s)`);
  return row;
}

function table(rows: Row[]): string {
  const head = [
    'scenario',
    'connections',
    'refreshes',
    'kills',
    'lost (explained / unexplained)',
    'reuse events',
    'false needs_reauth',
    'revoked (expected)',
    'result',
  ];
  const body = rows.map((r) => [
    r.scenario,
    String(r.connections),
    String(r.refreshes),
    String(r.kills),
    `${r.explained} / ${r.unexplained}`,
    String(r.reuse),
    String(r.falseReauth),
    String(r.revoked),
    r.result,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(head), `|${widths.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

async function main(): Promise<number> {
  const only = process.env.CHAOS_SCENARIOS?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const list = only ? [...SCENARIOS, ...ON_REQUEST].filter((s) => only.includes(s.name)) : SCENARIOS;
  if (only && list.length !== only.length)
    throw new Error(
      `unknown scenario in CHAOS_SCENARIOS; known: ${[...SCENARIOS, ...ON_REQUEST].map((s) => s.name).join(', ')}`,
    );
  const w = new World();
  installCleanup(() => undefined);
  const rows: Row[] = [];
  let fatal: unknown;
  try {
    await w.setup();
    await w.register();
    w.startOnDemandLoad();
    await sleep(3000);
    for (const sc of list) rows.push(await runScenario(w, sc));
  } catch (e) {
    fatal = e;
  } finally {
    w.stopOnDemandLoad();
    progress('tearing down');
    await w.teardown();
  }
  if (rows.length) {
    process.stdout.write(
      `\n${table(rows)}\n\non-demand token calls: ${w.onDemand.calls} (${w.onDemand.ok} ok, ${w.onDemand.failed} not: ${[...w.onDemand.statuses].map(([k, n]) => `${k} ${n}`).join(', ') || '-'}); runtime ${((Date.now() - T0) / 1000).toFixed(0)} s\n`,
    );
  }
  if (fatal) {
    process.stderr.write(`chaos: ${fatal instanceof Error ? (fatal.stack ?? fatal.message) : inspect(fatal)}\n`);
    return 2;
  }
  const failed = rows.filter((r) => r.result === 'FAIL');
  process.stdout.write(
    failed.length
      ? `\nchaos: FAILED (${failed.map((r) => r.scenario).join(', ')})\n`
      : '\nchaos: all scenarios passed\n',
  );
  return failed.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`chaos: ${String(e)}\n`);
    process.exit(2);
  },
);
