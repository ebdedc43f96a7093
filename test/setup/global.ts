// One fresh PostgreSQL database per test run, migrated with the project's own migrations;
// dropped at the end. Each test file then uses its own queue prefix on the shared Redis.
import { randomBytes } from 'node:crypto';
import { applyMigrations, dropDatabase } from '../../scripts/lib/migrations.ts';

export default async function setup({ provide }: { provide: (key: string, value: string) => void }) {
  const base = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/oauth_refresher';
  const url = new URL(base);
  url.pathname = `/ort_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const databaseUrl = url.toString();
  await applyMigrations(databaseUrl);
  process.env.ORT_TEST_DATABASE_URL = databaseUrl;
  provide('databaseUrl', databaseUrl);
  return async () => {
    if (!process.env.KEEP_TEST_DB) await dropDatabase(databaseUrl);
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}
