// The daemon, started as `npm start` starts it, with its own config: the demo's database, Redis
// prefix, API key, a providers file naming the fake, and timings shrunk for tokens living seconds.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FakeProvider } from '../../test/fakes/fake-provider.ts';
import { FAST_TIMINGS } from '../../test/helpers/timings.ts';
import { DaemonProcess } from './daemon-process.ts';
import type { Run } from './run.ts';
import { PROVIDER_KEY, type Api, type ApiBody, type ApiReply } from './types.ts';
import { secs, type Ui } from './ui.ts';
import { freePort } from './util.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Config variables the daemon reads: none of the caller's may leak into the demo's daemon. */
const DAEMON_VARS =
  /^(NODE_ENV|DATABASE_URL|REDIS_URL|PORT|HOST|API_KEYS?|API_READ_KEYS|ENCRYPTION_KEYS?|PROVIDERS_FILE|ALLOW_INSECURE_TOKEN_URLS|QUEUE_PREFIX|ROLES|REQUEST_TIMEOUT_MS|LOCK_TTL_MS|WORKER_CONCURRENCY|FEEDER_INTERVAL_MS|HORIZON_MS|REFRESH_LEAD_MS|REFRESH_JITTER_MS|RETRY_BASE_MS|RETRY_MAX_MS|COMMIT_RETRY_MS|JOB_LOCK_MS|STALLED_INTERVAL_MS|SHUTDOWN_TIMEOUT_MS|BREAKER_PROBE_INTERVAL_MS|WEBHOOK_.*|LOG_LEVEL|LOG_PRETTY|ADMIN_QUEUES_WRITABLE|REFRESH_CRON_.*|WORKER_ID|ORT_.*)(_FILE)?$/;

function writeProvidersFile(run: Run, fake: FakeProvider): string {
  run.created.tmpDir = mkdtempSync(path.join(tmpdir(), 'ort-demo-'));
  const providersFile = path.join(run.created.tmpDir, 'providers.json');
  writeFileSync(
    providersFile,
    JSON.stringify(
      {
        providers: {
          [PROVIDER_KEY]: {
            displayName: 'Demo (fake provider)',
            tokenUrl: fake.tokenUrl,
            clientAuth: 'basic',
            clientId: fake.clientId,
            clientSecret: fake.clientSecret,
            rotation: 'always',
            refreshLeadSec: 1,
            authorizeUrl: fake.authorization.authorizeUrl,
            revocationUrl: fake.authorization.revocationUrl,
          },
        },
      },
      null,
      2,
    ),
  );
  return providersFile;
}

interface DaemonConfig {
  dbUrl: string;
  redisUrl: string;
  prefix: string;
  apiKey: string;
  providersFile: string;
  port: number;
}

function daemonEnv(c: DaemonConfig): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!DAEMON_VARS.test(k)) env[k] = v;
  Object.assign(env, {
    NODE_ENV: 'development',
    DATABASE_URL: c.dbUrl,
    REDIS_URL: c.redisUrl,
    API_KEY: c.apiKey,
    ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    ALLOW_INSECURE_TOKEN_URLS: 'true', // the fake provider speaks http on 127.0.0.1
    PROVIDERS_FILE: c.providersFile,
    QUEUE_PREFIX: c.prefix,
    ROLES: 'api,worker,scheduler',
    PORT: String(c.port),
    HOST: '127.0.0.1',
    // The hosted connect flow (the reconnect walk at the end); the app's return page is never fetched.
    PUBLIC_URL: `http://127.0.0.1:${c.port}`,
    CONNECT_RETURN_URLS: 'http://127.0.0.1:9/demo-app',
    // Timings shrunk so that tokens living seconds work (as in the test harness).
    REQUEST_TIMEOUT_MS: '3000',
    LOCK_TTL_MS: '10000',
    ...FAST_TIMINGS,
    // The view shows only warnings and errors; the info-level "refresh attempt" lines give the
    // refreshes by trigger (scheduled / on demand) and how late scheduled ones started.
    LOG_LEVEL: process.env.DEMO_DAEMON_LOG_LEVEL || 'info',
    LOG_PRETTY: 'false',
  });
  return env;
}

export async function startDaemon(
  { say, ok }: Ui,
  run: Run,
  fake: FakeProvider,
  stores: { dbUrl: string; redisUrl: string },
): Promise<{ daemon: DaemonProcess; api: Api }> {
  const providersFile = writeProvidersFile(run, fake);
  const apiKey = `demo-${randomBytes(16).toString('hex')}`;
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const env = daemonEnv({ ...stores, prefix: run.created.prefix!, apiKey, providersFile, port });
  const t = Date.now();
  const daemon = DaemonProcess.start(ROOT, env);
  run.created.daemon = daemon;
  await daemon.waitReady(baseUrl, 60_000, run.aborted);
  say(`  ${ok} daemon      tsx worker/main.ts, pid ${daemon.pid}, API at ${baseUrl}, ready in ${secs(Date.now() - t)}`);
  run.checkAbort();
  return { daemon, api: apiClient(baseUrl, apiKey) };
}

function apiClient(baseUrl: string, apiKey: string): Api {
  return async (method: string, p: string, body?: unknown): Promise<ApiReply> => {
    const res = await fetch(`${baseUrl}${p}`, {
      method,
      headers: {
        authorization: `Bearer ${apiKey}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
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
    // A non-JSON answer keeps its text: callers look at the status before the body.
    return { status: res.status, body: parsed as ApiBody };
  };
}
