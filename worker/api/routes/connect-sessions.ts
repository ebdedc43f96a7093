// POST /v1/connect-sessions (token scope) and GET /v1/connect-sessions/:id (read scope).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Scope } from '../auth.ts';
import { routeSchemas as S } from '../schemas.ts';
import type { ConnectFlow } from '../../connect/flow.ts';
import { createSession, sessionView } from '../../connect/session.ts';
import type { ConnectSessions } from '../../store/connect-sessions.ts';
import type { ProviderRegistry } from '../../providers/registry.ts';
import type { Db } from '../../store/db.ts';

type Auth = (scope: Scope) => (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

export interface ConnectSessionRouteDeps {
  db: Db;
  sessions: ConnectSessions;
  providers: ProviderRegistry;
  /** Undefined while PUBLIC_URL is not set. */
  flow: () => ConnectFlow | undefined;
  now?: () => number;
}

const NOT_CONFIGURED = {
  error: 'not_configured',
  message:
    "the connect flow needs PUBLIC_URL (the base URL users' browsers reach this daemon at; the redirect URI is PUBLIC_URL/oauth/callback)",
};

export function registerConnectSessionRoutes(app: FastifyInstance, auth: Auth, d: ConnectSessionRouteDeps): void {
  app.post(
    '/v1/connect-sessions',
    { preValidation: auth('token'), schema: S.createConnectSession },
    async (req, reply) => {
      const flow = d.flow();
      if (!flow) return reply.code(503).send(NOT_CONFIGURED);
      const r = await createSession(
        { db: d.db, sessions: d.sessions, providers: d.providers, now: d.now },
        flow.config,
        req.body,
      );
      switch (r.kind) {
        case 'invalid':
          return reply.code(400).send({ error: 'invalid_request', field: r.field, message: r.message });
        case 'not_found':
          return reply.code(404).send({ error: 'not_found', field: 'connectionId', message: r.message });
        case 'conflict':
          return reply.code(409).send({ error: 'conflict', field: 'connectionId', message: r.message });
        case 'created':
          return reply.code(201).header('cache-control', 'no-store').send(r.body);
      }
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/connect-sessions/:id',
    { preValidation: auth('read'), schema: S.showConnectSession },
    async (req, reply) => {
      if (!d.flow()) return reply.code(503).send(NOT_CONFIGURED);
      const s = await d.sessions.byId(req.params.id);
      if (!s) return reply.code(404).send({ error: 'not_found', message: 'no such connect session' });
      return sessionView(s, (d.now ?? Date.now)());
    },
  );
}
