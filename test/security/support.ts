// Shared by the security and webhook suites: an isolated database per test file (so a dispatcher
// or a key rotation never touches rows of other suites running in parallel), a log capture with
// the production logger (redaction on), and dumps of everything stored outside the token columns.
import type { Redis } from 'ioredis';
import { createLogger, type Logger } from '../../worker/log/logger.ts';
import type { Db } from '../../worker/store/db.ts';
import { databaseUrl } from '../helpers/harness.ts';

/**
 * This file's own database: the harness already clones one per test file from the run's migrated
 * template (and the run's teardown drops it), so no second migration is needed here.
 */
export async function isolatedDatabase(_label: string): Promise<{ url: string; drop: () => Promise<void> }> {
  return { url: databaseUrl(), drop: async () => {} };
}

/** The production logger (redaction, serializers, message scrubbing) writing into an array. */
export function captureLogger(level = 'trace'): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = createLogger({
    level,
    destination: {
      write: (s: string) => {
        lines.push(s);
      },
    },
  });
  return { log, lines };
}

/** Every key and value under a prefix, whatever the Redis type. */
export async function dumpRedis(redis: Redis, prefix: string): Promise<{ keys: number; text: string[] }> {
  const out: string[] = [];
  let keys = 0;
  let cursor = '0';
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    for (const key of batch) {
      keys++;
      out.push(key);
      const type = await redis.type(key);
      switch (type) {
        case 'string':
          out.push(String(await redis.get(key)));
          break;
        case 'hash':
          out.push(JSON.stringify(await redis.hgetall(key)));
          break;
        case 'list':
          out.push(JSON.stringify(await redis.lrange(key, 0, -1)));
          break;
        case 'set':
          out.push(JSON.stringify(await redis.smembers(key)));
          break;
        case 'zset':
          out.push(JSON.stringify(await redis.zrange(key, 0, -1, 'WITHSCORES')));
          break;
        case 'stream':
          out.push(JSON.stringify(await redis.xrange(key, '-', '+')));
          break;
        case 'none':
          break;
        default:
          out.push(`<${type}>`);
      }
    }
  } while (cursor !== '0');
  return { keys, text: out };
}

/** Every row of every table as JSON, without the two token ciphertext columns. */
export async function dumpNonTokenColumns(db: Db): Promise<{ rows: number; text: string[] }> {
  const text: string[] = [];
  const conn = await db.$queryRaw<
    { j: unknown }[]
  >`SELECT to_jsonb(c) - 'accessTokenEnc' - 'refreshTokenEnc' AS j FROM "Connection" c`;
  const att = await db.$queryRaw<{ j: unknown }[]>`SELECT to_jsonb(a) AS j FROM "RefreshAttempt" a`;
  const ev = await db.$queryRaw<{ j: unknown }[]>`SELECT to_jsonb(e) AS j FROM "OutboxEvent" e`;
  const ps = await db.$queryRaw<{ j: unknown }[]>`SELECT to_jsonb(p) AS j FROM "ProviderState" p`;
  for (const r of [...conn, ...att, ...ev, ...ps]) text.push(JSON.stringify(r.j));
  return { rows: text.length, text };
}

/** Which of the secrets occur in which of the texts (secret -> first place found). */
export function findSecrets(
  secrets: Iterable<string>,
  texts: { where: string; text: string }[],
): Record<string, string> {
  const hits: Record<string, string> = {};
  for (const s of secrets) {
    if (s.length < 8) throw new Error(`secret "${s}" is too short to search for meaningfully`);
    const forms = [s, JSON.stringify(s).slice(1, -1), encodeURIComponent(s)];
    for (const t of texts) {
      if (forms.some((f) => t.text.includes(f))) {
        hits[`${s.slice(0, 6)}…(${s.length})`] =
          `${t.where}: ${t.text.slice(Math.max(0, t.text.indexOf(s) - 80), t.text.indexOf(s) + s.length + 40)}`;
        break;
      }
    }
  }
  return hits;
}

import { loadConfig } from '../../worker/config/env.ts';
import { Daemon } from '../../worker/daemon.ts';
import type { OpsCommand, OpsContext } from '../../worker/ops/types.ts';
import { testEnv } from '../helpers/harness.ts';

/** Runs an ops command the way scripts/ops.ts does: an unstarted daemon from the environment. */
export async function runOps(
  cmd: OpsCommand,
  argv: string[],
  env: Record<string, string | undefined>,
): Promise<{ code: number; out: string[]; err: string[] }> {
  const config = loadConfig(testEnv(env));
  const daemon = new Daemon(config, { log: createLogger({ level: 'silent' }) });
  const out: string[] = [];
  const err: string[] = [];
  const ctx: OpsContext = {
    daemon,
    connect: async () => {
      await daemon.db.$queryRaw`SELECT 1`;
    },
    json: argv.includes('--json'),
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    tty: false,
  };
  try {
    const code = await cmd.run(
      argv.filter((a) => a !== '--json'),
      ctx,
    );
    return { code, out, err };
  } finally {
    await daemon.queues.close().catch(() => undefined);
    await daemon.db.$disconnect().catch(() => undefined);
    daemon.redis.disconnect();
    daemon.bullRedis.disconnect();
  }
}
