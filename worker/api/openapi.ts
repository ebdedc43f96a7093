// The OpenAPI 3.1 document, built by @fastify/swagger from the schemas the routes declare
// (schemas.ts) and served at GET /openapi.json without a key. docs/openapi.json is the committed
// copy (`npm run openapi`); test/openapi/ fails when the two differ.
import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { addApiSchemas } from './schemas.ts';

/**
 * Routes that are not part of the JSON API, by prefix: browser pages, Prometheus text and the
 * document itself. Every other route must be documented (the contract test checks both ways).
 */
const UNDOCUMENTED_PREFIXES = ['/openapi.json', '/metrics', '/connect/', '/oauth/', '/console', '/admin/'];

export const isUndocumented = (url: string): boolean =>
  UNDOCUMENTED_PREFIXES.some((p) => url === p || url.startsWith(p));

const registered = new WeakMap<FastifyInstance, { method: string; url: string }[]>();

/** Every route the app registered (HEAD aside), for the contract test's "all documented" check. */
export const registeredRoutes = (app: FastifyInstance) => registered.get(app) ?? [];

export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  const seen: { method: string; url: string }[] = [];
  registered.set(app, seen);
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) if (method !== 'HEAD') seen.push({ method, url: r.url });
  });
  // Requests are validated against these schemas (server.ts). Answers are serialized as before
  // (JSON.stringify), so a response schema never strips a field: the contract test catches a view
  // the schema lacks.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  addApiSchemas(app);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'oauth-refresher',
        version,
        description: 'Keeps OAuth 2.0 connections alive. Errors are { error, field, message }; a 400 names the field.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    // Components named by their $id (Connection, Token, Error...), not def-0, def-1.
    refResolver: {
      buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
    transform: ({ schema, url }) => ({
      schema: isUndocumented(url) ? { ...(schema ?? {}), hide: true } : schema,
      url,
    }),
  });
  app.get('/openapi.json', { schema: { hide: true } }, async (_req, reply) =>
    reply.header('cache-control', 'no-cache').send(app.swagger()),
  );
}
