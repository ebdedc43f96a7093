// Set-up: the services checked, the intro, and the demo's own database (migrated) and Redis prefix.
import { randomBytes } from 'node:crypto';
import { checkPostgres, checkRedis, describeRedis, maskUrl, ServiceUnavailable } from '../../worker/util/services.ts';
import { targetFromEnv } from '../../worker/redis/connect.ts';
import { applyMigrations } from '../lib/migrations.ts';
import { fatal, revokeAtMs, type Options } from './options.ts';
import type { Run } from './run.ts';
import { MIN_VALID_S } from './types.ts';
import { secs, type Ui } from './ui.ts';
import { clock } from './view.ts';

const DEFAULT_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/oauth_refresher';
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export interface Services {
  dbUrl: URL;
  redisUrl: string;
}

/** REDIS_URL, or the cluster of REDIS_CLUSTER_NODES (the demo's daemon inherits those variables). */
const redisTarget = (redisUrl: string) => targetFromEnv({ ...process.env, REDIS_URL: redisUrl });

export async function preflight(): Promise<Services> {
  const rawDb = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
  const redisUrl = process.env.REDIS_URL || DEFAULT_REDIS_URL;
  let dbUrl: URL;
  try {
    dbUrl = new URL(rawDb);
  } catch {
    fatal(`DATABASE_URL is not a valid URL; expected e.g. ${DEFAULT_DATABASE_URL}`);
  }
  if (dbUrl.protocol !== 'postgres:' && dbUrl.protocol !== 'postgresql:')
    fatal(`DATABASE_URL must be a postgresql:// URL, got ${maskUrl(rawDb)}`);
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
    await checkRedis(redisTarget(redisUrl));
  } catch (e) {
    if (e instanceof ServiceUnavailable) fatal(e.message);
    throw e;
  }
  return { dbUrl, redisUrl };
}

export function intro({ say, st }: Ui, o: Options): void {
  say(st.bold('oauth-refresher demo'));
  say(
    `  The daemon, started as ${st.bold('npm start')} would start it, keeps ${o.connections} OAuth connections alive whose`,
  );
  say('  access tokens live only 4-8 seconds: it refreshes each one shortly before it expires.');
  say('  The fake provider issues single-use refresh tokens: presenting a spent one is a "reuse event"');
  say('  and kills the grant, so a refresh done twice, or a new token not stored, would show at once.');
  say(`  Meanwhile bursts of GET /token?min_valid_seconds=${MIN_VALID_S} race the scheduler for the same connections,`);
  say(`  and at ~${clock(revokeAtMs(o))} one user "disconnects the app" at the provider: that connection must turn`);
  say('  needs_reauth with reason "revoked" (on the next refresh, or the next GET /token that needs one),');
  say('  while every other connection stays active and current. Then the invariants are checked.');
  say('');
}

/** The demo's own database (created and migrated) and Redis prefix; returns the database URL. */
export async function createStores({ say, st, ok }: Ui, run: Run, pre: Services): Promise<string> {
  const { created } = run;
  const suffix = randomBytes(3).toString('hex');
  const baseName = decodeURIComponent(pre.dbUrl.pathname.replace(/^\//, '')) || 'oauth_refresher';
  const dbName = `${baseName
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 40)}_demo_${suffix}`;
  const demoDb = new URL(pre.dbUrl);
  demoDb.pathname = `/${dbName}`;
  const dbUrl = demoDb.toString();
  created.dbUrl = dbUrl;
  created.dbName = dbName;
  created.redisUrl = pre.redisUrl;
  created.prefix = `{ort-demo-${suffix}}`;
  const t = Date.now();
  created.dbCreated = true; // applyMigrations creates it; drop it even if migrating fails halfway
  const applied = await applyMigrations(dbUrl);
  say(
    `  ${ok} PostgreSQL  ${maskUrl(pre.dbUrl.toString())}: created ${st.bold(dbName)}, ${applied.length} migration${applied.length === 1 ? '' : 's'} applied (${secs(Date.now() - t)})`,
  );
  say(`  ${ok} Redis       ${describeRedis(redisTarget(pre.redisUrl))}: the demo's keys live under ${created.prefix}`);
  run.checkAbort();
  return dbUrl;
}
