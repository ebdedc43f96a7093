// Run before the tests and the demo: one clear line if Redis or PostgreSQL is not reachable.
import { checkPostgres, checkRedis, ServiceUnavailable } from '../worker/util/services.ts';
import { targetFromEnv } from '../worker/redis/connect.ts';

const pgUrl =
  process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
// The test run creates its own database, so check the server through the maintenance database.
const serverUrl = (() => {
  const u = new URL(pgUrl);
  u.pathname = '/postgres';
  return u.toString();
})();

try {
  await checkPostgres(serverUrl);
  await checkRedis(targetFromEnv());
} catch (e) {
  if (e instanceof ServiceUnavailable) {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  }
  throw e;
}
