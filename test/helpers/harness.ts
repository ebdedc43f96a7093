// Test harness: real PostgreSQL (the run's database), real Redis (a unique key prefix per daemon),
// a daemon started in-process with test-sized timings, and a small API client.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { createSingleRedis } from '../../worker/redis/connect.ts';
import { inject } from 'vitest';
import pino from 'pino';
import pg from 'pg';
import { FAST_TIMINGS } from './timings.ts';
import { loadConfig, type Config } from '../../worker/config/env.ts';
import { Daemon, type DaemonOptions } from '../../worker/daemon.ts';
import { createDb, type Db } from '../../worker/store/db.ts';

export const TEST_API_KEY = 'test-api-key-0123456789abcdef';
export const TEST_READ_KEY = 'test-read-key-0123456789abcdef';
export const TEST_ENCRYPTION_KEY = Buffer.alloc(32, 7).toString('base64');
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * This test file's own database, cloned from the run's migrated template when the harness is first
 * imported (module state is per file in vitest), so no other file's daemon can see its rows.
 */
const fileDatabaseUrl: string = await (async () => {
  const template = new URL(inject('databaseUrl'));
  const name = `${template.pathname.slice(1)}_${randomBytes(4).toString('hex')}`;
  const admin = new URL(template.toString());
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(`CREATE DATABASE "${name}" TEMPLATE "${template.pathname.slice(1)}"`);
        break;
      } catch (e) {
        // Two files cloning at the same instant: "source database is being accessed by other users".
        if (attempt >= 20 || (e as { code?: string }).code !== '55006') throw e;
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
      }
    }
  } finally {
    await client.end();
  }
  const u = new URL(template.toString());
  u.pathname = `/${name}`;
  return u.toString();
})();

export function databaseUrl(): string {
  return fileDatabaseUrl;
}

function uniquePrefix(label = 't'): string {
  return `{ort-${label}-${randomBytes(4).toString('hex')}}`;
}

export function writeProvidersFile(providers: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'ort-providers-'));
  const file = join(dir, 'providers.json');
  writeFileSync(file, JSON.stringify({ providers }, null, 2));
  return file;
}

/** Environment for a test daemon; timings shrunk so tokens living seconds work. */
export function testEnv(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    NODE_ENV: 'test',
    DATABASE_URL: databaseUrl(),
    REDIS_URL,
    API_KEY: TEST_API_KEY,
    API_READ_KEYS: TEST_READ_KEY,
    ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    ALLOW_INSECURE_TOKEN_URLS: 'true',
    QUEUE_PREFIX: uniquePrefix(),
    PORT: '0',
    HOST: '127.0.0.1',
    // Generous: on a loaded CI machine a 2 s timeout loses answers the fake already rotated
    // (a real in-flight loss, correctly diagnosed, but not what most tests are about).
    REQUEST_TIMEOUT_MS: '6000',
    LOCK_TTL_MS: '18000',
    ...FAST_TIMINGS,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    LOG_PRETTY: 'false',
    ...overrides,
  };
}

export interface TestDaemon {
  daemon: Daemon;
  config: Config;
  baseUrl: string;
  api: (
    method: string,
    path: string,
    body?: unknown,
    key?: string,
  ) => Promise<{ status: number; body: any; headers: Headers }>;
  stop: () => Promise<void>;
}

export async function startDaemon(
  env: Record<string, string | undefined> = {},
  opts: DaemonOptions = {},
): Promise<TestDaemon> {
  const config = loadConfig(testEnv(env));
  const log = opts.log ?? pino({ level: config.logLevel });
  const daemon = new Daemon(config, { log, ...opts });
  await daemon.start();
  const baseUrl = daemon.address ?? '';
  const api = async (method: string, path: string, body?: unknown, key = TEST_API_KEY) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* keep text */
    }
    return { status: res.status, body: parsed as any, headers: res.headers };
  };
  return { daemon, config, baseUrl, api, stop: () => daemon.close() };
}

export function testDb(): Db {
  return createDb(databaseUrl(), { poolSize: 4 });
}

export function testRedis(): Redis {
  return createSingleRedis(REDIS_URL, { role: 'general' });
}

/** Polls until fn returns a truthy value (or throws after timeoutMs with the last value). */
export async function waitFor<T>(
  fn: () => Promise<T> | T,
  timeoutMs = 20_000,
  what = 'condition',
  intervalMs = 100,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Deletes every key matching a pattern (SCAN, never KEYS or FLUSHDB: other tests share this Redis). */
export async function deleteKeys(redis: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    if (keys.length) n += await redis.del(...keys);
  } while (cursor !== '0');
  return n;
}
