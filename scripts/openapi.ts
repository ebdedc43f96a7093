// npm run openapi: writes docs/openapi.json from the routes' schemas. The app is built with inert
// dependencies and never listens: registering the routes is all the document needs.
import { writeFileSync } from 'node:fs';
import pino from 'pino';
import { ApiKeys } from '../worker/api/auth.ts';
import { registerBreakerRoutes } from '../worker/api/routes/breaker.ts';
import { buildApi, type ApiDeps } from '../worker/api/server.ts';

export const OPENAPI_FILE = new URL('../docs/openapi.json', import.meta.url);

/** The document as the routes describe it, formatted as committed. */
export async function generateOpenApi(): Promise<string> {
  const inert = {} as never;
  const app = await buildApi({
    db: inert,
    providers: inert,
    registration: inert,
    scheduler: inert,
    onDemand: inert,
    apiKeys: new ApiKeys([]),
    log: pino({ enabled: false }),
    readiness: async () => ({}),
    connect: { sessions: inert, flow: () => undefined },
    // The provider routes come from the gate extension in a running daemon.
    extend: (a, auth) => registerBreakerRoutes(a, auth, { providers: inert, gate: inert }),
  } satisfies ApiDeps);
  await app.ready();
  const doc = `${JSON.stringify(app.swagger(), null, 2)}\n`;
  await app.close();
  return doc;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(OPENAPI_FILE, await generateOpenApi());
  console.log('wrote docs/openapi.json');
}
