// GET /healthz (the process answers) and GET /readyz (its dependencies answer). No key needed.
import type { FastifyInstance } from 'fastify';
import { routeSchemas as S } from '../schemas.ts';

export type Readiness = () => Promise<Record<string, { ok: boolean; detail?: string }>>;

export function healthRoutes(app: FastifyInstance, d: { readiness: Readiness }): void {
  app.get('/healthz', { schema: S.healthz }, async () => ({ ok: true }));
  app.get('/readyz', { schema: S.readyz }, async (_req, reply) => {
    const checks = await d.readiness();
    const ok = Object.values(checks).every((c) => c.ok);
    return reply.code(ok ? 200 : 503).send({ ok, checks });
  });
}
