// Migration CLI (the native `prisma migrate` cannot run here; see scripts/lib/migrations.ts).
//   tsx scripts/migrate.ts deploy          apply pending prisma/migrations   (npm run db:migrate)
//   tsx scripts/migrate.ts create <name>   new migration from schema.prisma  (npm run db:migration -- <name>)
import {
  DEFAULT_DATABASE_URL,
  DatabaseUnreachableError,
  applyMigrations,
  createMigration,
  maskDatabaseUrl,
} from './lib/migrations.js';

const USAGE = 'usage: tsx scripts/migrate.ts deploy | create <name>';

async function main(argv: string[]): Promise<number> {
  const databaseUrl = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
  const log = (line: string) => console.log(line);
  const [command, ...rest] = argv;

  switch (command) {
    case 'deploy': {
      console.log(`migrating ${maskDatabaseUrl(databaseUrl)}`);
      const applied = await applyMigrations(databaseUrl, log);
      console.log(applied.length === 0 ? 'no pending migrations' : `${applied.length} migration(s) applied`);
      return 0;
    }
    case 'create': {
      const name = rest.join('_');
      if (!name) {
        console.error('a migration name is required: npm run db:migration -- <name>');
        return 1;
      }
      const created = await createMigration(databaseUrl, name, { log });
      if (!created) console.log('schema and migrations are in sync; nothing created');
      return 0;
    }
    default:
      console.error(USAGE);
      return command === '--help' || command === '-h' ? 0 : 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    // One line, no stack: these are operator errors (server down, bad SQL, bad URL).
    if (error instanceof DatabaseUnreachableError) console.error(error.message);
    else console.error(`migrate: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
