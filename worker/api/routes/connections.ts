// /v1/connections: register (POST), list, show, remove. Tokens and refreshes are in tokens.ts.
import type { FastifyInstance } from 'fastify';
import type { Connection } from '../../generated/prisma/client.ts';
import type { ProviderRegistry, ResolvedProvider } from '../../providers/registry.ts';
import type { Scheduler } from '../../schedule/scheduler.ts';
import { connectionPage } from '../../store/connection-queries.ts';
import type { Db } from '../../store/db.ts';
import type { RevocationResult } from '../../oauth/revoke.ts';
import type { Registration } from '../../store/registration.ts';
import type { AuthHook } from '../auth.ts';
import { bad, notFound } from '../replies.ts';
import {
  parseConnectionPage,
  validateCreate,
  validateTokens,
  type ConnectionPageParams,
  type CreateConnectionBody,
} from '../../validation/validate.ts';
import { routeSchemas as S } from '../schemas.ts';
import { connectionView, createdView } from '../views.ts';
import { loadById } from './load.ts';

export interface ConnectionRouteDeps {
  db: Db;
  providers: Pick<ProviderRegistry, 'get'>;
  registration: Pick<Registration, 'create' | 'remove'>;
  scheduler: Pick<Scheduler, 'ensure' | 'remove'>;
  auth: AuthHook;
  revoke?: Revoke;
}

/** RFC 7009 revocation of a connection's refresh token at its provider. */
export type Revoke = (c: Connection) => Promise<RevocationResult>;

const CONFLICT =
  'a connection with this provider and externalId exists; PUT /v1/connections/:id/tokens replaces its tokens';

export function connectionRoutes(app: FastifyInstance, d: ConnectionRouteDeps): void {
  // The key is checked before the request is validated: a caller without one learns nothing more.
  const read = { preValidation: d.auth('read') };
  const write = { preValidation: d.auth('token') };

  app.post<{ Body: CreateConnectionBody }>(
    '/v1/connections',
    { ...write, schema: S.createConnection },
    async (req, reply) => {
      const v = validateCreate(req.body, (k) => d.providers.get(k) !== undefined);
      if (!v.ok) return bad(reply, v.field, v.message);
      const provider = d.providers.get(v.value.provider)!;
      const created = await d.registration.create({
        provider,
        externalId: v.value.externalId,
        tokens: v.value.tokens,
        metadata: v.value.metadata,
      });
      if (created.kind === 'conflict')
        return reply.code(409).send({ error: 'conflict', message: CONFLICT, id: created.id });
      await d.scheduler.ensure(created.row.id, created.row.provider, created.row.nextRefreshAt);
      const linked = await createLinked(d, provider, created.row, v.value.tokens.raw);
      return reply.code(201).send(createdView(created.row, linked));
    },
  );

  app.get<{ Querystring: ConnectionPageParams }>(
    '/v1/connections',
    { ...read, schema: S.listConnections },
    async (req, reply) => {
      const q = parseConnectionPage(req.query, (k) => d.providers.get(k) !== undefined);
      if (!q.ok) return bad(reply, q.field, q.message);
      const rows = await connectionPage(d.db, q.value);
      return {
        connections: rows.map(connectionView),
        next: rows.length === q.value.limit ? rows[rows.length - 1].id : null,
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/connections/:id',
    { ...read, schema: S.showConnection },
    async (req, reply) => {
      const row = await loadById(d.db, req.params.id, reply);
      if (!row) return reply;
      return connectionView(row);
    },
  );

  app.delete<{ Params: { id: string }; Querystring: { revoke?: string } }>(
    '/v1/connections/:id',
    { ...write, schema: S.deleteConnection },
    async (req, reply) => {
      let revocation: RevocationResult | undefined;
      if (req.query.revoke === 'true') {
        // At the provider first (RFC 7009), then here; the answer says whether the provider revoked.
        const row = await loadById(d.db, req.params.id, reply);
        if (!row) return reply;
        revocation = d.revoke
          ? await d.revoke(row)
          : { revoked: false, reason: 'not_supported', detail: 'revocation is not available' };
      }
      const removed = await d.registration.remove(req.params.id);
      if (!removed) return notFound(reply);
      // The job (if any) finds no row and completes; removing it now keeps Redis tidy.
      await d.scheduler.remove(removed.id, removed.provider);
      if (revocation) return reply.code(200).send({ id: removed.id, deleted: true, ...revocation });
      return reply.code(204).send();
    },
  );
}

/** Linked token sets (e.g. Slack's user token) are kept fresh as their own connections. */
async function createLinked(
  d: ConnectionRouteDeps,
  provider: ResolvedProvider,
  parent: Connection,
  raw: Record<string, unknown>,
) {
  const linked: { id: string; externalId: string }[] = [];
  for (const l of provider.hooks?.linkedTokenSets?.(raw) ?? []) {
    const t = validateTokens(l.tokens, `tokens${l.suffix}`);
    if (!t.ok) continue;
    const c = await d.registration.create({
      provider,
      externalId: `${parent.externalId}${l.suffix}`,
      tokens: t.value,
      metadata: {},
      parentId: parent.id,
    });
    if (c.kind === 'created') {
      linked.push({ id: c.row.id, externalId: c.row.externalId });
      await d.scheduler.ensure(c.row.id, c.row.provider, c.row.nextRefreshAt);
    }
  }
  return linked;
}
