// The HTTP API: /v1 (bearer keys), /healthz, /readyz and the hosted connect flow's browser pages
// (the web console is added by the daemon).
// A composition of one route module per resource; validation (validate.ts), views (views.ts) and
// the store do the work.
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { ConnectFlow } from '../connect/flow.ts';
import { notFoundPage } from '../connect/pages.ts';
import { registerConnectRoutes } from '../connect/routes.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { OnDemand } from '../refresh/ondemand.ts';
import type { Scheduler } from '../schedule/scheduler.ts';
import type { ConnectSessions } from '../store/connect-sessions.ts';
import type { Db } from '../store/db.ts';
import type { Registration } from '../store/registration.ts';
import { bearerAuth, type ApiKeys, type AuthHook } from './auth.ts';
import { endConnectionsWhileClosing } from './closing.ts';
import { registerOpenApi } from './openapi.ts';
import { errorHandler } from './replies.ts';
import { registerConnectSessionRoutes } from './routes/connect-sessions.ts';
import { connectionRoutes, type Revoke } from './routes/connections.ts';
import { healthRoutes, type Readiness } from './routes/health.ts';
import { tokenRoutes } from './routes/tokens.ts';

/** The document's info.version: the API's, not the package's (bump on a contract change). */
const API_VERSION = '1.0.0';

export interface ApiDeps {
  db: Db;
  providers: ProviderRegistry;
  registration: Registration;
  scheduler: Scheduler;
  onDemand: OnDemand;
  apiKeys: ApiKeys;
  log: Logger;
  /** Readiness probes by name (redis, postgres, worker...). */
  readiness: Readiness;
  /** Extra routes (metrics, providers, admin queues) registered by other concerns. */
  extend?: (app: FastifyInstance, auth: AuthHook) => Promise<void> | void;
  bodyLimit?: number;
  /** The clock for Retry-After; Date.now unless a test passes its own. */
  now?: () => number;
  /** RFC 7009 revocation of a connection's refresh token (DELETE ?revoke=true). */
  revoke?: Revoke;
  /** The hosted connect flow (flow() is undefined while PUBLIC_URL is not set). */
  connect?: { sessions: ConnectSessions; flow: () => ConnectFlow | undefined };
}

export async function buildApi(d: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: d.bodyLimit ?? 1024 * 1024,
    return503OnClosing: true,
    // Requests are validated against the routes' schemas (schemas.ts). Bodies are taken as sent (no
    // coercion: 123 is not the string "123", nothing is silently dropped); query values are strings.
    // verbose puts each failed keyword's schema (its x-message) on the error; errors are never logged.
    ajv: {
      customOptions: {
        coerceTypes: false,
        removeAdditional: false,
        allowUnionTypes: true,
        verbose: true,
        keywords: ['x-message'],
      },
    },
    // Fastify's own answers to a bad or over-long URL quote the path: answer without it.
    frameworkErrors: (err, _req, reply) => {
      (reply as FastifyReply)
        .code(err.statusCode === 414 ? 414 : 400)
        .send({ error: 'invalid_request', field: 'url', message: 'malformed or over-long URL' });
    },
  });
  endConnectionsWhileClosing(app);
  app.setErrorHandler(errorHandler(d.log));
  // Never echo the URL (a forged query may carry a code or a state): a fixed answer.
  app.setNotFoundHandler((req, reply) => {
    if (/text\/html/.test(req.headers.accept ?? '')) {
      return reply.code(404).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(notFoundPage());
    }
    return reply.code(404).send({ error: 'not_found', message: 'no such route' });
  });
  await registerOpenApi(app, API_VERSION);
  const auth = bearerAuth(d.apiKeys);
  healthRoutes(app, d);
  connectionRoutes(app, { ...d, auth });
  tokenRoutes(app, { ...d, auth, now: d.now ?? Date.now });
  if (d.connect) {
    registerConnectSessionRoutes(app, auth, {
      db: d.db,
      sessions: d.connect.sessions,
      providers: d.providers,
      flow: d.connect.flow,
    });
    registerConnectRoutes(app, d.connect.flow);
  }
  await d.extend?.(app, auth);
  return app;
}
