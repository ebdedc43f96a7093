// Helpers for scripts/bench.ts: seeding with SQL, Redis memory and key clean-up, percentiles,
// child processes (fake provider, daemon workers).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { Cluster } from 'ioredis';
import { masters, type RedisClient } from '../../worker/redis/connect.ts';
import { namespacePattern } from '../../worker/redis/keys.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const progress = (msg: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

export function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Inserts n active connections of one provider in one INSERT ... SELECT generate_series (chunked),
 * with nextRefreshAt spread evenly over [startMs, startMs + spreadMs). All rows carry the same
 * precomputed ciphertexts: the fake provider does not check refresh tokens.
 */
export async function seedConnections(
  pool: pg.Pool,
  o: {
    provider: string;
    n: number;
    startMs: number;
    spreadMs: number;
    accessTokenEnc: string;
    refreshTokenEnc: string;
    encKeyId: string;
    externalPrefix: string;
    chunk?: number;
    onChunk?: (done: number) => void;
  },
): Promise<void> {
  const chunk = o.chunk ?? 100_000;
  for (let from = 0; from < o.n; from += chunk) {
    const to = Math.min(o.n, from + chunk) - 1;
    await pool.query(
      `INSERT INTO "Connection" ("id", "provider", "externalId", "status", "accessTokenEnc", "refreshTokenEnc", "encKeyId", "tokenType",
                                 "expiresAt", "nextRefreshAt", "updatedAt")
       SELECT gen_random_uuid(), $1, $2 || g, 'active', $3, $4, $5, 'Bearer',
              to_timestamp(($6::float8 + g * $7::float8) / 1000) AT TIME ZONE 'UTC' + interval '5 minutes',
              to_timestamp(($6::float8 + g * $7::float8) / 1000) AT TIME ZONE 'UTC',
              now() AT TIME ZONE 'UTC'
       FROM generate_series($8::int, $9::int) AS g`,
      [
        o.provider,
        o.externalPrefix,
        o.accessTokenEnc,
        o.refreshTokenEnc,
        o.encKeyId,
        o.startMs,
        o.spreadMs / o.n,
        from,
        to,
      ],
    );
    o.onChunk?.(to + 1);
  }
}

/** used_memory, summed over the masters (one node, or every master of a cluster). */
export async function redisUsedMemory(redis: RedisClient): Promise<number> {
  let total = 0;
  for (const node of masters(redis)) {
    const m = /used_memory:(\d+)/.exec(await node.info('memory'));
    total += m ? Number(m[1]) : NaN;
  }
  return total;
}

/** What the masters did so far: calls and server time per command, client bytes in and out. */
export interface RedisCounters {
  calls: Record<string, number>;
  usec: number;
  netIn: number;
  netOut: number;
}

/** INFO commandstats and stats of every master, summed (replication traffic left out). */
export async function redisCounters(redis: RedisClient): Promise<RedisCounters> {
  const c: RedisCounters = { calls: {}, usec: 0, netIn: 0, netOut: 0 };
  for (const node of masters(redis)) {
    const info = await node.info('all');
    for (const m of info.matchAll(/^cmdstat_(\S+):calls=(\d+),usec=(\d+)/gm)) {
      c.calls[m[1]] = (c.calls[m[1]] ?? 0) + Number(m[2]);
      c.usec += Number(m[3]);
    }
    const num = (k: string) => Number(new RegExp(`^${k}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
    c.netIn += num('total_net_input_bytes') - num('total_net_repl_input_bytes');
    c.netOut += num('total_net_output_bytes') - num('total_net_repl_output_bytes');
  }
  return c;
}

/** b - a, per rotation: commands (all, and the busiest), server time and bytes. */
export function perRotation(a: RedisCounters, b: RedisCounters, rotations: number) {
  const n = Math.max(1, rotations);
  const calls = Object.entries(b.calls)
    .map(([k, v]) => [k, (v - (a.calls[k] ?? 0)) / n] as const)
    .filter(([, v]) => v > 0)
    .sort((x, y) => y[1] - x[1]);
  return {
    commands: calls.reduce((t, [, v]) => t + v, 0),
    top: Object.fromEntries(calls.slice(0, 8)),
    serverUs: (b.usec - a.usec) / n,
    bytesIn: (b.netIn - a.netIn) / n,
    bytesOut: (b.netOut - a.netOut) / n,
  };
}

/** Deletes every key under the bench's own prefix (SCAN + UNLINK; never FLUSHALL: the Redis is shared). */
export async function deleteKeys(redis: RedisClient, prefix: string): Promise<number> {
  const pattern = namespacePattern(prefix);
  const cluster = redis instanceof Cluster;
  let n = 0;
  for (const node of masters(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
      cursor = next;
      if (!keys.length) continue;
      // On a cluster one node's keys may be in different slots: one UNLINK per key, pipelined.
      if (cluster) await keys.reduce((p, k) => p.unlink(k), node.pipeline()).exec();
      else await node.unlink(...keys);
      n += keys.length;
    } while (cursor !== '0');
  }
  return n;
}

export async function startProviderProcess(): Promise<{ url: string; child: ChildProcess; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'scripts/bench/provider-server.mjs')], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /listening (\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`bench provider exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}/token`,
    child,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/** Sets the bench provider's answer latency (ms). */
export function setProviderLatency(child: ChildProcess, latencyMs: number): void {
  child.send({ latencyMs });
}

/** Token requests in flight at the bench provider since the last call: the largest number at once and the time-weighted mean. */
export function providerInFlight(child: ChildProcess): Promise<{ max: number; mean: number; windowMs: number }> {
  return new Promise((resolve) => {
    const on = (m: { inflight?: { max: number; mean: number; windowMs: number } }) => {
      if (!m.inflight) return;
      child.off('message', on);
      resolve(m.inflight);
    };
    child.on('message', on);
    child.send('inflight');
  });
}

/** A daemon as a child process (`node tsx worker/main.ts`), as it runs in production. */
export function startDaemonProcess(
  env: Record<string, string>,
  label: string,
): { child: ChildProcess; stop: () => Promise<void> } {
  // As `npm start` does: one process (the tsx CLI would fork a second one, and the CPU meter would
  // count only the first). BENCH_DAEMON_NODE_ARGS adds node flags, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const extra = (process.env.BENCH_DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...extra, '--import', 'tsx', path.join(ROOT, 'worker/main.ts')], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let errTail = '';
  child.stderr.on('data', (d: Buffer) => {
    errTail = (errTail + d.toString()).slice(-4000);
  });
  child.once('exit', (code, sig) => {
    if (code !== 0 && code !== 143 && sig !== 'SIGTERM' && sig !== 'SIGKILL')
      progress(`daemon ${label} exited with ${code ?? sig}: ${errTail.trim().split('\n').slice(-3).join(' | ')}`);
  });
  return {
    child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await once(child, 'exit');
      clearTimeout(t);
    },
  };
}

export const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : 'n/a';

/**
 * Bytes Redis holds under a prefix, measured key by key (MEMORY USAGE), so other users of a shared
 * Redis do not show up in the figure: every non-job key exactly, job hashes from a sample of 2,000.
 */
export async function prefixMemory(
  redis: RedisClient,
  prefix: string,
): Promise<{ bytes: number; jobs: number; keys: number }> {
  const parts = await Promise.all(masters(redis).map((node) => nodePrefixMemory(node, prefix)));
  return parts.reduce((a, b) => ({ bytes: a.bytes + b.bytes, jobs: a.jobs + b.jobs, keys: a.keys + b.keys }));
}

async function nodePrefixMemory(
  redis: ReturnType<typeof masters>[number],
  prefix: string,
): Promise<{ bytes: number; jobs: number; keys: number }> {
  const pattern = namespacePattern(prefix);
  const jobKeys: string[] = [];
  const other: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 10000);
    cursor = next;
    for (const k of keys)
      (/:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(k) ? jobKeys : other).push(k);
  } while (cursor !== '0');
  let bytes = 0;
  for (const k of other) bytes += Number((await redis.call('MEMORY', 'USAGE', k, 'SAMPLES', '0')) ?? 0);
  const sample =
    jobKeys.length <= 2000
      ? jobKeys
      : Array.from({ length: 2000 }, () => jobKeys[Math.floor(Math.random() * jobKeys.length)]);
  if (sample.length) {
    const pipe = redis.pipeline();
    for (const k of sample) pipe.call('MEMORY', 'USAGE', k, 'SAMPLES', '0');
    const res = (await pipe.exec()) ?? [];
    const total = res.reduce((a, [, v]) => a + Number(v ?? 0), 0);
    bytes += (total / sample.length) * jobKeys.length;
  }
  return { bytes, jobs: jobKeys.length, keys: jobKeys.length + other.length };
}
