// Configuration: parsed and validated once at start. A bad variable fails fast, naming it.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { cronOverrideFromEnv } from '../providers/env.ts';
import { decodeWebhookSecret } from './webhook-secret.ts';
import { parseClusterNodes, type RedisAuth, type RedisTarget } from '../redis/connect.ts';

export class ConfigError extends Error {
  constructor(
    public readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

export type Role = 'api' | 'worker' | 'scheduler';

/** Where this process serves GET /metrics: on the API's port, on a port of its own, or not at all. */
export type MetricsListen = { kind: 'api' } | { kind: 'port'; port: number } | { kind: 'off' };

export interface Config {
  nodeEnv: string;
  databaseUrl: string;
  redisUrl: string;
  /** REDIS_CLUSTER_NODES set: a Redis Cluster (REDIS_URL is then not used), else REDIS_URL. */
  redis: RedisTarget;
  port: number;
  host: string;
  /** METRICS_PORT: default the API's port when the api role runs, else 9464; 0 = off. */
  metrics: MetricsListen;
  apiKeys: { key: string; scope: 'read' | 'token' }[];
  /** key id -> 32-byte key; the first entry encrypts, all decrypt. */
  encryptionKeys: { id: string; key: Buffer }[];
  providersFile?: string;
  allowInsecureTokenUrls: boolean;
  queuePrefix: string;
  /** REFRESH_QUEUE_SHARDS: refresh queues per provider (schedule/policy.ts), 1-64. */
  refreshQueueShards: number;
  roles: Set<Role>;
  requestTimeoutMs: number;
  lockTtlMs: number;
  /**
   * WORKER_CONCURRENCY: the `concurrency` (jobs in flight per process) of providers whose definition
   * sets none, as the provider registry's default; also sizes the PostgreSQL pool when
   * DATABASE_POOL_SIZE is 0 (WORKER_CONCURRENCY + 5, between 10 and 50).
   */
  workerConcurrency: number;
  /** PostgreSQL connections per process (0 = derived from WORKER_CONCURRENCY). */
  databasePoolSize: number;
  feederIntervalMs: number;
  horizonMs: number;
  /** REFRESH_LEAD_MS: the `refreshLeadSec` of providers whose definition sets none, as the provider registry's default. */
  refreshLeadMs: number;
  refreshJitterMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  commitRetryMs: number;
  jobLockMs: number;
  stalledIntervalMs: number;
  shutdownTimeoutMs: number;
  breakerProbeIntervalMs: number;
  /** Provider-wide outage hold (providers/outage-policy.ts OutageThresholds). */
  outage: OutageConfig;
  /** Cron-refreshed providers (no expiry in answers): spread each tick's refreshes over this window. */
  cronSpreadMs: number;
  webhookUrl?: string;
  /** Standard Webhooks secrets (whsec_...), the first signs as current; empty without WEBHOOK_URL. */
  webhookSecrets: string[];
  webhookMaxAgeMs: number;
  dispatchIntervalMs: number;
  logLevel: string;
  logPretty: boolean;
  adminQueuesWritable: boolean;
  cronOverride: Record<string, string>;
  workerId: string;
  /** Base URL users' browsers reach the daemon at (connect flow); unset: the connect endpoints answer 503. */
  publicUrl?: string;
  /** Allowed return URL prefixes of the connect flow (CONNECT_RETURN_URLS). */
  connectReturnUrls: string[];
  connectSessionTtlMs: number;
  /** The web console at /console (served by the api role). */
  consoleEnabled: boolean;
}

type Env = Record<string, string | undefined>;

function str(env: Env, name: string, def?: string): string {
  const v = env[name];
  if (v === undefined || v === '') {
    if (def === undefined) throw new ConfigError(name, 'is required but not set (see .env.example)');
    return def;
  }
  return v;
}

function int(env: Env, name: string, def: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(name, `must be an integer, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

export interface OutageConfig {
  minConnections: number;
  windowMs: number;
  probeBaseMs: number;
  probeMaxMs: number;
  releaseSpreadMs: number;
}

function outageConfig(env: Env): OutageConfig {
  const probeBaseMs = int(env, 'OUTAGE_PROBE_BASE_MS', 1000, 100, 600_000);
  const probeMaxMs = int(env, 'OUTAGE_PROBE_MAX_MS', 3000, 100, 600_000);
  if (probeMaxMs < probeBaseMs)
    throw new ConfigError('OUTAGE_PROBE_MAX_MS', `must be at least OUTAGE_PROBE_BASE_MS (${probeBaseMs})`);
  return {
    minConnections: int(env, 'OUTAGE_MIN_CONNECTIONS', 5, 1, 1_000_000),
    windowMs: int(env, 'OUTAGE_WINDOW_MS', 10_000, 100, 3600_000),
    probeBaseMs,
    probeMaxMs,
    releaseSpreadMs: int(env, 'OUTAGE_RELEASE_SPREAD_MS', 1000, 0, 600_000),
  };
}

function bool(env: Env, name: string, def: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

function url(env: Env, name: string, def: string | undefined, protocols: string[]): string {
  const v = str(env, name, def);
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new ConfigError(name, 'is not a valid URL');
  }
  if (!protocols.includes(u.protocol)) throw new ConfigError(name, `must use ${protocols.join(' or ')}`);
  return v;
}

/** Reads a secret from NAME or from the file named by NAME_FILE (Docker/K8s secrets). */
function secretFromEnv(env: Env, name: string): string | undefined {
  const file = env[`${name}_FILE`];
  if (file) {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (e) {
      throw new ConfigError(`${name}_FILE`, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

/** Warnings found while loading the configuration (printed by the daemon at start). */
export const configWarnings: string[] = [];

function decodeKey(material: string): { bytes: Buffer; derived: boolean } | null {
  const m = material.trim();
  if (/^[0-9a-fA-F]{64}$/.test(m)) return { bytes: Buffer.from(m, 'hex'), derived: false };
  if (/^[A-Za-z0-9+/_-]+=*$/.test(m)) {
    const b = Buffer.from(m.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (b.length === 32) return { bytes: b, derived: false };
  }
  // A long passphrase still gives a strong key; a short one is refused.
  if (m.length >= 32) return { bytes: createHash('sha256').update(m, 'utf8').digest(), derived: true };
  return null;
}

export function parseEncryptionKeys(env: Env): { id: string; key: Buffer }[] {
  const many = secretFromEnv(env, 'ENCRYPTION_KEYS');
  const one = secretFromEnv(env, 'ENCRYPTION_KEY');
  const name = many ? 'ENCRYPTION_KEYS' : 'ENCRYPTION_KEY';
  const raw = many ?? one;
  if (!raw)
    throw new ConfigError(
      'ENCRYPTION_KEY',
      'is required: 32 random bytes in base64 (openssl rand -base64 32), or ENCRYPTION_KEYS=id:base64,id2:base64',
    );
  const entries = many
    ? raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : [`k1:${raw.trim()}`];
  const seen = new Set<string>();
  return entries.map((entry, i) => {
    const idx = entry.indexOf(':');
    if (idx <= 0) throw new ConfigError(name, `entry ${i + 1} must look like id:base64key`);
    const id = entry.slice(0, idx);
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(id))
      throw new ConfigError(name, `entry ${i + 1}: key id must be 1-32 letters, digits, _ or -`);
    if (seen.has(id)) throw new ConfigError(name, `key id "${id}" appears twice`);
    seen.add(id);
    const material = entry.slice(idx + 1);
    const key = decodeKey(material);
    if (!key) {
      throw new ConfigError(
        name,
        `key "${id}" must be 32 bytes in base64 (openssl rand -base64 32) or 64 hex characters, or a passphrase of at least 32 characters`,
      );
    }
    if (key.derived)
      configWarnings.push(
        `${name}: key "${id}" is a passphrase, not 32 random bytes; a key was derived from it with SHA-256. Prefer: openssl rand -base64 32`,
      );
    return { id, key: key.bytes };
  });
}

const MAKE_WEBHOOK_SECRET = 'make one with `npm run ops -- webhooks secret`';

/** WEBHOOK_SECRETS (space- or comma-separated, first is current) or WEBHOOK_SECRET; each in the whsec_ form. */
function parseWebhookSecrets(env: Env): string[] {
  const many = secretFromEnv(env, 'WEBHOOK_SECRETS');
  const one = secretFromEnv(env, 'WEBHOOK_SECRET');
  const name = many ? 'WEBHOOK_SECRETS' : 'WEBHOOK_SECRET';
  if (many && one)
    configWarnings.push('WEBHOOK_SECRET is ignored: WEBHOOK_SECRETS is set (its first secret signs as current)');
  const secrets = (many ?? one ?? '').split(/[\s,]+/).filter(Boolean);
  if (!many && secrets.length > 1)
    throw new ConfigError(name, 'holds one secret; several (for a rotation) go in WEBHOOK_SECRETS');
  secrets.forEach((s, i) => {
    const d = decodeWebhookSecret(s);
    if (!d.ok)
      throw new ConfigError(
        name,
        `must be whsec_ followed by the base64 of 24-64 random bytes (${many ? `secret ${i + 1}` : 'this one'} ${d.problem}); ${MAKE_WEBHOOK_SECRET}`,
      );
  });
  if (new Set(secrets).size !== secrets.length) throw new ConfigError(name, 'lists the same secret twice');
  return secrets;
}

function parseApiKeys(env: Env): Config['apiKeys'] {
  const keys: Config['apiKeys'] = [];
  const add = (name: string, scope: 'read' | 'token') => {
    const raw = secretFromEnv(env, name);
    if (!raw) return;
    for (const k of raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      if (k.length < 16)
        configWarnings.push(
          `${name}: an API key is shorter than 16 characters; use a long random key in production (openssl rand -hex 24)`,
        );
      keys.push({ key: k, scope });
    }
  };
  add('API_KEY', 'token');
  add('API_KEYS', 'token');
  add('API_READ_KEYS', 'read');
  if (keys.length === 0)
    throw new ConfigError('API_KEY', 'is required: the bearer key for the /v1 API (a long random string)');
  return keys;
}

function parseRoles(env: Env): Set<Role> {
  const raw = str(env, 'ROLES', 'api,worker,scheduler');
  const roles = new Set<Role>();
  for (const r of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (r !== 'api' && r !== 'worker' && r !== 'scheduler')
      throw new ConfigError('ROLES', `unknown role "${r}" (use api, worker, scheduler)`);
    roles.add(r);
  }
  if (roles.size === 0) throw new ConfigError('ROLES', 'must name at least one role');
  return roles;
}

function parseReturnUrls(env: Env): string[] {
  const raw = env.CONNECT_RETURN_URLS ?? '';
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((v) => {
      let u: URL;
      try {
        u = new URL(v);
      } catch {
        throw new ConfigError('CONNECT_RETURN_URLS', `"${v.slice(0, 100)}" is not a valid URL`);
      }
      if (u.protocol !== 'http:' && u.protocol !== 'https:')
        throw new ConfigError('CONNECT_RETURN_URLS', `"${v.slice(0, 100)}" must use http or https`);
      if (u.username || u.password)
        throw new ConfigError('CONNECT_RETURN_URLS', `"${v.slice(0, 100)}" must not carry user info`);
      return v;
    });
}

/** The default metrics port of a process without the api role (Prometheus' range for exporters). */
const DEFAULT_METRICS_PORT = 9464;

/** METRICS_PORT against PORT and ROLES (pure). */
function metricsListen(raw: number | undefined, roles: ReadonlySet<Role>, apiPort: number): MetricsListen {
  if (raw === 0) return { kind: 'off' };
  const port = raw ?? (roles.has('api') ? apiPort : DEFAULT_METRICS_PORT);
  return roles.has('api') && port === apiPort ? { kind: 'api' } : { kind: 'port', port };
}

export function loadConfig(env: Env = process.env): Config {
  configWarnings.length = 0;
  const webhookUrl = env.WEBHOOK_URL ? url(env, 'WEBHOOK_URL', undefined, ['http:', 'https:']) : undefined;
  const webhookSecrets = parseWebhookSecrets(env);
  if (webhookUrl && webhookSecrets.length === 0)
    throw new ConfigError(
      'WEBHOOK_SECRET',
      `is required when WEBHOOK_URL is set (it signs every delivery); ${MAKE_WEBHOOK_SECRET}`,
    );
  const requestTimeoutMs = int(env, 'REQUEST_TIMEOUT_MS', 10_000, 100, 300_000);
  const lockTtlMs = int(env, 'LOCK_TTL_MS', Math.max(30_000, requestTimeoutMs * 3), 1000);
  if (lockTtlMs <= requestTimeoutMs)
    throw new ConfigError('LOCK_TTL_MS', `must be longer than REQUEST_TIMEOUT_MS (${requestTimeoutMs})`);
  const nodeEnv = env.NODE_ENV ?? 'development';
  const roles = parseRoles(env);
  const port = int(env, 'PORT', 3000, 0, 65535);
  const metricsPort =
    env.METRICS_PORT === undefined || env.METRICS_PORT === '' ? undefined : int(env, 'METRICS_PORT', 0, 0, 65535);
  const redisUrl = url(env, 'REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']);
  return {
    nodeEnv,
    // Same default as `npm run db:migrate`, so the two agree on a fresh machine.
    databaseUrl: url(env, 'DATABASE_URL', 'postgresql://postgres@127.0.0.1:5432/oauth_refresher', [
      'postgres:',
      'postgresql:',
    ]),
    redisUrl,
    redis: redisTarget(env, redisUrl),
    port,
    host: str(env, 'HOST', '0.0.0.0'),
    metrics: metricsListen(metricsPort, roles, port),
    apiKeys: parseApiKeys(env),
    encryptionKeys: parseEncryptionKeys(env),
    providersFile: env.PROVIDERS_FILE || undefined,
    allowInsecureTokenUrls: bool(env, 'ALLOW_INSECURE_TOKEN_URLS', false),
    queuePrefix: str(env, 'QUEUE_PREFIX', '{oauth-refresher}'),
    refreshQueueShards: int(env, 'REFRESH_QUEUE_SHARDS', 1, 1, 64),
    roles,
    requestTimeoutMs,
    lockTtlMs,
    workerConcurrency: int(env, 'WORKER_CONCURRENCY', 20, 1, 1000),
    databasePoolSize: int(env, 'DATABASE_POOL_SIZE', 0, 0, 500),
    feederIntervalMs: int(env, 'FEEDER_INTERVAL_MS', 60_000, 200),
    horizonMs: int(env, 'HORIZON_MS', 15 * 60_000, 1000),
    refreshLeadMs: int(env, 'REFRESH_LEAD_MS', 5 * 60_000, 0),
    // 10 min (at most 10% of a token's lifetime): connections registered together (a burst) spread
    // over minutes, not seconds, so a process has few token requests in flight at once (bench: waves).
    refreshJitterMs: int(env, 'REFRESH_JITTER_MS', 600_000, 0),
    retryBaseMs: int(env, 'RETRY_BASE_MS', 5_000, 10),
    retryMaxMs: int(env, 'RETRY_MAX_MS', 10 * 60_000, 10),
    commitRetryMs: int(env, 'COMMIT_RETRY_MS', 120_000, 0),
    jobLockMs: int(env, 'JOB_LOCK_MS', 30_000, 1000),
    stalledIntervalMs: int(env, 'STALLED_INTERVAL_MS', 30_000, 500),
    shutdownTimeoutMs: int(env, 'SHUTDOWN_TIMEOUT_MS', 25_000, 0),
    breakerProbeIntervalMs: int(env, 'BREAKER_PROBE_INTERVAL_MS', 60_000, 100),
    outage: outageConfig(env),
    cronSpreadMs: int(env, 'CRON_SPREAD_MS', 3600_000, 0, 24 * 3600_000),
    webhookUrl,
    webhookSecrets,
    webhookMaxAgeMs: int(env, 'WEBHOOK_MAX_AGE_MS', 48 * 3600_000, 1000),
    dispatchIntervalMs: int(env, 'WEBHOOK_DISPATCH_INTERVAL_MS', 1000, 50),
    logLevel: str(env, 'LOG_LEVEL', 'info'),
    logPretty: bool(env, 'LOG_PRETTY', nodeEnv === 'development' && Boolean(process.stdout.isTTY)),
    adminQueuesWritable: bool(env, 'ADMIN_QUEUES_WRITABLE', false),
    // REFRESH_CRON_<PROVIDER>: parsed where provider env names live (also re-read on SIGHUP).
    cronOverride: cronOverrideFromEnv(env),
    publicUrl: env.PUBLIC_URL ? url(env, 'PUBLIC_URL', undefined, ['http:', 'https:']).replace(/\/+$/, '') : undefined,
    connectReturnUrls: parseReturnUrls(env),
    connectSessionTtlMs: int(env, 'CONNECT_SESSION_TTL_MS', 1_800_000, 100, 7 * 24 * 3600_000),
    consoleEnabled: bool(env, 'CONSOLE_ENABLED', true),
    workerId: env.WORKER_ID || `${process.env.HOSTNAME ?? 'local'}:${process.pid}`,
  };
}

function redisTarget(env: Env, redisUrl: string): RedisTarget {
  const auth = redisAuth(env);
  const raw = env.REDIS_CLUSTER_NODES;
  if (raw === undefined || raw.trim() === '') return { kind: 'single', url: redisUrl, ...(auth ? { auth } : {}) };
  const nodes = parseClusterNodes(raw);
  if (typeof nodes === 'string') throw new ConfigError('REDIS_CLUSTER_NODES', nodes);
  return { kind: 'cluster', nodes, ...(auth ? { auth } : {}) };
}

/** REDIS_USERNAME, REDIS_PASSWORD (or REDIS_PASSWORD_FILE), REDIS_TLS; undefined when none is set. */
function redisAuth(env: Env): RedisAuth | undefined {
  const username = env.REDIS_USERNAME || undefined;
  const password = secretFromEnv(env, 'REDIS_PASSWORD');
  const tls = bool(env, 'REDIS_TLS', false);
  if (username && !password)
    throw new ConfigError('REDIS_USERNAME', 'needs REDIS_PASSWORD (an ACL user signs in with both)');
  return username || password || tls ? { username, password, tls } : undefined;
}
