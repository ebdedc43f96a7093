// `npm run demo [-- --seconds N] [--connections N] [--json]`
//
// With Redis and PostgreSQL up: creates and migrates its own database, starts a fake OAuth provider
// (single-use refresh tokens, reuse detection) and the daemon as a child process exactly as
// `npm start` runs it, registers a few dozen connections whose tokens live seconds, and shows for
// about a minute what the daemon does. Midway one grant is revoked at the provider; on-demand
// GET /token requests race the scheduler throughout. It then checks the invariants, stops
// everything, drops what it created and prints a summary. Exit 0 only if the invariants held.
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { FakeProvider } from '../test/fakes/fake-provider.ts';
import { checkPostgres, checkRedis, maskUrl, ServiceUnavailable } from '../worker/util/services.ts';
import { applyMigrations, dropDatabase } from './lib/migrations.ts';
import { DaemonProcess } from './demo/daemon-process.ts';
import { reconnectWalk } from './demo/reconnect.ts';
import { clock, expiredNow, LiveBlock, renderBlock, renderLine, statusCounts, styleFor, type ConnView, type Snapshot } from './demo/view.ts';
import { FAST_TIMINGS } from '../test/helpers/timings.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEFAULT_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/oauth_refresher';
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
const PROVIDER_KEY = 'demo';
const ACCESS_TTL_S = 8; // what the fake provider issues on every refresh
const MIN_VALID_S = 3; // what the on-demand callers ask for

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

interface Options {
  seconds: number;
  connections: number;
  json: boolean;
}

const USAGE = 'usage: npm run demo [-- --seconds N (default 60)] [--connections N (default 36)] [--json]';

function fatal(message: string, code = 1): never {
  process.stderr.write(`demo: ${message}\n`);
  process.exit(code);
}

function parseArgs(argv: string[]): Options {
  const o: Options = { seconds: 60, connections: 36, json: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      const v = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (v === undefined) fatal(`${flag} needs a value\n${USAGE}`, 2);
      return v;
    };
    const int = (min: number, max: number): number => {
      const v = value();
      if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) fatal(`${flag} must be a whole number from ${min} to ${max}, got "${v}"\n${USAGE}`, 2);
      return Number(v);
    };
    if (flag === '--seconds') o.seconds = int(20, 3600);
    else if (flag === '--connections') o.connections = int(2, 500);
    else if (flag === '--json') o.json = true;
    else if (flag === '--help' || flag === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else fatal(`unknown argument "${arg}"\n${USAGE}`, 2);
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
// With --json the JSON summary is the only thing on stdout; the human view goes to stderr.
const out: NodeJS.WriteStream = opts.json ? process.stderr : process.stdout;
const tty = Boolean(out.isTTY);
const st = styleFor(out);
const say = (line = '') => out.write(`${line}\n`);
const ok = st.green('✓');
const bad = st.red('✗');

// ---------------------------------------------------------------------------------------------
// Interrupts and what to clean up
// ---------------------------------------------------------------------------------------------

let interrupts = 0;
let wakeAll: () => void = () => undefined;
const interrupted = new Promise<void>((r) => (wakeAll = r));
const aborted = () => interrupts > 0;
const sleep = (ms: number) => Promise.race([new Promise<void>((r) => setTimeout(r, ms)), interrupted]);

class Interrupted extends Error {}
const checkAbort = () => {
  if (aborted()) throw new Interrupted('interrupted');
};

const created: {
  dbUrl?: string;
  dbName?: string;
  dbCreated: boolean;
  redisUrl?: string;
  prefix?: string;
  fake?: FakeProvider;
  daemon?: DaemonProcess;
  tmpDir?: string;
  live?: LiveBlock;
} = { dbCreated: false };

function leftBehind(): string[] {
  const l: string[] = [];
  if (created.daemon?.running) l.push(`daemon process group ${created.daemon.pid}`);
  if (created.dbCreated && created.dbName) l.push(`database ${created.dbName}`);
  if (created.prefix) l.push(`Redis keys ${created.prefix}*`);
  return l;
}

function onSignal(signal: NodeJS.Signals): void {
  interrupts++;
  if (interrupts === 1) {
    out.write(`\n${st.yellow(`${signal}: stopping early and cleaning up (press Ctrl-C again to quit at once)`)}\n`);
    wakeAll();
    return;
  }
  created.live?.showCursor();
  const left = leftBehind();
  process.stderr.write(`demo: quitting without cleaning up${left.length ? `; left behind: ${left.join(', ')}` : ''}\n`);
  created.daemon?.killGroup('SIGTERM');
  process.exit(130);
}
process.on('SIGINT', () => onSignal('SIGINT'));
process.on('SIGTERM', () => onSignal('SIGTERM'));
process.on('exit', () => {
  // Whatever happened, never leave the daemon running behind the demo.
  if (created.daemon?.running) created.daemon.killGroup('SIGKILL');
  if (tty) created.live?.showCursor();
});

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T, i: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i], i);
      }
    }),
  );
  return results;
}

const globEscape = (s: string) => s.replace(/[*?[\]\\]/g, '\\$&');

/** Config variables the daemon reads: none of the caller's may leak into the demo's daemon. */
const DAEMON_VARS = /^(NODE_ENV|DATABASE_URL|REDIS_URL|PORT|HOST|API_KEYS?|API_READ_KEYS|ENCRYPTION_KEYS?|PROVIDERS_FILE|ALLOW_INSECURE_TOKEN_URLS|QUEUE_PREFIX|ROLES|REQUEST_TIMEOUT_MS|LOCK_TTL_MS|WORKER_CONCURRENCY|FEEDER_INTERVAL_MS|HORIZON_MS|REFRESH_LEAD_MS|REFRESH_JITTER_MS|RETRY_BASE_MS|RETRY_MAX_MS|COMMIT_RETRY_MS|JOB_LOCK_MS|STALLED_INTERVAL_MS|SHUTDOWN_TIMEOUT_MS|BREAKER_PROBE_INTERVAL_MS|WEBHOOK_.*|LOG_LEVEL|LOG_PRETTY|ADMIN_QUEUES_WRITABLE|REFRESH_CRON_.*|WORKER_ID|ORT_.*)(_FILE)?$/;

// ---------------------------------------------------------------------------------------------
// The demo
// ---------------------------------------------------------------------------------------------

interface Conn extends ConnView {
  id: string;
  grantId: string;
  version: number;
  lifetimeS: number;
}

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

interface ApiReply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function preflight(): Promise<{ dbUrl: URL; redisUrl: string }> {
  const rawDb = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
  const redisUrl = process.env.REDIS_URL || DEFAULT_REDIS_URL;
  let dbUrl: URL;
  try {
    dbUrl = new URL(rawDb);
  } catch {
    fatal(`DATABASE_URL is not a valid URL; expected e.g. ${DEFAULT_DATABASE_URL}`);
  }
  if (dbUrl.protocol !== 'postgres:' && dbUrl.protocol !== 'postgresql:') fatal(`DATABASE_URL must be a postgresql:// URL, got ${maskUrl(rawDb)}`);
  try {
    const r = new URL(redisUrl);
    if (r.protocol !== 'redis:' && r.protocol !== 'rediss:') throw new Error('protocol');
  } catch {
    fatal(`REDIS_URL must be a redis:// URL, got ${maskUrl(redisUrl)}; e.g. ${DEFAULT_REDIS_URL}`);
  }
  // The demo makes its own database, so only the server matters: check it through `postgres`.
  const server = new URL(dbUrl);
  server.pathname = '/postgres';
  try {
    await checkPostgres(server.toString());
    await checkRedis(redisUrl);
  } catch (e) {
    if (e instanceof ServiceUnavailable) fatal(e.message);
    throw e;
  }
  return { dbUrl, redisUrl };
}

function intro(o: Options): void {
  say(st.bold('oauth-refresher demo'));
  say(`  The daemon, started as ${st.bold('npm start')} would start it, keeps ${o.connections} OAuth connections alive whose`);
  say('  access tokens live only 4-8 seconds: it refreshes each one shortly before it expires.');
  say('  The fake provider issues single-use refresh tokens: presenting a spent one is a "reuse event"');
  say('  and kills the grant, so a refresh done twice, or a new token not stored, would show at once.');
  say(`  Meanwhile bursts of GET /token?min_valid_seconds=${MIN_VALID_S} race the scheduler for the same connections,`);
  say(`  and at ~${clock(revokeAtMs(o))} one user "disconnects the app" at the provider: that connection must turn`);
  say('  needs_reauth with reason "revoked" (on the next refresh, or the next GET /token that needs one),');
  say('  while every other connection stays active and current. Then the invariants are checked.');
  say('');
}

const revokeAtMs = (o: Options) => Math.round(o.seconds * 0.42) * 1000;

async function main(): Promise<number> {
  const pre = await preflight();
  intro(opts);

  // --- database ---
  const suffix = randomBytes(3).toString('hex');
  const baseName = decodeURIComponent(pre.dbUrl.pathname.replace(/^\//, '')) || 'oauth_refresher';
  const dbName = `${baseName.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 40)}_demo_${suffix}`;
  const demoDb = new URL(pre.dbUrl);
  demoDb.pathname = `/${dbName}`;
  created.dbUrl = demoDb.toString();
  created.dbName = dbName;
  created.redisUrl = pre.redisUrl;
  created.prefix = `{ort-demo-${suffix}}`;
  let t = Date.now();
  created.dbCreated = true; // applyMigrations creates it; drop it even if migrating fails halfway
  const applied = await applyMigrations(created.dbUrl);
  say(`  ${ok} PostgreSQL  ${maskUrl(pre.dbUrl.toString())}: created ${st.bold(dbName)}, ${applied.length} migration${applied.length === 1 ? '' : 's'} applied (${secs(Date.now() - t)})`);
  say(`  ${ok} Redis       ${maskUrl(pre.redisUrl)}: the demo's keys live under ${created.prefix}`);
  checkAbort();

  // --- fake provider ---
  const fake = new FakeProvider({ persona: 'standard', rotation: 'always', reuseDetection: true, accessTtlSeconds: ACCESS_TTL_S, admin: true });
  created.fake = fake;
  await fake.start();
  say(`  ${ok} provider    fake OAuth provider at ${fake.url}: single-use refresh tokens, ${ACCESS_TTL_S} s access tokens`);

  // --- daemon ---
  created.tmpDir = mkdtempSync(path.join(tmpdir(), 'ort-demo-'));
  const providersFile = path.join(created.tmpDir, 'providers.json');
  writeFileSync(providersFile, JSON.stringify({
    providers: {
      [PROVIDER_KEY]: {
        displayName: 'Demo (fake provider)', tokenUrl: fake.tokenUrl, clientAuth: 'basic', clientId: fake.clientId, clientSecret: fake.clientSecret,
        rotation: 'always', refreshLeadSec: 1,
        authorizeUrl: fake.authorization.authorizeUrl, revocationUrl: fake.authorization.revocationUrl,
      },
    },
  }, null, 2));
  const apiKey = `demo-${randomBytes(16).toString('hex')}`;
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!DAEMON_VARS.test(k)) env[k] = v;
  Object.assign(env, {
    NODE_ENV: 'development',
    DATABASE_URL: created.dbUrl,
    REDIS_URL: pre.redisUrl,
    API_KEY: apiKey,
    ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    ALLOW_INSECURE_TOKEN_URLS: 'true', // the fake provider speaks http on 127.0.0.1
    PROVIDERS_FILE: providersFile,
    QUEUE_PREFIX: created.prefix,
    ROLES: 'api,worker,scheduler',
    PORT: String(port),
    HOST: '127.0.0.1',
    // The hosted connect flow (the reconnect walk at the end); the app's return page is never fetched.
    PUBLIC_URL: baseUrl, CONNECT_RETURN_URLS: 'http://127.0.0.1:9/demo-app',
    // Timings shrunk so that tokens living seconds work (as in the test harness).
    REQUEST_TIMEOUT_MS: '3000',
    LOCK_TTL_MS: '10000',
    ...FAST_TIMINGS,
    // The view shows only warnings and errors; the info-level "refresh attempt" lines give the
    // refreshes by trigger (scheduled / on demand) and how late scheduled ones started.
    LOG_LEVEL: process.env.DEMO_DAEMON_LOG_LEVEL || 'info',
    LOG_PRETTY: 'false',
  });
  t = Date.now();
  const daemon = DaemonProcess.start(ROOT, env);
  created.daemon = daemon;
  await daemon.waitReady(baseUrl, 60_000, aborted);
  say(`  ${ok} daemon      tsx worker/main.ts, pid ${daemon.pid}, API at ${baseUrl}, ready in ${secs(Date.now() - t)}`);
  checkAbort();

  const api = async (method: string, p: string, body?: unknown): Promise<ApiReply> => {
    const res = await fetch(`${baseUrl}${p}`, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // keep the text
    }
    return { status: res.status, body: parsed };
  };

  // --- connections ---
  t = Date.now();
  const width = String(opts.connections).length;
  const conns: Conn[] = await mapLimit(Array.from({ length: opts.connections }, (_, i) => i), 6, async (i) => {
    const label = `user-${String(i + 1).padStart(width, '0')}`;
    const lifetimeS = 4 + (i % 5); // 4..8 s, so they do not all come due together
    const g = fake.issueGrant({ userId: label });
    const r = await api('POST', '/v1/connections', {
      provider: PROVIDER_KEY, externalId: label,
      tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: lifetimeS, token_type: 'Bearer' },
    });
    if (r.status !== 201) throw new Error(`POST /v1/connections for ${label} answered ${r.status}: ${JSON.stringify(r.body)}`);
    return {
      id: r.body.id as string, grantId: g.grantId, label, lifetimeS, version: 1, status: r.body.status as string,
      nextRefreshAt: r.body.nextRefreshAt ? Date.parse(r.body.nextRefreshAt) : null, expiresAt: r.body.expiresAt ? Date.parse(r.body.expiresAt) : null,
    };
  });
  const byId = new Map(conns.map((c) => [c.id, c]));
  daemon.labelFor = (id) => byId.get(id)?.label;
  say(`  ${ok} registered  ${conns.length} connections with POST /v1/connections, tokens living 4-8 s (${secs(Date.now() - t)})`);
  say('');
  checkAbort();

  // --- the live part ---
  const start = Date.now();
  const total = opts.seconds * 1000;
  const revokeAt = revokeAtMs(opts);
  const elapsed = () => Date.now() - start;
  const events: string[] = [];
  let liveDone = false;
  const event = (text: string) => {
    const line = `${clock(elapsed())}  ${text}`;
    events.push(line);
    if (!tty || liveDone) say(`[${line.replace('  ', '] ')}`);
  };
  const od = { sent: 0, tokens: 0, refusedReauth: 0, errors: 0, invalid: 0, inFlight: 0, servedForRevokedBeforeDaemonKnew: 0 };
  const refreshedPairs = new Set<string>();
  const errorSamples: string[] = [];
  const invalidSamples: string[] = [];
  let victim: Conn | undefined;
  let revokedAt = 0;
  let reauthSeenAt = 0;
  let lastReuse = 0;
  let pollError: string | undefined;
  const rateSamples: { at: number; n: number }[] = [];
  let warnedLines = 0;
  const attempts = { byTrigger: new Map<string, number>(), late: [] as number[] };
  daemon.onLog((l) => {
    if (l.fields?.msg === 'refresh attempt') {
      const trig = `${String(l.fields.trigger)} ${String(l.fields.outcome)}`;
      attempts.byTrigger.set(trig, (attempts.byTrigger.get(trig) ?? 0) + 1);
      if (typeof l.fields.lateMs === 'number' && l.fields.trigger === 'scheduled') attempts.late.push(l.fields.lateMs);
    }
    if (l.level === 'other' || tty || warnedLines >= 10) return;
    warnedLines++;
    say(`  daemon ${l.level}: ${l.text}${warnedLines === 10 ? ' (further daemon lines not shown)' : ''}`);
  });

  const poll = async () => {
    try {
      const r = await api('GET', '/v1/connections?limit=1000');
      if (r.status !== 200) throw new Error(`GET /v1/connections answered ${r.status}`);
      pollError = undefined;
      for (const row of r.body.connections as Array<Record<string, any>>) {
        const c = byId.get(row.id);
        if (!c) continue;
        const was = c.status;
        c.status = row.status;
        c.reauthReason = row.reauthReason ?? undefined;
        c.version = row.version;
        c.nextRefreshAt = row.nextRefreshAt ? Date.parse(row.nextRefreshAt) : null;
        c.expiresAt = row.expiresAt ? Date.parse(row.expiresAt) : null;
        if (was !== 'needs_reauth' && c.status === 'needs_reauth') {
          if (c === victim) {
            reauthSeenAt = Date.now();
            event(`${c.label} → ${st.red('needs_reauth')}, reason "${c.reauthReason}" (seen ${secs(reauthSeenAt - revokedAt)} after the revocation)`);
          } else {
            event(st.red(`UNEXPECTED: ${c.label} → needs_reauth, reason "${c.reauthReason}"`));
          }
        }
      }
    } catch (e) {
      pollError = e instanceof Error ? e.message : String(e);
    }
  };

  const requestToken = async (c: Conn) => {
    od.sent++;
    od.inFlight++;
    try {
      const r = await api('GET', `/v1/connections/${c.id}/token?min_valid_seconds=${MIN_VALID_S}`);
      if (r.status === 200) {
        od.tokens++;
        const at = String(r.body.access_token);
        if (r.body.refreshed) refreshedPairs.add(`${c.id}:${at}`);
        // Would the provider's API accept this token right now?
        const info = fake.checkAccessToken(at);
        if (info.active && info.grantId === c.grantId) return;
        if (c === victim && info.reason === 'revoked') {
          od.servedForRevokedBeforeDaemonKnew++; // the daemon cannot know before its next refresh
          return;
        }
        od.invalid++;
        if (invalidSamples.length < 5) invalidSamples.push(`${c.label}: provider says ${info.reason ?? 'wrong grant'}`);
      } else if (r.status === 409 && r.body?.status === 'needs_reauth') {
        od.refusedReauth++;
      } else {
        od.errors++;
        if (errorSamples.length < 5) errorSamples.push(`${c.label}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 160)}`);
      }
    } catch (e) {
      od.errors++;
      if (errorSamples.length < 5) errorSamples.push(`${c.label}: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      od.inFlight--;
    }
  };

  // Bursts: a few connections at a time, several concurrent callers each, at random moments.
  const inFlight = new Set<Promise<void>>();
  let bursting = true;
  const bursts = (async () => {
    await sleep(500);
    while (bursting && !aborted()) {
      // Mostly connections whose scheduled refresh is about to start, so the two really collide.
      const now = Date.now();
      const dueSoon = conns.filter((c) => c.status === 'active' && c.nextRefreshAt !== null && c.nextRefreshAt - now > -500 && c.nextRefreshAt - now < 1200);
      const picks = new Set<Conn>();
      while (picks.size < Math.min(2, dueSoon.length)) picks.add(dueSoon[randomInt(dueSoon.length)]);
      while (picks.size < Math.min(3, conns.length)) picks.add(conns[randomInt(conns.length)]);
      for (const c of picks) {
        for (let k = 0; k < 4; k++) {
          const p = requestToken(c);
          inFlight.add(p);
          void p.finally(() => inFlight.delete(p));
        }
      }
      await sleep(600 + randomInt(600));
    }
  })();

  const snapshot = (): Snapshot => {
    const stats = fake.stats();
    const now = Date.now();
    rateSamples.push({ at: now, n: stats.successes });
    while (rateSamples.length > 2 && now - rateSamples[1].at >= 5000) rateSamples.shift();
    const first = rateSamples[0];
    const rate = now > first.at ? ((stats.successes - first.n) * 1000) / (now - first.at) : 0;
    const last = daemon.notable.at(-1);
    return {
      elapsedMs: Math.min(elapsed(), total), totalMs: total, refreshes: stats.successes, refreshRate: rate, reuseEvents: stats.reuseEvents,
      conns, onDemand: { ...od, refreshedOnDemand: refreshedPairs.size }, events,
      byTrigger: attempts.byTrigger.size
        ? { scheduled: attempts.byTrigger.get('scheduled rotated') ?? 0, onDemand: attempts.byTrigger.get('on_demand rotated') ?? 0 }
        : undefined,
      daemonWarnings: daemon.warnings, daemonErrors: daemon.errors, lastDaemonLine: last?.text, pollError,
    };
  };

  const live = tty ? new LiveBlock(out) : undefined;
  created.live = live;
  live?.hideCursor();
  event(`${conns.length} connections registered; the daemon takes it from here`);
  let maxExpired = 0;
  let lastLine = 0;
  let tick = 0;
  while (!aborted() && elapsed() < total) {
    await poll();
    if (!victim && elapsed() >= revokeAt) {
      victim = conns[randomInt(conns.length)];
      // The provider's admin API, as a user revoking access in the provider's settings would.
      const r = await fetch(`${fake.url}/_admin/grants/${encodeURIComponent(victim.grantId)}/revoke`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
      await r.text();
      revokedAt = Date.now();
      event(`${st.yellow(`${victim.label} disconnected the app: grant revoked at the provider`)}`);
    }
    const stats = fake.stats();
    if (stats.reuseEvents > lastReuse) {
      event(st.red(`UNEXPECTED: the provider saw ${stats.reuseEvents - lastReuse} refresh token(s) presented twice`));
      lastReuse = stats.reuseEvents;
    }
    const now = Date.now();
    maxExpired = Math.max(maxExpired, expiredNow(conns, now));
    const snap = snapshot();
    if (live) live.draw(renderBlock(snap, st, Math.max(40, (out.columns ?? 100) - 1), now));
    else if (tick === 0 || now - lastLine >= 5000) {
      say(renderLine(snap, now));
      lastLine = now;
    }
    tick++;
    await sleep(1000 - ((Date.now() - start) % 1000));
  }
  bursting = false;
  liveDone = true;
  await bursts;
  await Promise.allSettled([...inFlight]);
  await poll();
  const runStats = fake.stats();
  const runElapsed = elapsed();
  if (live) {
    live.draw(renderBlock(snapshot(), st, Math.max(40, (out.columns ?? 100) - 1), Date.now()));
    live.showCursor();
  } else {
    say(renderLine(snapshot(), Date.now()));
  }
  checkAbort();

  // --- the invariants ---
  say('');
  say(st.bold('Checking the invariants'));
  const checks: Check[] = [];
  const others = conns.filter((c) => c !== victim);
  if (victim && victim.status !== 'needs_reauth') {
    // A short run can end before the victim's next refresh: give the daemon the time it needs.
    say(`  … waiting for the daemon to notice that ${victim.label}'s grant was revoked`);
    const until = Date.now() + (ACCESS_TTL_S + 10) * 1000;
    while (victim.status !== 'needs_reauth' && Date.now() < until && !aborted()) {
      await sleep(500);
      await poll();
    }
    checkAbort();
  }
  const lostWhy = new Map<string, string>();
  const lose = (c: Conn, why: string) => {
    if (!lostWhy.has(c.id)) lostWhy.set(c.id, why);
  };

  // 1. A forced refresh of every other connection: it succeeds only if the refresh token the daemon
  //    stored is the provider's current one (a stale one is a reuse and kills the grant).
  await mapLimit(others, 6, async (c) => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const r = await api('POST', `/v1/connections/${c.id}/refresh`).catch((e: Error) => ({ status: 0, body: { outcome: e.message } }));
      const outcome = r.body?.outcome as string | undefined;
      if (r.status === 200 && (outcome === 'rotated' || outcome === 'lost_race')) return;
      if (r.status === 200 && outcome === 'transient' && attempt < 2) {
        await sleep(500);
        continue;
      }
      lose(c, `forced refresh answered ${r.status} ${outcome ?? JSON.stringify(r.body)}`);
      return;
    }
  });
  // 2. A token for every other connection, checked at the provider.
  await mapLimit(others, 6, async (c) => {
    const r = await api('GET', `/v1/connections/${c.id}/token?min_valid_seconds=1`).catch((e: Error) => ({ status: 0, body: { error: e.message } }));
    if (r.status !== 200) return lose(c, `GET /token answered ${r.status} ${JSON.stringify(r.body)}`);
    const info = fake.checkAccessToken(String(r.body.access_token));
    if (!info.active || info.grantId !== c.grantId) lose(c, `the provider rejects its access token (${info.reason ?? 'wrong grant'})`);
  });
  // 3. Every token the provider issued was stored: version - 1 == rotations at the provider.
  //    (A refresh may still be finishing, so give the two a moment to agree.)
  let mismatched: Conn[] = [];
  for (let attempt = 0; attempt < 10; attempt++) {
    await poll();
    const ledger = fake.ledger();
    const grants = new Map(ledger.grants.map((g) => [g.grantId, g]));
    mismatched = others.filter((c) => {
      const g = grants.get(c.grantId);
      return !g || g.status !== 'active' || c.status !== 'active' || c.version - 1 !== g.issued.length - 1;
    });
    if (!mismatched.length) break;
    await sleep(500);
  }
  const ledger = fake.ledger();
  const grants = new Map(ledger.grants.map((g) => [g.grantId, g]));
  for (const c of mismatched) {
    const g = grants.get(c.grantId);
    if (c.status !== 'active') lose(c, `status ${c.status}${c.reauthReason ? ` (${c.reauthReason})` : ''}`);
    else if (!g || g.status !== 'active') lose(c, `its grant is ${g?.status ?? 'unknown'} at the provider${g?.revokedBy ? ` (by ${g.revokedBy})` : ''}`);
    else lose(c, `stored version ${c.version} but the provider rotated ${g.issued.length - 1} times`);
  }

  const finalStats = fake.stats();
  const reusedGrants = ledger.grants.filter((g) => g.revokedBy === 'reuse').length;
  checks.push({
    name: 'no refresh token spent twice',
    ok: finalStats.reuseEvents === 0 && ledger.reuses.length === 0 && reusedGrants === 0,
    detail: `${finalStats.reuseEvents} reuse events at the provider, ${reusedGrants} grants killed by reuse detection`,
  });
  const reauth = conns.filter((c) => c.status === 'needs_reauth');
  let victimToken: ApiReply | undefined;
  if (victim) victimToken = await api('GET', `/v1/connections/${victim.id}/token`).catch(() => undefined);
  const victimOk = Boolean(victim) && reauth.length === 1 && reauth[0] === victim && victim!.reauthReason === 'revoked'
    && victimToken?.status === 409 && victimToken.body?.reauthReason === 'revoked';
  checks.push({
    name: 'exactly the revoked connection needs re-authorization',
    ok: victimOk,
    detail: victim
      ? `${reauth.length} needs_reauth: ${reauth.map((c) => `${c.label} ("${c.reauthReason}")`).join(', ') || 'none'}; GET /token on ${victim.label} answers ${victimToken?.status ?? '?'} ${JSON.stringify(victimToken?.body ?? null)}`
      : 'the run ended before the revocation',
  });
  checks.push({
    name: 'every other connection is active and holds the current tokens',
    ok: lostWhy.size === 0,
    detail: lostWhy.size === 0
      ? `${others.length} of ${others.length}: a forced refresh with the stored refresh token succeeded, the access token is accepted by the provider, stored versions match the provider's rotations`
      : [...lostWhy].slice(0, 5).map(([id, why]) => `${byId.get(id)!.label}: ${why}`).join('; '),
  });
  checks.push({
    name: 'every token served on demand was accepted by the provider',
    ok: od.invalid === 0 && od.tokens > 0,
    detail: `${od.tokens} tokens served, ${od.invalid} rejected${invalidSamples.length ? ` (${invalidSamples.join('; ')})` : ''}`,
  });
  if (victim && victimOk) {
    say('');
    say(st.bold(`Reconnecting ${victim.label} through the hosted connect flow`));
    const r = await reconnectWalk({ api, provider: PROVIDER_KEY, connectionId: victim.id, externalId: victim.label, user: victim.label, returnUrl: 'http://127.0.0.1:9/demo-app/connected', say });
    checks.push({ name: 'the revoked connection comes back active with the same id after a reconnect', ok: r.ok, detail: r.detail });
  }
  checks.push({ name: 'the daemon kept running', ok: daemon.running, detail: daemon.running ? `pid ${daemon.pid}` : `exited with ${daemon.exitCode ?? daemon.exitSignal}` });
  for (const c of checks) say(`  ${c.ok ? ok : bad} ${c.name}: ${st.dim(c.detail)}`);
  if (errorSamples.length) say(`  ${st.yellow('!')} on-demand errors (not counted as a failure): ${errorSamples.join('; ')}`);

  // --- stop the daemon (part of the demo: SIGTERM drains in-flight refreshes, then exit 0) ---
  say('');
  say(st.bold('Cleaning up'));
  t = Date.now();
  const wasRunning = daemon.running;
  const stopped = await daemon.stop(20_000);
  const cleanExit = wasRunning && stopped.code === 0 && !stopped.forced;
  say(`  ${cleanExit ? ok : bad} ${!wasRunning
    ? `the daemon had already exited (${stopped.code ?? stopped.signal})`
    : `stopped the daemon with SIGTERM: ${stopped.forced ? 'it did not exit in 20 s and was killed' : `exit ${stopped.code ?? stopped.signal} after ${secs(Date.now() - t)}`}`}`);
  checks.push({ name: 'the daemon shut down cleanly on SIGTERM', ok: cleanExit, detail: `exit ${stopped.code ?? stopped.signal}${stopped.forced ? ' (killed)' : ''}` });
  await cleanup();

  // --- summary ---
  const passed = checks.every((c) => c.ok);
  const revokedSummary = victim
    ? reauth.map((c) => `${c.label}, reason "${c.reauthReason}"${c === victim ? '' : ' (UNEXPECTED)'}`).join('; ') || `none (expected ${victim.label})`
    : 'none (the run ended before the revocation)';
  say('');
  say(st.bold('Summary'));
  const row = (k: string, v: string) => say(`  ${k.padEnd(20)}${v}`);
  row('ran for', `${secs(runElapsed)} with ${conns.length} connections (tokens living 4-8 s, then ${ACCESS_TTL_S} s)`);
  const refused = runStats.refreshRequests - runStats.successes;
  row('refreshes', `${runStats.successes} done at the provider (${((runStats.successes * 1000) / Math.max(1, runElapsed)).toFixed(1)}/s), ${refreshedPairs.size} of them on demand; ${refused} refused${victim ? ` (${victim.label}'s revoked grant)` : ''}`);
  if (attempts.byTrigger.size) {
    const late = [...attempts.late].sort((a, b) => a - b);
    const pct = (q: number) => late[Math.min(late.length - 1, Math.floor(q * late.length))] ?? 0;
    const names: Record<string, string> = { scheduled: 'by the scheduler', on_demand: 'on demand', forced: 'forced (the final check)' };
    const groups = new Map<string, string[]>();
    for (const [k, n] of [...attempts.byTrigger].sort((a, b) => b[1] - a[1])) {
      const [trig, outcome] = k.split(' ');
      groups.set(trig, [...(groups.get(trig) ?? []), `${n} ${outcome}`]);
    }
    row('  attempts', [...groups].map(([trig, l]) => `${names[trig] ?? trig}: ${l.join(' + ')}`).join('; '));
    if (late.length) row('  lateness', `scheduled refreshes started p50 ${pct(0.5)} ms, p95 ${pct(0.95)} ms, max ${late[late.length - 1]} ms after their planned time`);
  }
  row('on-demand requests', `${od.sent} GET /token: ${od.tokens} tokens, ${od.refusedReauth} refused as needs_reauth, ${od.errors} errors, ${od.invalid} tokens rejected by the provider`);
  row('reuse events', `${finalStats.reuseEvents}${finalStats.reuseEvents === 0 ? ' (no refresh token was presented twice)' : st.red(' (a refresh token was presented twice)')}`);
  row('needs_reauth', `${reauth.length}: ${revokedSummary}${reauthSeenAt ? `, seen ${secs(reauthSeenAt - revokedAt)} after the revocation` : ''}`);
  row('lost', `${lostWhy.size}${lostWhy.size === 0 ? ' (every other connection is active with the provider\'s current tokens)' : ''}`);
  row('expired tokens', `at most ${maxExpired} active connection(s) past expiry at any poll (a late refresh, not a failure)`);
  const verdict = passed
    ? 'PASS: no token spent twice, the revoked grant became needs_reauth ("revoked"), nothing else lost'
    : `FAIL: ${checks.filter((c) => !c.ok).map((c) => c.name).join('; ')}`;
  say(`  ${'verdict'.padEnd(20)}${passed ? st.green(st.bold(verdict)) : st.red(st.bold(verdict))}`);

  if (opts.json) {
    process.stdout.write(`${JSON.stringify({
      ok: passed,
      seconds: Math.round(runElapsed / 100) / 10,
      connections: conns.length,
      refreshes: runStats.successes,
      refreshesOnDemand: refreshedPairs.size,
      onDemand: { requests: od.sent, tokens: od.tokens, refusedNeedsReauth: od.refusedReauth, errors: od.errors, rejectedByProvider: od.invalid },
      reuseEvents: finalStats.reuseEvents,
      needsReauth: reauth.map((c) => ({ externalId: c.label, id: c.id, reason: c.reauthReason ?? null, expected: c === victim })),
      revoked: victim ? { externalId: victim.label, id: victim.id, detectedAfterMs: reauthSeenAt ? reauthSeenAt - revokedAt : null } : null,
      lost: lostWhy.size,
      lostDetail: [...lostWhy].map(([id, why]) => ({ externalId: byId.get(id)!.label, why })),
      maxExpiredAtOnce: maxExpired,
      checks,
      verdict,
    }, null, 2)}\n`);
  }
  const notable = daemon.notable;
  if (!passed && notable.length) {
    say('');
    say(st.dim('last daemon warnings and errors:'));
    for (const l of notable.slice(-10)) say(st.dim(`  ${l.level}: ${l.text}`));
  }
  return passed ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// Clean-up: always, and each part on its own (one failing does not skip the others).
// ---------------------------------------------------------------------------------------------

let cleanedUp = false;
async function cleanup(): Promise<void> {
  if (cleanedUp) return;
  cleanedUp = true;
  created.live?.showCursor();
  const step = async (what: string, f: () => Promise<string | undefined>) => {
    try {
      const done = await f();
      if (done) say(`  ${ok} ${done}`);
    } catch (e) {
      say(`  ${bad} ${what} failed: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`);
    }
  };
  await step('stopping the daemon', async () => {
    if (!created.daemon) return undefined;
    const wasRunning = created.daemon.running;
    const r = await created.daemon.stop(20_000);
    return wasRunning ? `stopped the daemon (exit ${r.code ?? r.signal}${r.forced ? ', killed after 20 s' : ''})` : undefined;
  });
  await step('stopping the fake provider', async () => {
    if (!created.fake) return undefined;
    await created.fake.close();
    return 'stopped the fake provider';
  });
  await step(`dropping database ${created.dbName}`, async () => {
    if (!created.dbCreated || !created.dbUrl) return undefined;
    await dropDatabase(created.dbUrl);
    return `dropped database ${created.dbName}`;
  });
  await step(`deleting Redis keys ${created.prefix}*`, async () => {
    if (!created.prefix || !created.redisUrl) return undefined;
    const r = new Redis(created.redisUrl, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 1 });
    r.on('error', () => undefined);
    try {
      await r.connect();
      let cursor = '0';
      let n = 0;
      do {
        const [next, keys] = await r.scan(cursor, 'MATCH', `${globEscape(created.prefix)}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) n += await r.unlink(...keys);
      } while (cursor !== '0');
      return `deleted ${n} Redis keys under ${created.prefix}`;
    } finally {
      r.disconnect();
    }
  });
  if (created.tmpDir) rmSync(created.tmpDir, { recursive: true, force: true });
}

let code = 1;
try {
  code = await main();
} catch (e) {
  created.live?.showCursor();
  if (e instanceof Interrupted || aborted()) {
    code = 130;
  } else {
    say('');
    process.stderr.write(`demo: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}\n`);
    code = 1;
  }
  if (!cleanedUp) {
    say(st.bold('Cleaning up'));
    await cleanup();
  }
  if (code === 130) say(st.yellow('interrupted before the end: no verdict'));
} finally {
  if (!cleanedUp) await cleanup();
}
if (aborted() && code === 0) code = 130;
process.exit(code);
