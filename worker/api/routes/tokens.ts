// A connection's tokens: GET .../token (the app's access token, refreshed when due), POST
// .../refresh (forced), PUT .../tokens (replaced after a reconnect).
import type { FastifyInstance } from 'fastify';
import type { ProviderRegistry } from '../../providers/registry.ts';
import type { OnDemand } from '../../refresh/ondemand.ts';
import type { Scheduler } from '../../schedule/scheduler.ts';
import { connectionById } from '../../store/connection-queries.ts';
import type { Db } from '../../store/db.ts';
import type { Registration } from '../../store/registration.ts';
import { isUuid } from '../../util/ids.ts';
import type { AuthHook } from '../auth.ts';
import { bad, notFound } from '../replies.ts';
import { parseMinValidSeconds, validateReplaceTokens } from '../../validation/validate.ts';
import { routeSchemas as S } from '../schemas.ts';
import { connectionView, outcomeView, retryAfterSeconds, tokenView } from '../views.ts';
import { loadById, NOT_A_CONNECTION_ID } from './load.ts';

export interface TokenRouteDeps {
  db: Db;
  providers: Pick<ProviderRegistry, 'get'>;
  registration: Pick<Registration, 'replaceTokens'>;
  scheduler: Pick<Scheduler, 'ensure'>;
  onDemand: Pick<OnDemand, 'token' | 'refresh'>;
  auth: AuthHook;
  now: () => number;
}

export function tokenRoutes(app: FastifyInstance, d: TokenRouteDeps): void {
  const write = { preHandler: d.auth('token') };

  app.get<{ Params: { id: string }; Querystring: { min_valid_seconds?: string } }>(
    '/v1/connections/:id/token',
    { ...write, schema: S.token },
    async (req, reply) => {
      const mv = parseMinValidSeconds(req.query.min_valid_seconds);
      if (!mv.ok) return bad(reply, mv.field, mv.message);
      if (!isUuid(req.params.id)) return bad(reply, 'id', NOT_A_CONNECTION_ID);
      const r = await d.onDemand.token(req.params.id, mv.value * 1000);
      switch (r.kind) {
        case 'not_found':
          return notFound(reply);
        case 'needs_reauth':
          return reply.code(409).send({ status: 'needs_reauth', reauthReason: r.reauthReason });
        case 'unavailable':
          // When the connection is backing off after failures, Retry-After says when its next try is.
          return reply
            .code(503)
            .header('retry-after', String(retryAfterSeconds(r.outcome, d.now())))
            .send({ error: 'refresh_failed', ...outcomeView(r.outcome) });
        case 'token':
          reply.header('cache-control', 'no-store');
          return tokenView(r);
      }
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/connections/:id/refresh',
    { ...write, schema: S.refresh },
    async (req, reply) => {
      const row = await loadById(d.db, req.params.id, reply);
      if (!row) return reply;
      if (row.status !== 'active') return reply.code(409).send({ status: row.status, reauthReason: row.reauthReason });
      const out = await d.onDemand.refresh(row.id, 'forced');
      const after = await connectionById(d.db, row.id);
      if (after?.status === 'active') await d.scheduler.ensure(after.id, after.provider, after.nextRefreshAt);
      return outcomeView(out);
    },
  );

  app.put<{ Params: { id: string } }>(
    '/v1/connections/:id/tokens',
    { ...write, schema: S.replaceTokens },
    async (req, reply) => {
      const row = await loadById(d.db, req.params.id, reply);
      if (!row) return reply;
      const v = validateReplaceTokens(req.body);
      if (!v.ok) return bad(reply, v.field, v.message);
      const provider = d.providers.get(row.provider);
      if (!provider)
        return reply
          .code(409)
          .send({ error: 'provider_unknown', message: "the connection's provider is no longer defined" });
      const updated = await d.registration.replaceTokens({
        id: row.id,
        provider,
        tokens: v.value.tokens,
        metadata: v.value.metadata,
      });
      if (!updated) return notFound(reply);
      await d.scheduler.ensure(updated.id, updated.provider, updated.nextRefreshAt);
      return connectionView(updated);
    },
  );
}
