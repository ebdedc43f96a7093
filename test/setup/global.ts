// One fresh PostgreSQL database per test run, migrated with the project's own migrations, used as
// a template: each test file clones its own database from it (test/helpers/harness.ts), so daemons
// of different files never see each other's connections. All are dropped at the end.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { applyMigrations, dropDatabase } from '../../scripts/lib/migrations.ts';

function adminUrl(url: string): string {
  const u = new URL(url);
  u.pathname = '/postgres';
  return u.toString();
}

export default async function setup({ provide }: { provide: (key: string, value: string) => void }) {
  const base =
    process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/oauth_refresher';
  const url = new URL(base);
  url.pathname = `/ort_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const databaseUrl = url.toString();
  await applyMigrations(databaseUrl);
  process.env.ORT_TEST_DATABASE_URL = databaseUrl;
  provide('databaseUrl', databaseUrl);
  return async () => {
    if (process.env.KEEP_TEST_DB) return;
    const admin = new pg.Client({ connectionString: adminUrl(databaseUrl) });
    await admin.connect();
    const name = new URL(databaseUrl).pathname.slice(1);
    const { rows } = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [
      `${name}%`,
    ]);
    await admin.end();
    for (const r of rows) {
      const u = new URL(databaseUrl);
      u.pathname = `/${r.datname}`;
      await dropDatabase(u.toString()).catch(() => undefined);
    }
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}
