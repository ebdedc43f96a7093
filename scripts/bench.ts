// `npm run bench`: measures the refresh pipeline against this machine's own limits.
//
// Runs against the local PostgreSQL (its own fresh database ort_bench_<rand>, dropped at the end)
// and the shared Redis (its own QUEUE_PREFIX; only those keys are deleted at the end, never
// FLUSHALL), with a fake token endpoint on 127.0.0.1 that answers at once with a rotation.
//
// Prints progress on stderr, one table on stdout, then one JSON line (the same figures).
//
// Flags:
//   --quick              smaller everything (under 3 minutes): 20k lateness, 100k instead of 1M
//   --no-million         skip the 1,000,000-connection phase (seed, feed, memory, query plan)
//   --json               print only the JSON line on stdout
//   --concurrency=10,25,50    BullMQ worker concurrency settings (provider `concurrency`; the pool is
//                        concurrency+5, at most 50, and PostgreSQL's max_connections is shared)
//   --procs=2            daemon processes for the scale-out comparison (at the best concurrency <= 25)
//   --duration=12        seconds per end-to-end throughput phase
//   --lateness-n=100000 --lateness-rate=1000 --lateness-procs=1
//   --keep               keep the database and Redis keys (for inspection)
//   --phases=ceilings,e2e,lateness,waves,million,outbox   run only these (e.g. --phases=e2e to profile,
//                        --phases=outbox for the webhook dispatcher's claim plan alone; see docs/performance.md)
//   --wave-n=3000 --wave-latency=50   registration burst size and provider latency (ms) of the waves phase
//   --outbox-n=1000000 --outbox-pending=10000   outbox rows seeded for the dispatcher plan, and how many undelivered
//   --cluster            end to end on a 3x2 Redis Cluster of its own beside one redis-server of its own
//                        (same settings, same run): rotations/s, CPU and Redis commands per rotation, the ratio
//   --phases=token-reads --reads-n=1000 --reads-concurrency=32 --reads-duration=10   GET .../token on fresh
//                        tokens through a daemon (ROLES=api) beside PostgreSQL's prepared point-select rate
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { Queue, Worker } from 'bullmq';
import pino from 'pino';
import { applyMigrations, dropDatabase } from './lib/migrations.ts';
import { Keyring } from '../worker/crypto/keyring.ts';
import { createDb } from '../worker/store/db.ts';
import { ConnectionStore } from '../worker/store/connections.ts';
import { Queues, REFRESH_JOB_OPTS } from '../worker/schedule/queues.ts';
import { queuePrefixFor } from '../worker/redis/keys.ts';
import { FEEDER_PAGE_SQL, Scheduler } from '../worker/schedule/scheduler.ts';
import { OUTBOX_CLAIM_SQL } from '../worker/store/outbox.ts';
import { WEBHOOK_DEFAULTS } from '../worker/webhooks/dispatcher.ts';
import {
  deleteKeys,
  fmt,
  perRotation,
  redisCounters,
  pct,
  prefixMemory,
  progress,
  providerInFlight,
  redisUsedMemory,
  seedConnections,
  setProviderLatency,
  sleep,
  startDaemonProcess,
  startProviderProcess,
} from './bench/lib.ts';
import { planNextRefresh } from '../worker/refresh/plan.ts';
import { CpuMeter } from './bench/cpu.ts';
import { clientReads, cpuPerRead, freePort, pgPointSelects, tokenReads, waitForHttp } from './bench/token-reads.ts';
import { createRedis, masters, targetFromEnv, type RedisClient, type RedisTarget } from '../worker/redis/connect.ts';
import { LocalRedisCluster, LocalRedisServer } from '../test/helpers/redis-cluster.ts';

// ---------- options ----------
const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const opt = (name: string, def: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? def;
const QUICK = flag('quick');
const MILLION = !flag('no-million');
const JSON_ONLY = flag('json');
const KEEP = flag('keep');
const CONCURRENCY = opt('concurrency', '10,25,50')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const PROCS = Number(opt('procs', '2'));
const DURATION_S = Number(opt('duration', QUICK ? '6' : '12'));
const LATE_N = Number(opt('lateness-n', QUICK ? '20000' : '100000'));
const LATE_RATE = Number(opt('lateness-rate', '1000'));
const LATE_PROCS = Number(opt('lateness-procs', '1'));
const BIG_N = Number(opt('million-n', QUICK ? '100000' : '1000000'));
const CEIL_S = QUICK ? 2 : 4;
const PHASES = new Set(opt('phases', 'ceilings,e2e,lateness,waves,million,outbox').split(','));
const WAVE_N = Number(opt('wave-n', QUICK ? '1500' : '3000'));
const WAVE_LATENCY_MS = Number(opt('wave-latency', '50'));
const OUTBOX_N = Number(opt('outbox-n', QUICK ? '100000' : '1000000'));
const OUTBOX_PENDING = Number(opt('outbox-pending', '10000'));
const READS_N = Number(opt('reads-n', '1000'));
const READS_C = Number(opt('reads-concurrency', '32'));
const READS_S = Number(opt('reads-duration', QUICK ? '5' : '10'));
const BULL_JOBS = QUICK ? 5000 : 20000;

const BASE_URL = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/oauth_refresher';
const CLUSTER = flag('cluster');
/** Where the bench's clients and daemons go: REDIS_URL / REDIS_CLUSTER_NODES, or (--cluster) each of its own servers in turn. */
let TARGET: RedisTarget = targetFromEnv();
/** The pids of the Redis servers the bench started (--cluster): their CPU is counted apart. */
let REDIS_PIDS: number[] = [];
const queueConn = () => createRedis(TARGET, { role: 'queue' });
const RUN = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const dbUrl = (() => {
  const u = new URL(BASE_URL);
  u.pathname = `/ort_bench_${RUN}`;
  return u.toString();
})();
const PREFIX = `{ort-bench-${RUN}}`;
process.env.ORT_BENCH_DB = `ort_bench_${RUN}`; // CpuMeter counts only this database's PostgreSQL backends
const ENC_KEY = randomBytes(32);
const API_KEY = `bench-${randomBytes(12).toString('hex')}`;
const poolSizeFor = (c: number) => Math.max(10, Math.min(50, c + 5)); // as in daemon.ts

const out: Record<string, any> = {
  date: new Date().toISOString(),
  command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  },
};

const keyring = new Keyring([{ id: 'k1', key: ENC_KEY }]);
const seedTokens = {
  accessTokenEnc: keyring.encrypt('at-bench-seed-0123456789abcdef'),
  refreshTokenEnc: keyring.encrypt('rt-bench-seed-0123456789abcdef'),
  encKeyId: 'k1',
};

let pool: pg.Pool;
let redis: RedisClient;
let provider: Awaited<ReturnType<typeof startProviderProcess>> | undefined;
const children: { stop: () => Promise<void> }[] = [];

function daemonEnv(extra: Record<string, string>): Record<string, string> {
  return {
    NODE_ENV: 'production',
    DATABASE_URL: dbUrl,
    ...redisEnv(TARGET),
    API_KEY,
    ENCRYPTION_KEY: ENC_KEY.toString('base64'),
    ALLOW_INSECURE_TOKEN_URLS: 'true',
    QUEUE_PREFIX: PREFIX,
    ROLES: 'worker',
    HORIZON_MS: String(2 * 3600_000), // the next refresh (45 min out) stays in Redis: every job is rescheduled
    LOG_LEVEL: 'warn',
    LOG_PRETTY: 'false',
    PORT: '0',
    METRICS_PORT: '0', // several worker processes on one host: no metrics listeners to collide
    ...extra,
  };
}

function redisEnv(t: RedisTarget): Record<string, string> {
  if (t.kind === 'single') return { REDIS_URL: t.url, REDIS_CLUSTER_NODES: '' };
  return { REDIS_CLUSTER_NODES: t.nodes.map((n) => `${n.host}:${n.port}`).join(',') };
}

function providersFile(key: string, concurrency: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'ort-bench-'));
  const file = join(dir, 'providers.json');
  writeFileSync(
    file,
    JSON.stringify({
      providers: {
        [key]: {
          tokenUrl: provider!.url,
          clientId: 'bench-client',
          clientSecret: 'bench-secret',
          clientAuth: 'basic',
          rotation: 'always',
          concurrency,
        },
      },
    }),
  );
  return file;
}

// ---------- ceilings ----------
async function pgCeiling(c: number): Promise<{ rate: number; cpuMsPerOp: Record<string, number> }> {
  const key = `ceil${c}`;
  await seedConnections(pool, {
    provider: key,
    n: c,
    startMs: Date.now() - 1000,
    spreadMs: 1,
    externalPrefix: 'c-',
    ...seedTokens,
  });
  const ids = (await pool.query<{ id: string }>(`SELECT id FROM "Connection" WHERE provider = $1`, [key])).rows.map(
    (r) => r.id,
  );
  const attempts = (
    await pool.query<{ id: string; connectionId: string }>(
      `INSERT INTO "RefreshAttempt" (id, "connectionId", provider, trigger, "workerId", "versionBefore")
     SELECT gen_random_uuid(), id, provider, 'scheduled', 'bench', 1 FROM "Connection" WHERE provider = $1 RETURNING id, "connectionId"`,
      [key],
    )
  ).rows;
  const db = createDb(dbUrl, { poolSize: poolSizeFor(c) });
  const store = new ConnectionStore(db);
  await db.$queryRaw`SELECT 1`;
  let count = 0;
  let measuring = false;
  let stop = false;
  let failed: unknown;
  const loop = async (i: number) => {
    try {
      await loopBody(i);
    } catch (e) {
      failed ??= e;
      stop = true;
    }
  };
  const loopBody = async (i: number) => {
    const connectionId = ids[i];
    const attemptId = attempts.find((a) => a.connectionId === connectionId)!.id;
    for (let v = 1; !stop; v++) {
      const now = new Date();
      const r = await store.commitRotation({
        connectionId,
        attemptId,
        versionBefore: v,
        accessTokenEnc: seedTokens.accessTokenEnc,
        refreshTokenEnc: `${seedTokens.refreshTokenEnc}${v % 2}`,
        encKeyId: 'k1',
        tokenType: 'Bearer',
        expiresAt: new Date(now.getTime() + 3600_000),
        metadata: {},
        now,
        nextRefreshAt: new Date(now.getTime() + 2700_000),
        httpStatus: 200,
        durationMs: 1,
        commitWindowUs: 1,
      });
      if (r !== v + 1) throw new Error(`fence rejected a bench commit (${r})`);
      if (measuring) count++;
    }
  };
  const loops = ids.map((_id, i) => loop(i));
  await sleep(500);
  measuring = true;
  const t0 = performance.now();
  const cpu = new CpuMeter({});
  const own0 = process.cpuUsage();
  await sleep(CEIL_S * 1000);
  const own = process.cpuUsage(own0);
  const pcts = cpu.stop();
  const rate = count / ((performance.now() - t0) / 1000);
  stop = true;
  await Promise.all(loops);
  await db.$disconnect();
  if (failed) throw failed instanceof Error ? failed : new Error('a bench loop failed');
  return {
    rate,
    cpuMsPerOp: {
      node: (own.user + own.system) / 1000 / count,
      postgres: ((pcts.postgres / 100) * cpu.seconds * 1000) / count,
      redis: ((pcts.redis / 100) * cpu.seconds * 1000) / count,
    },
  };
}

async function bullCeiling(c: number): Promise<{ rate: number; cpuMsPerOp: Record<string, number> }> {
  const name = `ceil-bull-${c}`;
  const conn = queueConn();
  const q = new Queue(name, { connection: conn, prefix: queuePrefixFor(PREFIX, name) });
  for (let i = 0; i < BULL_JOBS; i += 1000) {
    await q.addBulk(
      Array.from({ length: Math.min(1000, BULL_JOBS - i) }, (_x, j) => ({
        name: 'e',
        data: { i: i + j },
        opts: { jobId: `j${i + j}`, removeOnComplete: true, removeOnFail: true },
      })),
    );
  }
  let done = 0;
  let resolveAll!: () => void;
  const all = new Promise<void>((r) => {
    resolveAll = r;
  });
  const w = new Worker(
    name,
    async () => {
      if (++done === BULL_JOBS) resolveAll();
    },
    {
      connection: conn,
      prefix: queuePrefixFor(PREFIX, name),
      concurrency: c,
      autorun: false,
      removeOnComplete: { count: 0 },
    },
  );
  const t0 = performance.now();
  const cpu = new CpuMeter({});
  const own0 = process.cpuUsage();
  void w.run();
  await all;
  const own = process.cpuUsage(own0);
  const pcts = cpu.stop();
  const rate = BULL_JOBS / ((performance.now() - t0) / 1000);
  const cpuMsPerOp = {
    node: (own.user + own.system) / 1000 / BULL_JOBS,
    postgres: ((pcts.postgres / 100) * cpu.seconds * 1000) / BULL_JOBS,
    redis: ((pcts.redis / 100) * cpu.seconds * 1000) / BULL_JOBS,
  };
  await w.close();
  await q.obliterate({ force: true }).catch(() => undefined);
  await q.close();
  await conn.quit();
  return { rate, cpuMsPerOp };
}

// ---------- end to end ----------
interface E2E {
  key: string;
  procs: number;
  concurrency: number;
  rotated: number;
  other: number;
  rate: number;
  windowS: number;
  commitP50Us: number;
  commitP99Us: number;
  /** A refresh from its start to its commit (RefreshAttempt.durationMs). */
  durationP50Ms: number;
  durationP99Ms: number;
  cpu: Record<string, number>;
  daemonCpuMsPerRotation: number;
  cpuMsPerRotation: Record<string, number>;
  /** What the Redis masters did per rotation while the daemons rotated (after the enqueue, before they stop). */
  redisPerRotation: ReturnType<typeof perRotation>;
  /** PostgreSQL WAL bytes per rotation in the same window (the server's whole WAL: other users count too). */
  walBytesPerRotation: number;
}

async function enqueueDueNow(key: string): Promise<number> {
  const conn = queueConn();
  const queues = new Queues(conn, PREFIX);
  const [q] = queues.refreshQueues(key);
  const rows = (
    await pool.query<{ id: string; at: Date }>(
      `SELECT id, "nextRefreshAt" AS at FROM "Connection" WHERE provider = $1 ORDER BY "nextRefreshAt", id`,
      [key],
    )
  ).rows;
  for (let i = 0; i < rows.length; i += 1000) {
    await q.addBulk(
      rows.slice(i, i + 1000).map((r) => ({
        name: 'refresh',
        data: { connectionId: r.id, trigger: 'feeder' as const, plannedAt: r.at.getTime() },
        opts: { ...REFRESH_JOB_OPTS, jobId: r.id },
      })),
    );
  }
  await queues.close();
  await conn.quit();
  return rows.length;
}

async function waitForWorkers(key: string, n: number): Promise<void> {
  const conn = queueConn();
  const q = new Queue(`refresh-${key}`, { connection: conn, prefix: queuePrefixFor(PREFIX, `refresh-${key}`) });
  const deadline = Date.now() + 60_000;
  try {
    while ((await q.getWorkers()).length < n) {
      if (Date.now() > deadline)
        throw new Error(`only ${(await q.getWorkers()).length} of ${n} daemon workers came up within 60 s`);
      await sleep(200);
    }
  } finally {
    await q.close();
    await conn.quit();
  }
}

async function startDaemons(key: string, procs: number, c: number) {
  const file = providersFile(key, c);
  // Each process's pool is concurrency + 5 unless that would not fit PostgreSQL's free connections
  // (several processes at a high concurrency): then the free connections are shared out.
  const dbPool = Math.max(5, Math.min(poolSizeFor(c), Math.floor(((await freeConnections()) - 8) / procs)));
  if (dbPool < poolSizeFor(c))
    progress(`${key}: ${procs} processes share PostgreSQL's free connections: DATABASE_POOL_SIZE=${dbPool} each`);
  const ds = Array.from({ length: procs }, (_x, i) =>
    startDaemonProcess(
      daemonEnv({
        PROVIDERS_FILE: file,
        WORKER_CONCURRENCY: String(c),
        WORKER_ID: `bench-${key}-${i}`,
        DATABASE_POOL_SIZE: String(dbPool),
      }),
      `${key}#${i}`,
    ),
  );
  children.push(...ds);
  await waitForWorkers(key, procs);
  return ds;
}

async function e2e(procs: number, c: number, n: number, label = ''): Promise<E2E> {
  const key = `e2e${label}-p${procs}-c${c}`;
  await seedConnections(pool, {
    provider: key,
    n,
    startMs: Date.now() - 2000,
    spreadMs: 1000,
    externalPrefix: 'e-',
    ...seedTokens,
  });
  const ds = await startDaemons(key, procs, c);
  const cpu = new CpuMeter({
    daemons: ds.map((d) => d.child.pid!),
    provider: [provider!.child.pid!],
    ...(REDIS_PIDS.length ? { redisOwn: REDIS_PIDS } : {}),
  });
  await enqueueDueNow(key);
  const rotations = async () =>
    Number(
      (await pool.query(`SELECT count(*) FROM "RefreshAttempt" WHERE provider = $1 AND outcome = 'rotated'`, [key]))
        .rows[0].count,
    );
  const lsn = async () => (await pool.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l')).rows[0].l;
  const [r0, k0, w0] = [await rotations(), await redisCounters(redis), await lsn()];
  const t0 = Date.now();
  for (;;) {
    await sleep(500);
    const done = Number(
      (
        await pool.query(`SELECT count(*) FROM "RefreshAttempt" WHERE provider = $1 AND "finishedAt" IS NOT NULL`, [
          key,
        ])
      ).rows[0].count,
    );
    if (done >= n || Date.now() - t0 > DURATION_S * 1000) break;
  }
  const [k1, w1, r1] = [await redisCounters(redis), await lsn(), await rotations()];
  const redisPerRotation = perRotation(k0, k1, r1 - r0);
  const wal = (await pool.query<{ d: string }>('SELECT pg_wal_lsn_diff($1, $2)::text AS d', [w1, w0])).rows[0].d;
  const walBytesPerRotation = Number(wal) / Math.max(1, r1 - r0);
  const cpuPct = cpu.stop();
  await Promise.all(ds.map((d) => d.stop()));
  const r = await pool.query<{ f: Date; outcome: string | null; cw: number | null; ms: number | null }>(
    `SELECT "finishedAt" AS f, outcome, "commitWindowUs" AS cw, "durationMs" AS ms FROM "RefreshAttempt" WHERE provider = $1 AND "finishedAt" IS NOT NULL ORDER BY "finishedAt"`,
    [key],
  );
  const rotated = r.rows.filter((x) => x.outcome === 'rotated');
  const times = rotated.map((x) => x.f.getTime());
  // Steady state: from 1 s after the first finished refresh (pools and JIT warm) to the last one.
  const from = times[0] + 1000;
  const to = times[times.length - 1];
  const inWindow = times.filter((t) => t > from && t <= to).length;
  const windowS = (to - from) / 1000;
  const cw = rotated.map((x) => x.cw ?? 0).sort((a, b) => a - b);
  const ms = rotated.map((x) => x.ms ?? 0).sort((a, b) => a - b);
  // CPU cost per rotation: robust to other load on the machine (it measures work, not waiting).
  const perRot = (p: number) => ((p / 100) * cpu.seconds * 1000) / Math.max(1, rotated.length);
  return {
    key,
    procs,
    concurrency: c,
    rotated: rotated.length,
    other: r.rows.length - rotated.length,
    rate: windowS > 0 ? inWindow / windowS : NaN,
    windowS,
    commitP50Us: pct(cw, 50),
    commitP99Us: pct(cw, 99),
    durationP50Ms: pct(ms, 50),
    durationP99Ms: pct(ms, 99),
    cpu: cpuPct,
    daemonCpuMsPerRotation: perRot(cpuPct.daemons),
    cpuMsPerRotation: Object.fromEntries(Object.entries(cpuPct).map(([k, v]) => [k, perRot(v)])),
    redisPerRotation,
    walBytesPerRotation,
  };
}

// ---------- one Redis beside a cluster (--cluster) ----------
/**
 * The same end-to-end phase on one redis-server of the bench's own and on a 3 masters + 3 replicas
 * cluster of its own (same settings): rotations/s, CPU per rotation, and what Redis did per rotation
 * (INFO commandstats and client bytes of the masters while the daemon rotates: refresh, lock, reschedule).
 */
async function clusterComparison(c: number, n: number) {
  const single = new LocalRedisServer();
  const cluster = new LocalRedisCluster();
  await Promise.all([single.start(), cluster.start()]);
  const saved = { target: TARGET, redis };
  const sides: (E2E & { redisTarget: string; keysPerMaster: number[] })[] = [];
  try {
    const targets: [string, RedisTarget, number[]][] = [
      ['one', { kind: 'single', url: single.url }, [single.proc!.pid!]],
      [
        'cluster',
        { kind: 'cluster', nodes: cluster.nodes.map((x) => ({ host: '127.0.0.1', port: x.port })) },
        cluster.nodes.map((x) => x.proc.pid!),
      ],
    ];
    for (const [label, target, pids] of targets) {
      TARGET = target;
      REDIS_PIDS = pids;
      redis = createRedis(TARGET, { role: 'general' });
      progress(`cluster: end-to-end on ${label === 'one' ? 'one redis-server' : 'a 3x2 cluster'}, concurrency ${c}`);
      const r = await e2e(1, c, n, `-${label}`);
      const keysPerMaster = await Promise.all(masters(redis).map((m) => m.dbsize()));
      sides.push({ ...r, redisTarget: label, keysPerMaster });
      progress(
        `cluster: ${label}: ${fmt(r.rate)} rotations/s, daemon CPU ${fmt(r.daemonCpuMsPerRotation, 3)} ms/rotation`,
      );
      await redis.quit();
    }
  } finally {
    TARGET = saved.target;
    redis = saved.redis;
    REDIS_PIDS = [];
    single.stop();
    await cluster.stop();
  }
  const [one, cl] = sides;
  return {
    concurrency: c,
    connections: n,
    sides,
    ratio: {
      rate: cl.rate / one.rate,
      daemonCpuMsPerRotation: cl.daemonCpuMsPerRotation / one.daemonCpuMsPerRotation,
      redisCpuMsPerRotation: cl.cpuMsPerRotation.redisOwn / one.cpuMsPerRotation.redisOwn,
      redisCommandsPerRotation: cl.redisPerRotation.commands / one.redisPerRotation.commands,
    },
  };
}

// ---------- lateness ----------
async function lateness(c: number, procs: number) {
  const key = 'late';
  const spreadMs = (LATE_N / LATE_RATE) * 1000;
  // Time to enqueue (>= 3,000 jobs/s assumed) and start the daemons before the first one is due;
  // jobs planned before the daemons were ready are left out of the lateness figures (and counted).
  const leadMs = 10_000 + LATE_N / 3;
  const startMs = Date.now() + leadMs;
  // Only these are due: rows left over from the throughput phases are taken off the schedule.
  await pool.query(`UPDATE "Connection" SET "nextRefreshAt" = NULL WHERE provider <> $1`, [key]);
  await seedConnections(pool, { provider: key, n: LATE_N, startMs, spreadMs, externalPrefix: 'l-', ...seedTokens });
  await pool.query(
    `CREATE TABLE bench_plan AS SELECT id, "nextRefreshAt" AS planned FROM "Connection" WHERE provider = $1`,
    [key],
  );
  await pool.query(`ANALYZE "Connection"`);
  // Enqueue with the real feeder (horizon covers them all): the 100k enqueue time and Redis memory per job.
  const conn = queueConn();
  const queues = new Queues(conn, PREFIX);
  const db = createDb(dbUrl, { poolSize: 4 });
  const sched = new Scheduler(db, queues, pino({ level: 'silent' }), { horizonMs: 15 * 60_000 });
  const pm0 = await prefixMemory(redis, PREFIX);
  const mem0 = await redisUsedMemory(redis);
  const t0 = performance.now();
  const fed = await sched.feed();
  const enqueueS = (performance.now() - t0) / 1000;
  const mem1 = await redisUsedMemory(redis);
  const pm1 = await prefixMemory(redis, PREFIX);
  const bytesPerJob = (pm1.bytes - pm0.bytes) / Math.max(1, fed.enqueued);
  progress(
    `lateness: fed ${fed.enqueued} jobs in ${enqueueS.toFixed(1)} s (${fmt(bytesPerJob)} B/job by MEMORY USAGE, ${fmt((mem1 - mem0) / Math.max(1, fed.enqueued))} B/job by INFO delta); first due in ${((startMs - Date.now()) / 1000).toFixed(0)} s`,
  );
  if (Date.now() > startMs - 5000)
    progress('lateness: WARNING enqueue took longer than the lead time; early jobs start late');
  const ds = await startDaemons(key, procs, c);
  const readyAt = Date.now();
  const cpu = new CpuMeter({ daemons: ds.map((d) => d.child.pid!), provider: [provider!.child.pid!] });
  const endMs = startMs + spreadMs;
  for (;;) {
    await sleep(1000);
    const done = Number(
      (await pool.query(`SELECT count(*) FROM "RefreshAttempt" WHERE provider = $1`, [key])).rows[0].count,
    );
    if (Date.now() > endMs && (done >= LATE_N || Date.now() > endMs + 30_000)) break;
    if (Date.now() % 10_000 < 1000) progress(`lateness: ${done}/${LATE_N} started`);
  }
  const cpuPct = cpu.stop();
  await Promise.all(ds.map((d) => d.stop()));
  const r = await pool.query<{ late: number }>(
    `SELECT EXTRACT(EPOCH FROM (a."startedAt" - p.planned)) * 1000 AS late
     FROM "RefreshAttempt" a JOIN bench_plan p ON p.id = a."connectionId" WHERE a.provider = $1 AND p.planned >= $2::timestamp`,
    [key, new Date(readyAt).toISOString()],
  );
  const plannedBeforeReady = Number(
    (
      await pool.query(`SELECT count(*) FROM bench_plan WHERE planned < $1::timestamp`, [
        new Date(readyAt).toISOString(),
      ])
    ).rows[0].count,
  );
  const late = r.rows.map((x) => Number(x.late)).sort((a, b) => a - b);
  const cw = (
    await pool.query<{ cw: number }>(
      `SELECT "commitWindowUs" AS cw FROM "RefreshAttempt" WHERE provider = $1 AND outcome = 'rotated'`,
      [key],
    )
  ).rows
    .map((x) => x.cw)
    .sort((a, b) => a - b);
  await db.$disconnect();
  await queues.close();
  await conn.quit();
  return {
    connections: LATE_N,
    duePerSecond: LATE_RATE,
    procs,
    concurrency: c,
    started: late.length,
    missed: LATE_N - plannedBeforeReady - late.length,
    plannedBeforeReady,
    p50Ms: pct(late, 50),
    p99Ms: pct(late, 99),
    maxMs: late[late.length - 1],
    commitP50Us: pct(cw, 50),
    commitP99Us: pct(cw, 99),
    enqueue100k: {
      jobs: fed.enqueued,
      seconds: enqueueS,
      perSecond: fed.enqueued / enqueueS,
      redisBytesPerJob: bytesPerJob,
      redisInfoDeltaBytesPerJob: (mem1 - mem0) / Math.max(1, fed.enqueued),
    },
    cpu: cpuPct,
  };
}

// ---------- waves: token requests in flight at the provider during a registration burst ----------
/**
 * WAVE_N connections registered at once (1 h tokens, lead 5 min) get their next refresh from the
 * daemon's planner; the first WAVE_WINDOW_S of the wave they form is replayed against one daemon
 * process with a provider answering in WAVE_LATENCY_MS, and the provider counts the requests in
 * flight at once (what one SIGKILL catches). Once per jitter setting: the old default and the new.
 */
const WAVE_WINDOW_S = 20;
async function wave(jitterMs: number, c: number) {
  const key = `wave-j${jitterMs}`;
  const lifetimeMs = 3600_000;
  const plans = Array.from({ length: WAVE_N }, () =>
    planNextRefresh({
      nowMs: 0,
      expiresAt: new Date(lifetimeMs),
      leadMs: 300_000,
      jitterMs,
      spreadKey: 0,
      random: Math.random,
    }).getTime(),
  );
  const first = Math.min(...plans);
  const offsets = plans.map((t) => t - first).filter((o) => o < WAVE_WINDOW_S * 1000);
  const spanS = (Math.max(...plans) - first) / 1000;
  // The daemon first: a backlog of jobs that came due while it started would be a wave of its own.
  const ds = await startDaemons(key, 1, c);
  const startMs = Date.now() + 3000;
  await pool.query(`UPDATE "Connection" SET "nextRefreshAt" = NULL WHERE provider <> $1`, [key]);
  await pool.query(
    `INSERT INTO "Connection" ("id", "provider", "externalId", "status", "accessTokenEnc", "refreshTokenEnc", "encKeyId", "tokenType", "expiresAt", "nextRefreshAt", "updatedAt")
     SELECT gen_random_uuid(), $1, 'w-' || g.i, 'active', $2, $3, $4, 'Bearer', g.at + interval '5 minutes', g.at, now() AT TIME ZONE 'UTC'
     FROM (SELECT row_number() OVER () AS i, to_timestamp(($5::float8 + o) / 1000) AT TIME ZONE 'UTC' AS at FROM unnest($6::float8[]) AS o) AS g`,
    [key, seedTokens.accessTokenEnc, seedTokens.refreshTokenEnc, seedTokens.encKeyId, startMs, offsets],
  );
  const conn = queueConn();
  const queues = new Queues(conn, PREFIX);
  const db = createDb(dbUrl, { poolSize: 4 });
  await new Scheduler(db, queues, pino({ level: 'silent' }), { horizonMs: 15 * 60_000 }).feed();
  if (Date.now() > startMs) progress('waves: WARNING the wave was fed after it began; its first jobs start together');
  await sleep(Math.max(0, startMs - Date.now()));
  await providerInFlight(provider!.child); // reset
  await sleep(WAVE_WINDOW_S * 1000 + 1000);
  const f = await providerInFlight(provider!.child);
  await Promise.all(ds.map((d) => d.stop()));
  await db.$disconnect();
  await queues.close();
  await conn.quit();
  // The steady state the same connections average: one refresh per connection per cycle (~75% of the lifetime).
  const averagePerS = WAVE_N / ((0.75 * lifetimeMs) / 1000);
  const wavePerS = offsets.length / WAVE_WINDOW_S;
  return {
    jitterMs,
    connections: WAVE_N,
    spanS,
    inWindow: offsets.length,
    wavePerSecond: wavePerS,
    latencyMs: WAVE_LATENCY_MS,
    concurrency: c,
    maxInFlight: f.max,
    meanInFlight: f.mean,
    waveRateTimesLatency: (wavePerS * WAVE_LATENCY_MS) / 1000,
    averageRateTimesLatency: (averagePerS * WAVE_LATENCY_MS) / 1000,
  };
}

async function waves(c: number) {
  setProviderLatency(provider!.child, WAVE_LATENCY_MS);
  const out = [];
  try {
    for (const jitterMs of [30_000, 600_000]) {
      progress(
        `waves: ${fmt(WAVE_N)} connections registered at once, REFRESH_JITTER_MS ${jitterMs}, provider latency ${WAVE_LATENCY_MS} ms`,
      );
      const r = await wave(jitterMs, c);
      progress(
        `waves: jitter ${jitterMs} ms: wave spans ${fmt(r.spanS)} s, ${fmt(r.wavePerSecond, 1)}/s; in flight max ${r.maxInFlight}, mean ${fmt(r.meanInFlight, 2)}`,
      );
      out.push(r);
    }
  } finally {
    setProviderLatency(provider!.child, 0);
  }
  return out;
}

// ---------- a million connections ----------
async function million() {
  const key = 'big';
  const t0 = performance.now();
  await seedConnections(pool, {
    provider: key,
    n: BIG_N,
    startMs: Date.now() + 60_000,
    spreadMs: 3600_000,
    externalPrefix: 'm-',
    ...seedTokens,
    onChunk: (d) => progress(`million: seeded ${fmt(d)} rows`),
  });
  const seedS = (performance.now() - t0) / 1000;
  await pool.query(`VACUUM ANALYZE "Connection"`);
  const total = Number((await pool.query(`SELECT count(*) FROM "Connection"`)).rows[0].count);
  const sizes = (
    await pool.query(`SELECT pg_relation_size('"Connection"') AS heap, pg_indexes_size('"Connection"') AS idx, pg_total_relation_size('"Connection"') AS total,
    pg_relation_size('"Connection_status_nextRefreshAt_id_idx"') AS feeder_idx,
    pg_relation_size('"RefreshAttempt"') AS att_heap, pg_indexes_size('"RefreshAttempt"') AS att_idx, (SELECT count(*) FROM "RefreshAttempt") AS attempts`)
  ).rows[0];
  const db = createDb(dbUrl, { poolSize: 4 });
  const silent = pino({ level: 'silent' });
  // Only the million are due: rows left over from the earlier phases are taken off the schedule.
  await pool.query(`UPDATE "Connection" SET "nextRefreshAt" = NULL WHERE provider <> $1`, [key]);

  // (1) Horizon 15 min over tokens spread across an hour: Redis holds only the near future.
  const connA = queueConn();
  const qA = new Queues(connA, `${PREFIX}-h15`);
  const memA0 = await redisUsedMemory(redis);
  let t = performance.now();
  const fedA = await new Scheduler(db, qA, silent, { horizonMs: 15 * 60_000 }).feed();
  const feedAS = (performance.now() - t) / 1000;
  const memA1 = await redisUsedMemory(redis);
  const pmA = await prefixMemory(redis, `${PREFIX}-h15`);
  progress(
    `million: horizon 15 min -> ${fmt(fedA.enqueued)} jobs in ${feedAS.toFixed(1)} s, Redis ${fmt(pmA.bytes / 2 ** 20, 1)} MiB (INFO delta ${fmt((memA1 - memA0) / 2 ** 20, 1)} MiB)`,
  );
  // A second tick finds everything already queued: the steady-state cost of a feeder tick.
  t = performance.now();
  const fedA2 = await new Scheduler(db, qA, silent, { horizonMs: 15 * 60_000 }).feed();
  const tickAS = (performance.now() - t) / 1000;
  await deleteKeys(redis, `${PREFIX}-h15`);
  await qA.close();
  await connA.quit();

  // (2) Everything at once (horizon beyond the last): the time to enqueue 1,000,000 connections.
  const connB = queueConn();
  const qB = new Queues(connB, `${PREFIX}-all`);
  const memB0 = await redisUsedMemory(redis);
  t = performance.now();
  let lastLog = 0;
  const fedB = await new Scheduler(db, qB, silent, { horizonMs: 2 * 3600_000 }).feed((r) => {
    if (r.scanned - lastLog >= 200_000) {
      lastLog = r.scanned;
      progress(`million: enqueued ${fmt(r.enqueued)} (${((performance.now() - t) / 1000).toFixed(1)} s)`);
    }
  });
  const feedBS = (performance.now() - t) / 1000;
  const memB1 = await redisUsedMemory(redis);
  const pmB = await prefixMemory(redis, `${PREFIX}-all`);
  progress(
    `million: all -> ${fmt(fedB.enqueued)} jobs in ${feedBS.toFixed(1)} s, Redis ${fmt(pmB.bytes / 2 ** 20, 1)} MiB (INFO delta ${fmt((memB1 - memB0) / 2 ** 20, 1)} MiB)`,
  );
  const delS = performance.now();
  await deleteKeys(redis, `${PREFIX}-all`);
  progress(`million: deleted the 1M-job queue keys in ${((performance.now() - delS) / 1000).toFixed(1)} s`);
  await qB.close();
  await connB.quit();

  // (3) The feeder's page query on the big table, as Prisma sends it (first page and a middle page).
  const plans = await feederPlans();
  await db.$disconnect();
  return {
    connections: BIG_N,
    tableRows: total,
    seedSeconds: seedS,
    pg: {
      heapBytes: Number(sizes.heap),
      indexBytes: Number(sizes.idx),
      totalBytes: Number(sizes.total),
      feederIndexBytes: Number(sizes.feeder_idx),
      bytesPerConnection: Number(sizes.total) / total,
      heapPerConnection: Number(sizes.heap) / total,
      indexPerConnection: Number(sizes.idx) / total,
      attempts: Number(sizes.attempts),
      attemptBytesPerRow: (Number(sizes.att_heap) + Number(sizes.att_idx)) / Math.max(1, Number(sizes.attempts)),
    },
    horizon15: {
      jobs: fedA.enqueued,
      scanned: fedA.scanned,
      seconds: feedAS,
      redisBytes: pmA.bytes,
      redisBytesPerJob: pmA.bytes / Math.max(1, fedA.enqueued),
      redisBytesPerConnection: pmA.bytes / BIG_N,
      redisInfoDeltaBytes: memA1 - memA0,
      secondTickSeconds: tickAS,
      secondTickEnqueued: fedA2.enqueued,
    },
    all: {
      jobs: fedB.enqueued,
      pages: fedB.pages,
      seconds: feedBS,
      perSecond: fedB.enqueued / feedBS,
      redisBytes: pmB.bytes,
      redisBytesPerJob: pmB.bytes / Math.max(1, fedB.enqueued),
      redisInfoDeltaBytes: memB1 - memB0,
    },
    plans,
  };
}

/** EXPLAIN (ANALYZE, BUFFERS) of the feeder's page query (FEEDER_PAGE_SQL, as the Scheduler prepares it) on the big table. */
async function feederPlans() {
  const client = await pool.connect();
  const plans: { page: string; plan: string; executionMs: number }[] = [];
  try {
    const until = new Date(Date.now() + 2 * 3600_000).toISOString();
    const mid = (
      await client.query<{ at: Date; id: string }>(
        `SELECT "nextRefreshAt" AS at, id FROM "Connection" WHERE status = 'active' ORDER BY "nextRefreshAt", id OFFSET $1 LIMIT 1`,
        [Math.floor(BIG_N / 2)],
      )
    ).rows[0];
    await client.query(`PREPARE bench_feeder_page AS ${FEEDER_PAGE_SQL}`);
    // pg returns timestamp columns as local-time Dates: format the cursor back as the UTC wall time it is.
    const midAt = new Date(mid.at.getTime() - mid.at.getTimezoneOffset() * 60_000).toISOString();
    for (const [label, at, id] of [
      ['first page', '-infinity', '00000000-0000-0000-0000-000000000000'],
      [`middle page (cursor at row ${fmt(BIG_N / 2)})`, midAt, mid.id],
    ] as const) {
      const r = await client.query(
        `EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_feeder_page('${until}', '${at}', '${id}', 1000)`,
      );
      const text = r.rows.map((x: Record<string, string>) => x['QUERY PLAN']).join('\n');
      plans.push({ page: label, plan: text, executionMs: Number(/Execution Time: ([\d.]+)/.exec(text)?.[1] ?? NaN) });
    }
    await client.query('DEALLOCATE bench_feeder_page');
    // The cron fan-out (worker/schedule/cron.ts) pages one provider's active connections by id; this
    // is the SQL its Prisma findMany sends (keyset on id), on the million rows of one provider.
    const midId = (
      await client.query<{ id: string }>(
        `SELECT id FROM "Connection" WHERE provider = 'big' ORDER BY id OFFSET $1 LIMIT 1`,
        [Math.floor(BIG_N / 2)],
      )
    ).rows[0].id;
    const r = await client.query(`EXPLAIN (ANALYZE, BUFFERS) SELECT "id", "nextRefreshAt" FROM "Connection"
      WHERE "provider" = 'big' AND "status" = CAST('active'::text AS "ConnectionStatus") AND "id" > '${midId}' ORDER BY "id" ASC LIMIT 1000 OFFSET 0`);
    const text = r.rows.map((x: Record<string, string>) => x['QUERY PLAN']).join('\n');
    plans.push({
      page: `cron fan-out, middle page (id cursor at row ${fmt(BIG_N / 2)})`,
      plan: text,
      executionMs: Number(/Execution Time: ([\d.]+)/.exec(text)?.[1] ?? NaN),
    });
  } finally {
    client.release();
  }
  return { sql: FEEDER_PAGE_SQL, plans };
}

// ---------- the webhook outbox ----------
/**
 * The dispatcher's claim (OUTBOX_CLAIM_SQL, as store/outbox.ts sends it) on OUTBOX_N outbox rows:
 * 10 events per connection, all delivered but OUTBOX_PENDING (a receiver's backlog), plus provider
 * events. EXPLAIN (ANALYZE, BUFFERS) with the partial pending-row indexes, and without them (as
 * before: the claim walked the createdAt index past every delivered row), each inside a
 * rolled-back transaction (the claim is an UPDATE; the index drop is undone too).
 */
async function outboxPlans() {
  const t0 = performance.now();
  const perConn = 10;
  for (let from = 0; from < OUTBOX_N; from += 100_000) {
    const to = Math.min(OUTBOX_N, from + 100_000) - 1;
    // Row g: connection g / perConn (a uuid made from it), created in g order; the last
    // OUTBOX_PENDING rows are undelivered and due; every 1000th row is a provider event.
    await pool.query(
      `INSERT INTO "OutboxEvent" ("id", "type", "connectionId", "provider", "payload", "createdAt", "nextAttemptAt", "deliveredAt")
       SELECT gen_random_uuid(), 'connection.refresh_failing',
              CASE WHEN g % 1000 = 0 THEN NULL ELSE (lpad(to_hex(g / $3::int), 32, '0'))::uuid END, 'big', '{}'::jsonb,
              now() AT TIME ZONE 'UTC' - make_interval(secs => ($1::int - g) * 0.01),
              now() AT TIME ZONE 'UTC' - interval '1 minute',
              CASE WHEN g < $1::int - $2::int THEN now() AT TIME ZONE 'UTC' END
       FROM generate_series($4::int, $5::int) AS g`,
      [OUTBOX_N, OUTBOX_PENDING, perConn, from, to],
    );
    progress(`outbox: seeded ${fmt(to + 1)} rows`);
  }
  const seedSeconds = (performance.now() - t0) / 1000;
  await pool.query(`VACUUM ANALYZE "OutboxEvent"`);
  const client = await pool.connect();
  const plans: { label: string; plan: string; executionMs: number; claimed: number }[] = [];
  const explain = async (label: string, dropIndex: boolean) => {
    await client.query('BEGIN');
    try {
      await client.query(`SET LOCAL statement_timeout = '120s'`);
      if (dropIndex)
        await client.query(`DROP INDEX "OutboxEvent_pending_order_idx", "OutboxEvent_pending_connection_order_idx"`);
      const lease = new Date(Date.now() + 60_000).toISOString();
      const now = new Date().toISOString();
      const r = await client.query(`EXPLAIN (ANALYZE, BUFFERS) ${OUTBOX_CLAIM_SQL}`, [
        lease,
        now,
        WEBHOOK_DEFAULTS.batchSize,
      ]);
      const text = r.rows.map((x: Record<string, string>) => x['QUERY PLAN']).join('\n');
      const claimed = Number(/Update on "OutboxEvent" o .*?rows=(\d+) loops/.exec(text)?.[1] ?? NaN);
      plans.push({
        label,
        plan: text,
        executionMs: Number(/Execution Time: ([\d.]+)/.exec(text)?.[1] ?? NaN),
        claimed,
      });
    } catch (e) {
      plans.push({
        label,
        plan: `failed: ${e instanceof Error ? e.message : String(e)}`,
        executionMs: NaN,
        claimed: 0,
      });
    } finally {
      await client.query('ROLLBACK');
    }
    progress(`outbox: claim ${label}: ${fmt(plans.at(-1)!.executionMs, 2)} ms`);
  };
  try {
    await explain('pending-row indexes', false);
    await explain('without them (as before)', true);
  } finally {
    client.release();
  }
  const sizes = (
    await pool.query(`SELECT pg_total_relation_size('"OutboxEvent"') AS total,
    pg_relation_size('"OutboxEvent_pending_order_idx"') + pg_relation_size('"OutboxEvent_pending_connection_order_idx"') AS idx`)
  ).rows[0];
  return {
    rows: OUTBOX_N,
    pending: OUTBOX_PENDING,
    batchSize: WEBHOOK_DEFAULTS.batchSize,
    seedSeconds,
    totalBytes: Number(sizes.total),
    orderIndexBytes: Number(sizes.idx),
    sql: OUTBOX_CLAIM_SQL,
    plans,
  };
}

async function freeConnections(): Promise<number> {
  const r = (
    await pool.query<{ free: number }>(
      `SELECT current_setting('max_connections')::int - (SELECT count(*)::int FROM pg_stat_activity) AS free`,
    )
  ).rows[0];
  return r.free;
}

// ---------- token reads ----------
async function tokenReadsPhase() {
  const key = 'reads';
  // Fresh for an hour: every read answers from the stored token, none refreshes.
  await seedConnections(pool, {
    provider: key,
    n: READS_N,
    startMs: Date.now() + 3600_000,
    spreadMs: 1,
    externalPrefix: 'r-',
    ...seedTokens,
  });
  const ids = (await pool.query<{ id: string }>(`SELECT id FROM "Connection" WHERE provider = $1`, [key])).rows.map(
    (r) => r.id,
  );
  const port = await freePort();
  const d = startDaemonProcess(
    daemonEnv({ ROLES: 'api', PORT: String(port), PROVIDERS_FILE: providersFile(key, 10) }),
    'token-reads',
  );
  children.push(d);
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitForHttp(`${baseUrl}/healthz`);
  const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  progress(`token reads: ${fmt(READS_N)} connections, ${READS_C} concurrent, ${READS_S} s, load ${load()}`);
  const meter = cpuPerRead({ daemon: [d.child.pid!] });
  const api = await tokenReads({ baseUrl, apiKey: API_KEY, ids, concurrency: READS_C, durationS: READS_S, meter });
  const apiLoad = load();
  const viaClient = await clientReads({ baseUrl, apiKey: API_KEY, ids, concurrency: READS_C, durationS: 3 });
  await d.stop();
  progress(`token reads: ${fmt(api.rate)}/s p50 ${fmt(api.p50Ms, 2)} ms p99 ${fmt(api.p99Ms, 2)} ms; ${cpuText(api)}`);
  const pgR = await pgPointSelects({ dbUrl, ids, concurrency: READS_C, durationS: READS_S, meter: cpuPerRead({}) });
  progress(
    `point selects: ${fmt(pgR.rate)}/s p50 ${fmt(pgR.p50Ms, 2)} ms p99 ${fmt(pgR.p99Ms, 2)} ms; ${cpuText(pgR)}`,
  );
  progress(
    `client getToken: ${fmt(viaClient.rate)}/s, ${fmt(viaClient.daemonRequests)} requests to the daemon after the first reads`,
  );
  return { n: READS_N, concurrency: READS_C, durationS: READS_S, api, apiLoad, pg: pgR, pgLoad: load(), viaClient };
}

const cpuText = (r: { cpuUsPerRead?: Record<string, number> }) =>
  `CPU µs/read ${Object.entries(r.cpuUsPerRead ?? {})
    .map(([k, v]) => `${k} ${fmt(v, 1)}`)
    .join(', ')}`;

// ---------- main ----------
async function main() {
  progress(`database ${new URL(dbUrl).pathname.slice(1)}, Redis prefix ${PREFIX}`);
  await applyMigrations(dbUrl);
  pool = new pg.Pool({ connectionString: dbUrl, max: 4 });
  redis = createRedis(TARGET, { role: 'general' });
  provider = await startProviderProcess();
  progress(`fake provider at ${provider.url}`);
  const conns = (
    await pool.query<{ max: number; used: number }>(
      `SELECT current_setting('max_connections')::int AS max, (SELECT count(*)::int FROM pg_stat_activity) AS used`,
    )
  ).rows[0];
  out.machine.postgresConnections = conns;
  if (conns.max - conns.used < Math.max(...CONCURRENCY) + 10)
    progress(
      `WARNING: PostgreSQL has ${conns.max - conns.used} free connections of ${conns.max}; high concurrency settings may fail`,
    );
  const loadavg = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  out.machine.loadavgAtStart = loadavg;

  // --cluster: only the comparison of one Redis and a cluster, at each concurrency (default 25).
  if (CLUSTER) {
    out.cluster = [];
    const cs = argv.some((a) => a.startsWith('--concurrency=')) ? CONCURRENCY : [25];
    for (const c of cs) out.cluster.push(await clusterComparison(c, QUICK ? 8000 : 25_000));
    out.e2e = [];
    out.ceilings = [];
    out.machine.loadavgAtEnd = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    report();
    return;
  }

  // 1) Ceilings at each concurrency.
  out.ceilings = [] as any[];
  for (const c of PHASES.has('ceilings') ? CONCURRENCY : []) {
    progress(`ceiling: PostgreSQL fenced commits at concurrency ${c}`);
    const pgC = await pgCeiling(c);
    progress(`ceiling: BullMQ empty jobs at concurrency ${c}`);
    const bullC = await bullCeiling(c);
    const pgRate = pgC.rate;
    const bullRate = bullC.rate;
    out.ceilings.push({
      concurrency: c,
      pgCommitsPerSecond: pgRate,
      bullmqJobsPerSecond: bullRate,
      lower: Math.min(pgRate, bullRate),
      pgCpuMsPerOp: pgC.cpuMsPerOp,
      bullmqCpuMsPerOp: bullC.cpuMsPerOp,
    });
    progress(`ceiling c=${c}: pg ${fmt(pgRate)}/s, bullmq ${fmt(bullRate)}/s`);
  }

  // 2) End to end, one daemon process, at each concurrency; then PROCS processes at the best one.
  out.e2e = [] as E2E[];
  const e2eN = QUICK ? 8000 : 25_000;
  for (const c of PHASES.has('e2e') || PHASES.has('lateness') ? CONCURRENCY : []) {
    const free = await freeConnections();
    if (poolSizeFor(c) + 4 > free) {
      progress(
        `end-to-end: SKIPPED concurrency ${c}: its pool (${poolSizeFor(c)}) does not fit in PostgreSQL's ${free} free connections (shared server)`,
      );
      (out.skipped ??= []).push(`e2e c=${c}: only ${free} free PostgreSQL connections`);
      continue;
    }
    progress(`end-to-end: 1 process, concurrency ${c}`);
    const r = await e2e(1, c, e2eN);
    out.e2e.push(r);
    progress(
      `end-to-end c=${c}: ${fmt(r.rate)} rotations/s (${r.rotated} rotated, ${r.other} other) cpu ${JSON.stringify(r.cpu)}`,
    );
  }
  if (!out.e2e.length && PHASES.has('e2e'))
    throw new Error('no end-to-end setting could run (PostgreSQL connections exhausted by other users?)');
  const best = (out.e2e as E2E[]).reduce((a, b) => (b.rate > a.rate ? b : a), {
    concurrency: Math.min(...CONCURRENCY),
    rate: 0,
  } as E2E);
  if (PROCS > 1 && PHASES.has('e2e')) {
    // Each process has its own pool (concurrency + 5): stay well inside PostgreSQL's max_connections.
    const free = await freeConnections();
    const fit = (out.e2e as E2E[]).filter((r) => r.concurrency <= 25 && PROCS * poolSizeFor(r.concurrency) + 4 <= free);
    if (!fit.length) {
      progress(`end-to-end: SKIPPED ${PROCS} processes: not enough free PostgreSQL connections (${free})`);
      (out.skipped ??= []).push(`e2e ${PROCS} processes: only ${free} free PostgreSQL connections`);
    } else {
      const base = fit.reduce((a, b) => (b.rate > a.rate ? b : a));
      progress(`end-to-end: ${PROCS} processes, concurrency ${base.concurrency} each`);
      const r = await e2e(PROCS, base.concurrency, e2eN * Math.min(PROCS, 2));
      out.e2e.push(r);
      progress(`end-to-end ${PROCS} procs: ${fmt(r.rate)} rotations/s cpu ${JSON.stringify(r.cpu)}`);
    }
  }

  // 3) Lateness at LATE_RATE due per second.
  if (PHASES.has('lateness')) {
    progress(
      `lateness: ${fmt(LATE_N)} connections due over ${LATE_N / LATE_RATE} s, ${LATE_PROCS} process(es), concurrency ${best.concurrency}`,
    );
    out.lateness = await lateness(best.concurrency, LATE_PROCS);
    progress(
      `lateness p50 ${fmt(out.lateness.p50Ms)} ms p99 ${fmt(out.lateness.p99Ms)} ms max ${fmt(out.lateness.maxMs)} ms`,
    );
  }

  // 4) Waves: token requests in flight at once during a registration burst.
  if (PHASES.has('waves')) out.waves = await waves(20);

  // 5) A million connections.
  if (MILLION && PHASES.has('million')) {
    progress(`million: seeding ${fmt(BIG_N)} connections spread over one hour`);
    out.million = await million();
  }

  // 5) The webhook dispatcher's claim at a million outbox rows.
  if (PHASES.has('outbox')) {
    progress(`outbox: seeding ${fmt(OUTBOX_N)} outbox events (${fmt(OUTBOX_PENDING)} undelivered)`);
    out.outbox = await outboxPlans();
  }

  // 6) Token reads, the apps' hot path, beside PostgreSQL's point-select rate.
  if (PHASES.has('token-reads')) out.tokenReads = await tokenReadsPhase();

  out.machine.loadavgAtEnd = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  report();
}

const cpuNote = (m: Record<string, number>) =>
  Object.entries(m)
    .filter(([k]) => k !== 'machine')
    .map(([k, v]) => `${k} ${fmt(v, 2)}`)
    .join(', ');

function clusterRows(
  row: (a: string, b: string, c?: string) => void,
  k: Awaited<ReturnType<typeof clusterComparison>>,
): void {
  for (const r of k.sides) {
    const where = r.redisTarget === 'one' ? 'one Redis' : '3x2 cluster';
    const R = r.redisPerRotation;
    row(
      `end-to-end rotations/s on ${where}, concurrency ${k.concurrency}`,
      fmt(r.rate),
      `${r.rotated} rotated, ${r.other} other; refresh p50/p99 ${fmt(r.durationP50Ms)}/${fmt(r.durationP99Ms)} ms, commit window p50/p99 ${fmt(r.commitP50Us)}/${fmt(r.commitP99Us)} us; CPU ms/rotation: ${cpuNote(r.cpuMsPerRotation)}`,
    );
    row(
      `Redis per rotation on ${where} (masters, while rotating)`,
      `${fmt(R.commands, 1)} commands`,
      `${fmt(R.serverUs, 1)} us server time, ${fmt(R.bytesIn)} B in, ${fmt(R.bytesOut)} B out; PostgreSQL WAL ${fmt(r.walBytesPerRotation)} B/rotation (whole server); ${Object.entries(
        R.top,
      )
        .map(([c, v]) => `${c} ${fmt(v, 2)}`)
        .join(', ')}; keys per master ${r.keysPerMaster.join('/')}`,
    );
  }
  row(
    `cluster / one Redis (concurrency ${k.concurrency})`,
    `${k.ratio.rate.toFixed(2)}x rate`,
    `daemon CPU per rotation ${k.ratio.daemonCpuMsPerRotation.toFixed(2)}x, Redis CPU per rotation ${k.ratio.redisCpuMsPerRotation.toFixed(2)}x (6 servers incl. replicas vs 1), Redis commands per rotation ${k.ratio.redisCommandsPerRotation.toFixed(2)}x`,
  );
}

function report() {
  const lines: string[] = [];
  const row = (a: string, b: string, c = '') =>
    lines.push(`| ${a.padEnd(62)} | ${b.padStart(16)} | ${c}`.trimEnd() + (c ? ' |' : ' |'));
  const e2e = out.e2e as E2E[];
  const ceil = out.ceilings as {
    concurrency: number;
    pgCommitsPerSecond: number;
    bullmqJobsPerSecond: number;
    lower: number;
    pgCpuMsPerOp: Record<string, number>;
    bullmqCpuMsPerOp: Record<string, number>;
  }[];
  const ceilAt = (c: number) => ceil.find((x) => x.concurrency === c) ?? { lower: NaN };
  const lowestCeiling = Math.max(...ceil.map((x) => x.lower));
  lines.push(
    `oauth-refresher bench, ${out.date}, ${out.machine.cpus} cores (${out.machine.cpuModel}), ${out.machine.memGb} GB, Node ${out.machine.node}, load ${out.machine.loadavgAtStart}`,
  );
  lines.push(`command: ${out.command}`);
  lines.push('');
  lines.push(`| ${'figure'.padEnd(62)} | ${'value'.padStart(16)} | note |`);
  lines.push(`|${'-'.repeat(64)}|${'-'.repeat(18)}|------|`);
  for (const c of ceil) {
    row(
      `ceiling: PostgreSQL fenced rotation commits/s, concurrency ${c.concurrency}`,
      fmt(c.pgCommitsPerSecond),
      `pool ${poolSizeFor(c.concurrency)}, store.commitRotation; CPU ms/op: ${cpuNote(c.pgCpuMsPerOp)}`,
    );
    row(
      `ceiling: BullMQ empty jobs/s, concurrency ${c.concurrency}`,
      fmt(c.bullmqJobsPerSecond),
      `${BULL_JOBS} jobs; CPU ms/op: ${cpuNote(c.bullmqCpuMsPerOp)}`,
    );
  }
  for (const r of e2e) {
    const cl = ceilAt(r.concurrency).lower;
    row(
      `end-to-end rotations/s, ${r.procs} process${r.procs > 1 ? 'es' : ''}, concurrency ${r.concurrency}`,
      fmt(r.rate),
      `${fmt((r.rate / cl) * 100)}% of lower ceiling ${fmt(cl)}; ${r.rotated} rotated, ${r.other} other; CPU ms/rotation: ${cpuNote(r.cpuMsPerRotation)}; Redis ${fmt(r.redisPerRotation.commands, 1)} commands, PostgreSQL WAL ${fmt(r.walBytesPerRotation)} B per rotation; CPU% ${Object.entries(
        r.cpu,
      )
        .map(([k, v]) => `${k} ${fmt(v)}`)
        .join(', ')}`,
    );
  }
  const one = e2e
    .filter((r) => r.procs === 1)
    .reduce((a, b) => (b.rate > a.rate ? b : a), { concurrency: 0, rate: -Infinity } as E2E);
  const multi = e2e.find((r) => r.procs > 1);
  if (multi)
    row(
      `scale-out: ${multi.procs} processes / 1 process (concurrency ${multi.concurrency})`,
      `${(multi.rate / e2e.find((r) => r.procs === 1 && r.concurrency === multi.concurrency)!.rate).toFixed(2)}x`,
    );
  if (e2e.length)
    row(
      'best end-to-end / lower ceiling (same concurrency)',
      `${fmt((one.rate / ceilAt(one.concurrency).lower) * 100)}%`,
      'goal >= 50%',
    );
  for (const k of (out.cluster ?? []) as Awaited<ReturnType<typeof clusterComparison>>[]) clusterRows(row, k);
  const L = out.lateness;
  if (L) {
    row(
      `lateness p50 / p99 / max (${fmt(L.connections)} due at ${L.duePerSecond}/s, ${L.procs} proc)`,
      `${fmt(L.p50Ms)} / ${fmt(L.p99Ms)} / ${fmt(L.maxMs)} ms`,
      `goal p99 < 1000 ms; ${L.started} started, ${L.missed} not started by the end${L.plannedBeforeReady ? `, ${L.plannedBeforeReady} planned before the daemon was ready (left out)` : ''}`,
    );
    const allCw = e2e
      .map((r) => `c${r.concurrency}x${r.procs}: ${fmt(r.commitP50Us)}/${fmt(r.commitP99Us)}`)
      .join(', ');
    row(
      'crash window (answer -> commit) p50 / p99, lateness run',
      `${fmt(L.commitP50Us)} / ${fmt(L.commitP99Us)} us`,
      `throughput runs (p50/p99 us): ${allCw}`,
    );
    row(
      `enqueue ${fmt(L.enqueue100k.jobs)} connections (feeder, delayed jobs)`,
      `${L.enqueue100k.seconds.toFixed(1)} s`,
      `${fmt(L.enqueue100k.perSecond)} jobs/s`,
    );
    row(
      'Redis memory per queued connection (MEMORY USAGE of our keys)',
      `${fmt(L.enqueue100k.redisBytesPerJob)} B`,
      `${fmt(L.enqueue100k.jobs)} delayed jobs; INFO used_memory delta ${fmt(L.enqueue100k.redisInfoDeltaBytesPerJob)} B/job (shared Redis: noisy)`,
    );
  }
  for (const w of (out.waves ?? []) as Awaited<ReturnType<typeof waves>>) {
    row(
      `in flight at the provider, burst of ${fmt(w.connections)}, REFRESH_JITTER_MS ${w.jitterMs}`,
      `${w.maxInFlight} max / ${fmt(w.meanInFlight, 2)} mean`,
      `wave spans ${fmt(w.spanS)} s (${fmt(w.wavePerSecond, 1)}/s x ${w.latencyMs} ms = ${fmt(w.waveRateTimesLatency, 2)}); steady average x latency ${fmt(w.averageRateTimesLatency, 3)}; concurrency ${w.concurrency}`,
    );
  }
  const M = out.million;
  if (M) {
    row(
      `seed ${fmt(M.connections)} connections (INSERT ... SELECT generate_series)`,
      `${M.seedSeconds.toFixed(1)} s`,
      `table now ${fmt(M.tableRows)} rows`,
    );
    row(
      `enqueue ${fmt(M.all.jobs)} connections (feeder, horizon covers all)`,
      `${M.all.seconds.toFixed(1)} s`,
      `${fmt(M.all.perSecond)} jobs/s, ${M.all.pages} pages; goal < 60 s`,
    );
    row(
      `Redis for all ${fmt(M.all.jobs)} queued`,
      `${fmt(M.all.redisBytes / 2 ** 20, 1)} MiB`,
      `${fmt(M.all.redisBytesPerJob)} B/job`,
    );
    row(
      `Redis with horizon 15 min, ${fmt(M.connections)} tokens living 1 h`,
      `${fmt(M.horizon15.redisBytes / 2 ** 20, 1)} MiB`,
      `${fmt(M.horizon15.jobs)} jobs (${fmt((M.horizon15.jobs / M.connections) * 100)}%), ${fmt(M.horizon15.redisBytesPerConnection)} B per connection, fed in ${M.horizon15.seconds.toFixed(1)} s`,
    );
    row(
      'feeder tick with nothing missing (15 min horizon)',
      `${M.horizon15.secondTickSeconds.toFixed(1)} s`,
      `${fmt(M.horizon15.jobs)} rows paged, ${M.horizon15.secondTickEnqueued} added`,
    );
    row(
      'PostgreSQL bytes per connection: heap / indexes / total',
      `${fmt(M.pg.heapPerConnection)} / ${fmt(M.pg.indexPerConnection)} / ${fmt(M.pg.bytesPerConnection)}`,
      `feeder index ${fmt(M.pg.feederIndexBytes / 2 ** 20, 1)} MiB`,
    );
    if (M.pg.attempts > 0)
      row(
        'PostgreSQL bytes per RefreshAttempt row (heap + indexes)',
        fmt(M.pg.attemptBytesPerRow),
        `${fmt(M.pg.attempts)} attempts`,
      );
    for (const p of M.plans.plans)
      row(
        `${p.page.startsWith('cron') ? '' : 'feeder page query, '}${p.page}, ${fmt(M.tableRows)} rows`,
        `${p.executionMs.toFixed(2)} ms`,
        `${(p.plan.match(/(Index Only Scan|Index Scan|Bitmap Heap Scan|Seq Scan)( using \S+)?/) ?? ['?'])[0]}${/Rows Removed by Filter: (\d+)/.test(p.plan) ? `, ${/Rows Removed by Filter: (\d+)/.exec(p.plan)![1]} rows removed by filter` : ''}`,
      );
  }
  const O = out.outbox;
  if (O) {
    for (const p of O.plans)
      row(
        `webhook claim (batch ${O.batchSize}), ${p.label}, ${fmt(O.rows)} rows, ${fmt(O.pending)} pending`,
        `${fmt(p.executionMs, 2)} ms`,
        `${p.claimed} claimed; ${(p.plan.match(/(Index Only Scan|Index Scan|Bitmap Heap Scan|Seq Scan)( using \S+)? on "OutboxEvent" e/) ?? ['?'])[0]}`,
      );
    row(
      'outbox pending-row indexes (both)',
      `${fmt(O.orderIndexBytes / 2 ** 20, 1)} MiB`,
      `table + indexes ${fmt(O.totalBytes / 2 ** 20, 1)} MiB`,
    );
  }
  const T = out.tokenReads;
  if (T) {
    row(
      `token reads/s (GET .../token, fresh), concurrency ${T.concurrency}`,
      fmt(T.api.rate),
      `p50 ${fmt(T.api.p50Ms, 2)} ms, p99 ${fmt(T.api.p99Ms, 2)} ms, ${T.api.errors} errors, ${fmt(T.n)} connections, load ${T.apiLoad}; ${cpuText(T.api)}`,
    );
    row(
      `PostgreSQL prepared point selects/s, concurrency ${T.concurrency}`,
      fmt(T.pg.rate),
      `p50 ${fmt(T.pg.p50Ms, 2)} ms, p99 ${fmt(T.pg.p99Ms, 2)} ms, load ${T.pgLoad}; ${cpuText(T.pg)}`,
    );
    row(
      `client getToken/s (oauth-refresher-client cache), concurrency ${T.concurrency}`,
      fmt(T.viaClient.rate),
      `${fmt(T.viaClient.daemonRequests)} requests reached the daemon in ${fmt(T.viaClient.count + T.viaClient.errors)} reads (after one first read per connection: ${fmt(T.viaClient.firstReads)}), p99 ${fmt(T.viaClient.p99Ms, 3)} ms`,
    );
  }
  lines.push(
    `loadavg at start ${out.machine.loadavgAtStart}, at end ${out.machine.loadavgAtEnd} (other work on this machine makes figures noisy)`,
  );
  if (out.skipped?.length) lines.push(`skipped: ${out.skipped.join('; ')}`);
  if (M) {
    for (const p of M.plans.plans.slice(1)) {
      lines.push('');
      lines.push(`${p.page.startsWith('cron') ? '' : 'feeder page query, '}${p.page}, EXPLAIN (ANALYZE, BUFFERS):`);
      lines.push(p.plan);
    }
  }
  for (const p of O?.plans ?? []) {
    lines.push('');
    lines.push(`webhook dispatcher claim, ${p.label}, EXPLAIN (ANALYZE, BUFFERS):`);
    lines.push(p.plan);
  }
  void lowestCeiling;
  if (!JSON_ONLY) process.stdout.write(`${lines.join('\n')}\n\n`);
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

async function cleanup() {
  await Promise.allSettled(children.map((c) => c.stop()));
  await provider?.stop().catch(() => undefined);
  if (!KEEP) {
    if (redis) {
      const n = await deleteKeys(redis, PREFIX).catch(() => 0);
      progress(`deleted ${n} Redis keys under ${PREFIX}*`);
    }
    await pool?.end().catch(() => undefined);
    await dropDatabase(dbUrl).catch((e) => progress(`could not drop ${dbUrl}: ${e}`));
  } else {
    await pool?.end().catch(() => undefined);
    progress(`kept database ${dbUrl} and Redis keys ${PREFIX}*`);
  }
  await redis?.quit().catch(() => undefined);
}

let interrupted = false;
process.on('unhandledRejection', (e) => {
  progress(`unhandled: ${e instanceof Error ? e.stack : String(e)}`);
  if (interrupted) return;
  interrupted = true;
  void cleanup().finally(() => process.exit(1));
});

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    progress(`${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

// Exit when done: a client of a server the bench stopped (--cluster) must not keep it alive.
main().then(
  () => cleanup().then(() => process.exit(0)),
  async (e) => {
    progress(`failed: ${e instanceof Error ? e.stack : String(e)}`);
    await cleanup();
    process.exit(1);
  },
);
