// The HTTP API: /v1 (bearer keys), /healthz, /readyz. A composition of one route module per
// resource; validation (validate.ts), views (views.ts) and the store do the work.
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { OnDemand } from '../refresh/ondemand.ts';
import type { Scheduler } from '../schedule/scheduler.ts';
import type { Db } from '../store/db.ts';
import type { Registration } from '../store/registration.ts';
import { bearerAuth, type ApiKeys, type AuthHook } from './auth.ts';
import { endConnectionsWhileClosing } from './closing.ts';
import { errorHandler } from './replies.ts';
import { connectionRoutes } from './routes/connections.ts';
import { healthRoutes, type Readiness } from './routes/health.ts';
import { tokenRoutes } from './routes/tokens.ts';

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
}

export async function buildApi(d: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: d.bodyLimit ?? 1024 * 1024, return503OnClosing: true });
  endConnectionsWhileClosing(app);
  app.setErrorHandler(errorHandler(d.log));
  const auth = bearerAuth(d.apiKeys);
  healthRoutes(app, d);
  connectionRoutes(app, { ...d, auth });
  tokenRoutes(app, { ...d, auth, now: d.now ?? Date.now });
  await d.extend?.(app, auth);
  return app;
}
