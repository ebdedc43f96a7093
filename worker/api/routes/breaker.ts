// GET /v1/providers[/:key] (read scope): every provider definition, secret-free, with its
// credential breaker and limiter state and its outage hold. Registered by the provider gate extension
// (gate/breaker.ts), which owns that state.
import type { FastifyInstance } from 'fastify';
import type { AuthHook } from '../../interfaces.ts';
import { routeSchemas as S } from '../schemas.ts';
import type { ProviderGateView } from '../../providers/breaker-policy.ts';
import type { OutageView } from '../../providers/outage-policy.ts';
import type { ProviderRegistry, ResolvedProvider } from '../../providers/registry.ts';

export interface BreakerRoutesDeps {
  providers: Pick<ProviderRegistry, 'all' | 'get'>;
  gate: {
    views(keys: string[]): Promise<Record<string, ProviderGateView>>;
    outageViews(keys: string[]): Promise<Record<string, OutageView>>;
  };
}

export function registerBreakerRoutes(
  app: FastifyInstance,
  auth: AuthHook,
  { providers, gate }: BreakerRoutesDeps,
): void {
  const read = { preHandler: auth('read') };
  app.get('/v1/providers', { ...read, schema: S.listProviders }, async () => {
    const all = providers.all();
    const keys = all.map((p) => p.key);
    const [views, holds] = await Promise.all([gate.views(keys), gate.outageViews(keys)]);
    return { providers: all.map((p) => ({ ...providerView(p), breaker: views[p.key], outage: holds[p.key] })) };
  });
  app.get<{ Params: { key: string } }>(
    '/v1/providers/:key',
    { ...read, schema: S.showProvider },
    async (req, reply) => {
      const p = providers.get(req.params.key);
      if (!p) return reply.code(404).send({ error: 'not_found', message: 'no such provider' });
      const [views, holds] = await Promise.all([gate.views([p.key]), gate.outageViews([p.key])]);
      return { ...providerView(p), breaker: views[p.key], outage: holds[p.key] };
    },
  );
}

/** The public, secret-free description of a provider definition. */
function providerView(p: ResolvedProvider) {
  // Never show userinfo or a query string (either could carry a credential someone put there).
  const tokenUrl = p.tokenUrl.split('?')[0].replace(/^([a-z]+:\/\/)[^/@]*@/i, '$1');
  return {
    key: p.key,
    displayName: p.displayName,
    configured: p.configured,
    tokenUrl,
    clientAuth: p.clientAuth,
    paramsIn: p.paramsIn,
    responseFormat: p.responseFormat,
    extraParamNames: Object.keys(p.extraParams),
    headerNames: Object.keys(p.headers),
    expiry: {
      source: p.expiry.source,
      field: p.expiry.field ?? null,
      defaultLifetimeSec: p.expiry.defaultLifetimeSec ?? null,
      cron: p.expiry.cron ?? null,
    },
    rotation: p.rotation,
    oldTokenGrace: p.oldTokenGrace,
    refreshLeadSec: p.refreshLeadSec,
    idleLifetimeSec: p.idleLifetimeSec ?? null,
    concurrency: p.concurrency,
    ratePerSecond: p.ratePerSecond,
    metadataFields: p.metadataFields,
    notes: p.notes ?? null,
  };
}
