// The HTTP API: /v1 (bearer keys), /healthz, /readyz. Thin: validation and services do the work.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Connection } from '../generated/prisma/client.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { OnDemand } from '../refresh/ondemand.ts';
import type { RefreshOutcome } from '../refresh/outcome.ts';
import type { Scheduler } from '../schedule/scheduler.ts';
import type { Db } from '../store/db.ts';
import type { Registration } from '../store/registration.ts';
import { ApiKeys, type Scope } from './auth.ts';
import { isOutage } from '../util/outage.ts';
import { isUuid, parseMinValidSeconds, validateCreate, validateMetadata, validateTokens } from './validate.ts';
import { registerConnectSessionRoutes } from './routes/connect-sessions.ts';
import { registerConnectRoutes } from '../connect/routes.ts';
import { notFoundPage } from '../connect/pages.ts';
import type { ConnectFlow } from '../connect/flow.ts';
import type { RevocationResult } from '../oauth/revoke.ts';
import type { ConnectSessions } from '../store/connect-sessions.ts';

export interface ApiDeps {
  db: Db;
  providers: ProviderRegistry;
  registration: Registration;
  scheduler: Scheduler;
  onDemand: OnDemand;
  apiKeys: ApiKeys;
  log: Logger;
  /** Readiness probes by name (redis, postgres, worker...). */
  readiness: () => Promise<Record<string, { ok: boolean; detail?: string }>>;
  /** Extra routes (metrics, providers, admin queues) registered by other concerns. */
  extend?: (app: FastifyInstance, auth: (scope: Scope) => (req: FastifyRequest, reply: FastifyReply) => Promise<void>) => Promise<void> | void;
  bodyLimit?: number;
  /** RFC 7009 revocation of a connection's refresh token (DELETE ?revoke=true). */
  revoke?: (c: Connection) => Promise<RevocationResult>;
  /** The hosted connect flow (flow() is undefined while PUBLIC_URL is not set). */
  connect?: { sessions: ConnectSessions; flow: () => ConnectFlow | undefined };
}

export function connectionView(c: Connection) {
  return {
    id: c.id,
    provider: c.provider,
    externalId: c.externalId,
    status: c.status,
    expiresAt: c.expiresAt?.toISOString() ?? null,
    lastRefreshedAt: c.lastRefreshedAt?.toISOString() ?? null,
    nextRefreshAt: c.nextRefreshAt?.toISOString() ?? null,
    version: c.version,
    consecutiveFailures: c.consecutiveFailures,
    ...(c.reauthReason ? { reauthReason: c.reauthReason, reauthAt: c.reauthAt?.toISOString() ?? null } : {}),
    ...(c.lastErrorCode ? { lastError: { code: c.lastErrorCode, description: c.lastErrorDescription, at: c.lastErrorAt?.toISOString() ?? null } } : {}),
    metadata: c.metadata,
    parentId: c.parentId,
    createdAt: c.createdAt.toISOString(),
    updatedAt: c.updatedAt.toISOString(),
  };
}

export function outcomeView(o: RefreshOutcome) {
  switch (o.outcome) {
    case 'rotated':
      return { outcome: o.outcome, version: o.versionAfter, expiresAt: o.expiresAt?.toISOString() ?? null, nextRefreshAt: o.nextRefreshAt.toISOString() };
    case 'transient':
      return { outcome: o.outcome, code: o.code, description: o.description, httpStatus: o.httpStatus ?? null, retryAt: o.retryAt.toISOString() };
    case 'misconfigured':
      return { outcome: o.outcome, code: o.code, description: o.description, httpStatus: o.httpStatus ?? null, retryAt: o.retryAt.toISOString() };
    case 'needs_reauth':
      return { outcome: o.outcome, reauthReason: o.reason, code: o.code, description: o.description };
    case 'lost_race':
      return { outcome: o.outcome, nextRefreshAt: o.nextRefreshAt?.toISOString() ?? null };
    case 'skipped':
      return { outcome: o.outcome, reason: o.why, nextRefreshAt: o.nextRefreshAt?.toISOString() ?? null };
  }
}

const bad = (reply: FastifyReply, field: string, message: string) => reply.code(400).send({ error: 'invalid_request', field, message });

export async function buildApi(d: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false, bodyLimit: d.bodyLimit ?? 1024 * 1024, return503OnClosing: true,
    // Fastify's own answers to a bad or over-long URL quote the path: answer without it.
    frameworkErrors: (err, _req, reply) => {
      (reply as FastifyReply).code(err.statusCode === 414 ? 414 : 400).send({ error: 'invalid_request', field: 'url', message: 'malformed or over-long URL' });
    },
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || err.statusCode === 413) return reply.code(413).send({ error: 'payload_too_large', message: 'request body is too large' });
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || err.statusCode === 415) return reply.code(415).send({ error: 'unsupported_media_type', message: 'send application/json' });
    if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err instanceof SyntaxError || err.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
      return bad(reply, 'body', 'is not valid JSON');
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return reply.code(err.statusCode).send({ error: 'invalid_request', field: 'body', message: 'malformed request' });
    if (isOutage(err)) {
      // PostgreSQL or Redis is unreachable: nothing was decided, ask the caller to retry shortly.
      d.log.warn({ err, method: req.method, route: req.routeOptions?.url }, 'API request failed: a dependency is unavailable');
      return reply.code(503).header('retry-after', '2').send({ error: 'unavailable', message: 'storage temporarily unavailable; retry shortly' });
    }
    d.log.error({ err, method: req.method, route: req.routeOptions?.url }, 'API handler failed');
    return reply.code(500).send({ error: 'internal_error' });
  });

  const auth = (scope: Scope) => async (req: FastifyRequest, reply: FastifyReply) => {
    const got = d.apiKeys.check(req.headers.authorization);
    if (!got) return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized' });
    if (scope === 'token' && got !== 'token') return reply.code(403).send({ error: 'forbidden' });
  };
  // Never echo the URL (a forged query may carry a code or a state): a fixed answer.
  app.setNotFoundHandler((req, reply) => {
    if (/text\/html/.test(req.headers.accept ?? '')) return reply.code(404).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(notFoundPage());
    return reply.code(404).send({ error: 'not_found', message: 'no such route' });
  });
  if (d.connect) {
    registerConnectSessionRoutes(app, auth, { db: d.db, sessions: d.connect.sessions, providers: d.providers, flow: d.connect.flow });
    registerConnectRoutes(app, d.connect.flow);
  }

  const read = { preHandler: auth('read') };
  const write = { preHandler: auth('token') };

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    const checks = await d.readiness();
    const ok = Object.values(checks).every((c) => c.ok);
    return reply.code(ok ? 200 : 503).send({ ok, checks });
  });

  const loadById = async (req: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply): Promise<Connection | null> => {
    const { id } = req.params;
    if (!isUuid(id)) {
      bad(reply, 'id', 'must be a connection id (uuid)');
      return null;
    }
    const row = await d.db.connection.findUnique({ where: { id } });
    if (!row) {
      reply.code(404).send({ error: 'not_found', message: 'no such connection' });
      return null;
    }
    return row;
  };

  app.post('/v1/connections', write, async (req, reply) => {
    const v = validateCreate(req.body, (k) => d.providers.get(k) !== undefined);
    if (!v.ok) return bad(reply, v.field, v.message);
    const provider = d.providers.get(v.value.provider)!;
    const created = await d.registration.create({ provider, externalId: v.value.externalId, tokens: v.value.tokens, metadata: v.value.metadata });
    if (created.kind === 'conflict') return reply.code(409).send({ error: 'conflict', message: 'a connection with this provider and externalId exists; PUT /v1/connections/:id/tokens replaces its tokens', id: created.id });
    const row = created.row;
    await d.scheduler.ensure(row.id, row.provider, row.nextRefreshAt);
    // Linked token sets (e.g. Slack's user token) are kept fresh as their own connections.
    const linked: { id: string; externalId: string }[] = [];
    for (const l of provider.hooks?.linkedTokenSets?.(v.value.tokens.raw) ?? []) {
      const t = validateTokens(l.tokens, `tokens${l.suffix}`);
      if (!t.ok) continue;
      const c = await d.registration.create({ provider, externalId: `${row.externalId}${l.suffix}`, tokens: t.value, metadata: {}, parentId: row.id });
      if (c.kind === 'created') {
        linked.push({ id: c.row.id, externalId: c.row.externalId });
        await d.scheduler.ensure(c.row.id, c.row.provider, c.row.nextRefreshAt);
      }
    }
    return reply.code(201).send({
      id: row.id, status: row.status, expiresAt: row.expiresAt?.toISOString() ?? null, nextRefreshAt: row.nextRefreshAt?.toISOString() ?? null,
      ...(linked.length ? { linked } : {}),
    });
  });

  app.get<{ Querystring: Record<string, string | undefined> }>('/v1/connections', read, async (req, reply) => {
    const q = req.query;
    // A repeated parameter arrives as an array: one value per parameter.
    for (const [k, v] of Object.entries(q)) if (v !== undefined && typeof v !== 'string') return bad(reply, k.slice(0, 64), 'must be given once');
    if (q.externalId !== undefined && (q.externalId.length > 255 || /\u0000/.test(q.externalId))) return bad(reply, 'externalId', 'must be at most 255 characters, without NUL');
    if (q.status !== undefined && q.status !== 'active' && q.status !== 'needs_reauth') return bad(reply, 'status', 'must be active or needs_reauth');
    if (q.provider !== undefined && !d.providers.get(q.provider)) return bad(reply, 'provider', 'unknown provider');
    const limit = q.limit === undefined ? 100 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return bad(reply, 'limit', 'must be a whole number from 1 to 1000');
    if (q.after !== undefined && !isUuid(q.after)) return bad(reply, 'after', 'must be a connection id');
    const rows = await d.db.connection.findMany({
      where: {
        ...(q.status ? { status: q.status as 'active' | 'needs_reauth' } : {}),
        ...(q.provider ? { provider: q.provider } : {}),
        ...(q.externalId ? { externalId: q.externalId } : {}),
        ...(q.after ? { id: { gt: q.after } } : {}),
      },
      orderBy: { id: 'asc' },
      take: limit,
    });
    return { connections: rows.map(connectionView), next: rows.length === limit ? rows[rows.length - 1].id : null };
  });

  app.get<{ Params: { id: string } }>('/v1/connections/:id', read, async (req, reply) => {
    const row = await loadById(req, reply);
    if (!row) return reply;
    return connectionView(row);
  });

  app.get<{ Params: { id: string }; Querystring: { min_valid_seconds?: string } }>('/v1/connections/:id/token', write, async (req, reply) => {
    const mv = parseMinValidSeconds(req.query.min_valid_seconds);
    if (!mv.ok) return bad(reply, mv.field, mv.message);
    if (!isUuid(req.params.id)) return bad(reply, 'id', 'must be a connection id (uuid)');
    const r = await d.onDemand.token(req.params.id, mv.value * 1000);
    switch (r.kind) {
      case 'not_found':
        return reply.code(404).send({ error: 'not_found', message: 'no such connection' });
      case 'needs_reauth':
        return reply.code(409).send({ status: 'needs_reauth', reauthReason: r.reauthReason });
      case 'unavailable': {
        // When the connection is backing off after failures, say when its next try is.
        const next = 'retryAt' in r.outcome ? r.outcome.retryAt : 'nextRefreshAt' in r.outcome ? r.outcome.nextRefreshAt : null;
        const wait = next ? Math.ceil((next.getTime() - Date.now()) / 1000) : 0;
        return reply.code(503).header('retry-after', String(Math.min(600, Math.max(1, wait || 5)))).send({ error: 'refresh_failed', ...outcomeView(r.outcome) });
      }
      case 'token':
        reply.header('cache-control', 'no-store');
        return { access_token: r.accessToken, expires_at: r.expiresAt?.toISOString() ?? null, token_type: r.tokenType, refreshed: r.refreshed };
    }
  });

  app.post<{ Params: { id: string } }>('/v1/connections/:id/refresh', write, async (req, reply) => {
    const row = await loadById(req, reply);
    if (!row) return reply;
    if (row.status !== 'active') return reply.code(409).send({ status: row.status, reauthReason: row.reauthReason });
    const out = await d.onDemand.refresh(row.id, 'forced');
    const after = await d.db.connection.findUnique({ where: { id: row.id } });
    if (after?.status === 'active') await d.scheduler.ensure(after.id, after.provider, after.nextRefreshAt);
    return outcomeView(out);
  });

  app.put<{ Params: { id: string } }>('/v1/connections/:id/tokens', write, async (req, reply) => {
    const row = await loadById(req, reply);
    if (!row) return reply;
    const body = req.body as Record<string, unknown> | undefined;
    // Accept either the token body itself or { tokens, metadata }.
    const tokensBody = body && typeof body === 'object' && 'tokens' in body ? body.tokens : body;
    const t = validateTokens(tokensBody, body && typeof body === 'object' && 'tokens' in body ? 'tokens' : 'body');
    if (!t.ok) return bad(reply, t.field, t.message);
    const md = validateMetadata(body && typeof body === 'object' && 'tokens' in body ? body.metadata : undefined);
    if (!md.ok) return bad(reply, md.field, md.message);
    const provider = d.providers.get(row.provider);
    if (!provider) return reply.code(409).send({ error: 'provider_unknown', message: 'the connection\'s provider is no longer defined' });
    const updated = await d.registration.replaceTokens({ id: row.id, provider, tokens: t.value, metadata: md.value });
    if (!updated) return reply.code(404).send({ error: 'not_found', message: 'no such connection' });
    await d.scheduler.ensure(updated.id, updated.provider, updated.nextRefreshAt);
    return connectionView(updated);
  });

  app.delete<{ Params: { id: string }; Querystring: { revoke?: string } }>('/v1/connections/:id', write, async (req, reply) => {
    if (!isUuid(req.params.id)) return bad(reply, 'id', 'must be a connection id (uuid)');
    const revoke = req.query.revoke;
    if (revoke !== undefined && revoke !== 'true' && revoke !== 'false') return bad(reply, 'revoke', 'must be true or false');
    let revocation: RevocationResult | undefined;
    if (revoke === 'true') {
      // At the provider first (RFC 7009), then here; the answer says whether the provider revoked.
      const row = await loadById(req, reply);
      if (!row) return reply;
      revocation = d.revoke ? await d.revoke(row) : { revoked: false, reason: 'not_supported', detail: 'revocation is not available' };
    }
    const removed = await d.registration.remove(req.params.id);
    if (!removed) return reply.code(404).send({ error: 'not_found', message: 'no such connection' });
    // The job (if any) finds no row and completes; removing it now keeps Redis tidy.
    await d.scheduler.remove(removed.id, removed.provider);
    if (revocation) return reply.code(200).send({ id: removed.id, deleted: true, ...revocation });
    return reply.code(204).send();
  });

  await d.extend?.(app, auth);
  return app;
}
